"""Room bookkeeping for the runtime (blocking; run in the worker thread)."""

from __future__ import annotations

from datetime import datetime

from bot.engine.context import Outgoing, notice_content
from bot.engine.core import store_outgoing
from bot.storage.db import Database
from bot.storage.models import Room

WELCOME = ("Bonjour ! Je suis **Maillage**, l'assistant du réseau : rencontres, séances et "
           "comptes rendus. Tapez `{prefix}aide` pour voir les commandes, et `{prefix}profil` "
           "pour indiquer votre fonction et votre structure.")


def is_known(db: Database, room_id: str) -> bool:
    with db.session() as session:
        return session.get(Room, room_id) is not None


def register(db: Database, room_id: str, joined_at: datetime, prefix: str | None) -> bool:
    """Record a newly joined room (with a welcome when ``prefix`` is given); False if known."""
    with db.session() as session:
        if session.get(Room, room_id) is not None:
            return False
        session.add(Room(room_id=room_id, joined_at=joined_at))
        if prefix is not None:
            welcome = Outgoing(room_id, "m.room.message", notice_content(WELCOME.format(prefix=prefix)))
            store_outgoing(session, [welcome], f"welcome:{room_id}", joined_at)
        return True
