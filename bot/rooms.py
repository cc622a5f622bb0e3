"""Room bookkeeping for the runtime (blocking; run in the worker thread)."""

from __future__ import annotations

from datetime import datetime

from bot.context import Outgoing, notice_content
from bot.core import store_outgoing
from bot.db import Database
from bot.models import Room

WELCOME = ("Bonjour ! Je suis **Maillage**, l'assistant du réseau : rencontres, séances et "
           "comptes rendus. Tapez `{prefix}aide` pour voir les commandes, et `{prefix}profil` "
           "pour indiquer votre fonction et votre structure.")
ENCRYPTED_NOTICE = ("⚠️ Ce salon est chiffré : je ne peux pas lire les messages chiffrés, donc je ne "
                    "peux ni répondre aux commandes ni préparer de compte rendu ici. Utilisez un salon "
                    "non chiffré pour le réseau.")


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


def warn_encrypted_once(db: Database, room_id: str, now: datetime) -> bool:
    """Queue the 'encrypted room' notice the first time only; True if queued."""
    with db.session() as session:
        room = session.get(Room, room_id)
        if room is None:
            room = Room(room_id=room_id, joined_at=now)
            session.add(room)
        if room.encrypted_notice_sent:
            return False
        room.encrypted_notice_sent = True
        notice = Outgoing(room_id, "m.room.message", notice_content(ENCRYPTED_NOTICE))
        store_outgoing(session, [notice], f"encrypted:{room_id}", now)
        return True
