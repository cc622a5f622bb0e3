"""How people are named in replies and minutes, from their stored profile."""

from __future__ import annotations

from sqlmodel import Session

from bot.storage.db import batch_cached
from bot.storage.models import Profile


def load_profile(session: Session, user_id: str) -> Profile | None:
    """A person's profile; a missing one is remembered for a batched run too (a
    ``session.get`` of a missing row queries every time)."""
    return batch_cached(session, ("profile", user_id), lambda: session.get(Profile, user_id))


def person_details(profile: Profile | None) -> str:
    """``Cheffe de projet cité éducative ; CE Beauvais`` (either part may be missing)."""
    if profile is None:
        return ""
    return " ; ".join(part for part in (profile.fonction, profile.structure) if part)


def person_name(profile: Profile | None, display_name: str) -> str:
    """The name as it appears in minutes: the profile's, else the display name."""
    return profile.full_name if profile and profile.full_name else display_name


def person_line(profile: Profile | None, display_name: str) -> str:
    """``Mme De Castro Anabela (Cheffe de projet cité éducative ; CE Beauvais)``."""
    details = person_details(profile)
    name = person_name(profile, display_name)
    return f"{name} ({details})" if details else name
