"""Outbox queries (blocking; run in the runtime's worker thread)."""

from __future__ import annotations

from typing import Callable

from sqlmodel import Session, col, select

from bot.storage.db import Database
from bot.storage.models import DirectRoom, Outbox, utcnow

MAX_ATTEMPTS = 5

# hook(session, tag_value, event_id): an outbox row tagged "<prefix>:<tag_value>" was sent;
# the application's wiring lists them by prefix (``bot.app.wiring.SENT_HOOKS``).
SentHook = Callable[[Session, str, str], None]


def pending(db: Database, limit: int = 20) -> list[Outbox]:
    """Unsent rows, oldest first, skipping those that failed too often."""
    with db.session() as session:
        query = (select(Outbox).where(col(Outbox.sent_at).is_(None), Outbox.attempts < MAX_ATTEMPTS)
                 .order_by(col(Outbox.id)).limit(limit))
        return list(session.exec(query))


def mark_sent(db: Database, row_id: int, event_id: str | None,
              hooks: dict[str, SentHook]) -> None:
    """Record the event id (None: already there, e.g. a duplicate ✅); a tagged row tells
    its hook in ``hooks`` (e.g. announcement → rencontre)."""
    with db.session() as session:
        row = session.get(Outbox, row_id)
        row.sent_at, row.sent_event_id = utcnow(), event_id
        prefix, _, value = row.tag.partition(":")
        hook = hooks.get(prefix)
        if hook is not None and event_id is not None:
            hook(session, value, event_id)


def mark_failed(db: Database, row_id: int, error: str) -> int:
    """Record a refused send; returns the attempts so far."""
    with db.session() as session:
        row = session.get(Outbox, row_id)
        row.attempts += 1
        row.last_error = error[:500]
        return row.attempts


def direct_room(db: Database, user_id: str) -> str | None:
    with db.session() as session:
        found = session.get(DirectRoom, user_id)
        return found.room_id if found else None


def remember_direct_room(db: Database, user_id: str, room_id: str) -> None:
    with db.session() as session:
        session.merge(DirectRoom(user_id=user_id, room_id=room_id))
