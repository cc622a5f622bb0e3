"""Encrypted events the bot cannot read yet (blocking; run in the runtime's worker thread).

A message whose room key has not arrived is parked here in the same sync batch that
brought it, so the sync token can move on without losing it. The runtime tries the
parked events again after every batch that brought keys; one that decrypts is handled
like any event (exactly once: the core skips processed ids) and leaves this table. What
stays here is counted in the séance summary and the minutes as unreadable.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from sqlmodel import Session, col, delete, func, select

from bot.storage.db import Database
from bot.storage.models import Seance, SeanceStatus, UndecryptableEvent

# Keys can come late (a sender's device offline for a while), not months later: past
# this age a parked event is no longer retried, only counted.
RETRY_WINDOW = timedelta(days=7)


def _sent_at(event: dict[str, Any], fallback: datetime) -> datetime:
    stamp = event.get("origin_server_ts")
    if isinstance(stamp, int) and stamp > 0:
        return datetime.fromtimestamp(stamp / 1000, timezone.utc)
    return fallback


def park(db: Database, room_id: str, event: dict[str, Any], now: datetime) -> bool:
    """Keep an undecryptable event; False if it was already parked (a replayed batch)."""
    with db.session() as session:
        if session.get(UndecryptableEvent, event["event_id"]) is not None:
            return False
        session.add(UndecryptableEvent(event_id=event["event_id"], room_id=room_id,
                                       sender=str(event.get("sender", "")),
                                       sent_at=_sent_at(event, now), first_seen_at=now, event=event))
        return True


def waiting(db: Database, now: datetime) -> list[tuple[str, dict[str, Any]]]:
    """(room id, raw event) of the parked events still worth retrying, oldest first."""
    with db.session() as session:
        query = (select(UndecryptableEvent)
                 .where(col(UndecryptableEvent.first_seen_at) >= now - RETRY_WINDOW)
                 .order_by(col(UndecryptableEvent.sent_at)))
        return [(row.room_id, row.event) for row in session.exec(query)]


# A command or message decrypted later than this is not acted on any more.
TIMELY_LIMIT = timedelta(hours=1)


def _seance_at(session: Session, room_id: str, moment: datetime) -> int | None:
    """The séance open in the room at ``moment`` (None: none was)."""
    query = (select(Seance.id).where(Seance.room_id == room_id, col(Seance.opened_at) <= moment)
             .where((col(Seance.closed_at).is_(None)) | (col(Seance.closed_at) >= moment)))
    return session.exec(query.order_by(col(Seance.opened_at).desc())).first()


def still_timely(db: Database, room_id: str, event: dict[str, Any], now: datetime) -> bool:
    """Whether handling this late-decrypted event now files it where it belonged when it
    was sent: recent enough, and the room's open séance is the same as then."""
    sent = _sent_at(event, now)
    if now - sent > TIMELY_LIMIT:
        return False
    with db.session() as session:
        open_now = session.exec(select(Seance.id).where(Seance.room_id == room_id,
                                                        Seance.status == SeanceStatus.OPEN)).first()
        return _seance_at(session, room_id, sent) == open_now


def forget(db: Database, event_ids: list[str]) -> None:
    """Drop events that were decrypted (and handled)."""
    if not event_ids:
        return
    with db.session() as session:
        session.exec(delete(UndecryptableEvent).where(col(UndecryptableEvent.event_id).in_(event_ids)))


def count_between(session: Session, room_id: str, start: datetime, end: datetime | None) -> int:
    """How many messages of the room sent in [start, end] the bot could not read."""
    query = select(func.count()).select_from(UndecryptableEvent).where(
        UndecryptableEvent.room_id == room_id, col(UndecryptableEvent.sent_at) >= start)
    if end is not None:
        query = query.where(col(UndecryptableEvent.sent_at) <= end)
    return session.exec(query).one()


def unreadable_note(count: int) -> str:
    """What the minutes and the séance summary say of messages that stayed encrypted."""
    if count == 0:
        return ""
    messages = "1 message chiffré n'a" if count == 1 else f"{count} messages chiffrés n'ont"
    return (f"⚠️ {messages} pas pu être déchiffré{'s' if count > 1 else ''} par Maillage (la clé "
            f"de l'expéditeur n'est jamais arrivée) : {'il manque' if count == 1 else 'ils manquent'} "
            "à ce compte rendu.")
