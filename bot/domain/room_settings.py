"""A room's own settings: time zone, network name, action reminders (``!salon``).

Config values (``bot.timezone``, ``bot.network_name``) are the defaults for rooms
that set nothing. Blocking functions over a Session, called in a command's
transaction or through ``host.in_worker``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, select

from bot.domain import rencontres
from bot.domain.dates import When
from bot.storage.models import Rencontre, RencontreStatus, Room
from bot.support.config import Config

DEFAULT_ACTION_DAYS = 2      # the owner is reminded 2 days before the due date…
ACTION_REMINDER_HOUR = 9     # …at 9h room time, and on the day at 9h (by default)
MAX_ACTION_DAYS = 30
MAX_NETWORK_NAME = 120


def room_row(session: Session, room_id: str, now: datetime) -> Room:
    """The room's row, created when the bot has none yet (rooms joined before it stored them)."""
    room = session.get(Room, room_id)
    if room is None:
        room = Room(room_id=room_id, joined_at=now)
        session.add(room)
    return room


def stored_room(session: Session, room_id: str) -> Room | None:
    """The room's own settings, None when the bot stored none (every setting is then the
    configured default)."""
    return session.get(Room, room_id)


def set_reminder_offsets(session: Session, room_id: str, minutes: list[int] | None,
                         now: datetime) -> None:
    """The room's reminders before each rencontre, in minutes (None: the configured ones)."""
    room_row(session, room_id, now).reminder_offsets = minutes
    session.flush()


def set_network_name(session: Session, room_id: str, name: str | None, now: datetime) -> None:
    """The room's network name (None: the configured one)."""
    room_row(session, room_id, now).network_name = name
    session.flush()


def set_action_reminders(session: Session, room_id: str, now: datetime,
                         **changes: int | None) -> None:
    """Change the action reminders' ``days`` before the due date and/or ``minute`` of the
    day (None: the default); what is not given keeps its setting."""
    room = room_row(session, room_id, now)
    if "days" in changes:
        room.action_reminder_days = changes["days"]
    if "minute" in changes:
        room.action_reminder_minute = changes["minute"]
    session.flush()


def network_name(session: Session, config: Config, room_id: str) -> str:
    """The network the room belongs to: its own name, else the configured one."""
    room = session.get(Room, room_id)
    return room.network_name if room is not None and room.network_name else config.bot.network_name


def room_zone(session: Session, config: Config, room_id: str) -> str:
    room = session.get(Room, room_id)
    return room.timezone if room is not None and room.timezone else config.bot.timezone


def action_reminder_days(session: Session, room_id: str) -> int:
    """Days before an action's due date its owner is reminded; 0 = no reminder before."""
    room = session.get(Room, room_id)
    if room is None or room.action_reminder_days is None:
        return DEFAULT_ACTION_DAYS
    return room.action_reminder_days


def action_reminder_minute(session: Session, room_id: str) -> int:
    """When, in room time (minutes after midnight), action reminders are sent."""
    room = session.get(Room, room_id)
    if room is None or room.action_reminder_minute is None:
        return ACTION_REMINDER_HOUR * 60
    return room.action_reminder_minute


def clock_text(minute: int) -> str:
    """540 → "9h", 570 → "9h30"."""
    hours, minutes = divmod(minute, 60)
    return f"{hours}h{minutes:02d}" if minutes else f"{hours}h"


@dataclass(frozen=True)
class Rezoned:
    """A planned rencontre whose zone followed the room's: its next date, before and after
    (same instant; a series then repeats at the new zone's wall time, so a later date of a
    series may move by the hour where the two zones' summer times differ)."""

    rencontre: Rencontre
    before: When
    after: When


def set_zone(session: Session, room_id: str, zone: str, now: datetime) -> list[Rezoned]:
    """Set the room's zone; the rencontres still to come follow it, keeping their instants
    (a 14h Paris rencontre becomes 10h in Cayenne: the meeting itself does not move).
    The change is a calendar update (SEQUENCE+1): the TZID of its ``.ics`` changes."""
    room_row(session, room_id, now).timezone = zone
    moved = []
    query = select(Rencontre).where(Rencontre.room_id == room_id,
                                    Rencontre.status == RencontreStatus.PLANNED)
    for rencontre in session.exec(query):
        if rencontre.timezone == zone:
            continue
        nexts = rencontres.next_occurrences(rencontre, rencontres.cancelled_starts(session, rencontre), now, 1)
        if not nexts:
            continue
        rencontre.timezone = zone
        rencontre.sequence += 1
        rencontre.updated_at = now
        session.add(rencontre)
        after = rencontres.next_occurrences(rencontre, rencontres.cancelled_starts(session, rencontre), now, 1)
        moved.append(Rezoned(rencontre, nexts[0], after[0] if after else nexts[0]))
    session.flush()
    return moved
