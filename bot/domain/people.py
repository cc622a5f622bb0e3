"""How people are named in replies and minutes, from their stored profile."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from bot.storage.db import batch_cached
from bot.storage.models import Profile


def load_profile(session: Session, user_id: str) -> Profile | None:
    """A person's profile; a missing one is remembered for a batched run too (a
    ``session.get`` of a missing row queries every time)."""
    return batch_cached(session, ("profile", user_id), lambda: session.get(Profile, user_id))


def update_profile(session: Session, user_id: str, now: datetime, **fields: str) -> Profile:
    """Set some of a person's profile fields (``role``, ``structure``, ``full_name``),
    creating the profile on first use."""
    profile = load_profile(session, user_id)
    if profile is None:
        profile = Profile(user_id=user_id, updated_at=now)
        session.add(profile)
    for name, value in fields.items():
        setattr(profile, name, value)
    profile.updated_at = now
    session.flush()
    return profile


def person_details(profile: Profile | None) -> str:
    """``Cheffe de projet cité éducative ; CE Beauvais`` (either part may be missing)."""
    if profile is None:
        return ""
    return " ; ".join(part for part in (profile.role, profile.structure) if part)


def person_name(profile: Profile | None, display_name: str) -> str:
    """The name as it appears in minutes: the profile's, else the display name."""
    return profile.full_name if profile and profile.full_name else display_name


def person_line(profile: Profile | None, display_name: str) -> str:
    """``Mme De Castro Anabela (Cheffe de projet cité éducative ; CE Beauvais)``."""
    details = person_details(profile)
    name = person_name(profile, display_name)
    return f"{name} ({details})" if details else name
