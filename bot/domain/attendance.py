"""Attendance of a séance: who took part, who was excused, who facilitated.

Someone is present once they spoke, posted or (registered) reacted during the séance
(:func:`mark_present`, called by the capture); ``!presence`` corrects it
(:func:`correct_presence`) and a correction is never overridden. :func:`attendance`
reads the three lists the minutes, the séance summary and ``!bilan`` show.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from bot.engine.roomstate import RoomState, is_facilitator
from bot.storage.db import batch_cached
from bot.storage.models import Attendance, Registration, RsvpStatus, Seance
from bot.support.config import Config


def mark_present(session: Session, seance: Seance, user_id: str, now: datetime) -> None:
    """Someone took part; a facilitator's correction (``!presence``) is never overridden."""
    key = ("attendance", seance.id, user_id)
    if batch_cached(session, key, lambda: session.get(Attendance, (seance.id, user_id))) is None:
        row = Attendance(seance_id=seance.id, user_id=user_id, first_seen_at=now)
        session.add(row)
        session.flush()   # empties a batched run's cache (Attendance written): read again


def correct_presence(session: Session, seance: Seance, user_id: str, present: bool,
                     now: datetime) -> None:
    row = session.get(Attendance, (seance.id, user_id))
    if row is None:
        row = Attendance(seance_id=seance.id, user_id=user_id, first_seen_at=now)
        session.add(row)
    row.present, row.corrected = present, True
    session.flush()


def attendance(session: Session, seance: Seance, config: Config | None = None,
               room_state: RoomState | None = None) -> tuple[list[str], list[str], list[str]]:
    """(present, excused, facilitators) user ids; facilitators are *not* in ``present``.

    Present: took part (spoke, posted, or — registered — reacted), corrections winning;
    in order of arrival. Excused: the rencontre's excused registrations, unless present.
    Facilitators: present people who opened the séance, are listed in ``config`` or
    have the facilitator power level in ``room_state`` (when given).
    """
    rows = session.exec(select(Attendance).where(Attendance.seance_id == seance.id)
                        .order_by(col(Attendance.first_seen_at), col(Attendance.user_id)))
    everyone = [row.user_id for row in rows if row.present]
    facilitators = [u for u in everyone if _facilitator(u, seance, config, room_state)]
    present = [u for u in everyone if u not in facilitators]
    return present, _excused(session, seance, set(everyone)), facilitators


def _facilitator(user_id: str, seance: Seance, config: Config | None,
                 room_state: RoomState | None) -> bool:
    return user_id == seance.opened_by or bool(config and is_facilitator(config.bot, room_state, user_id))


def _excused(session: Session, seance: Seance, present: set[str]) -> list[str]:
    if seance.rencontre_id is None:
        return []
    query = (select(Registration.user_id)
             .where(Registration.rencontre_id == seance.rencontre_id,
                    Registration.status == RsvpStatus.EXCUSED)
             .order_by(col(Registration.id)))
    return [user for user in session.exec(query) if user not in present]
