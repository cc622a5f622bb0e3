"""Shared fixtures: a real temporary database, a config, and a recording Context."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlmodel import select

from bot.app.wiring import build_registry
from bot.engine.context import Context
from bot.engine.events import Message
from bot.engine.roomstate import RoomState
from bot.storage.db import Database
from bot.storage.models import Outbox
from bot.support.config import parse_config

pytest_plugins = ["tests.conftest_servers"]

ROOM = "!salon:localhost"
FACILITATOR = "@maita:localhost"
MEMBER = "@anabela:localhost"
NOW = datetime(2026, 11, 21, 9, 0, tzinfo=timezone.utc)


def handle_message(core, db: Database, room: RoomState, event_id: str, sender: str, text: str,
                   at: datetime = NOW) -> list[Outbox]:
    """A message through the real core; the outbox rows it queued, in order."""
    core.handle(Message(event_id, ROOM, sender, text, at), room)
    with db.session() as session:
        return list(session.exec(select(Outbox).where(Outbox.source_event_id == event_id)
                                 .order_by(Outbox.id)))


def make_config(tmp_path: Path, **tables):
    raw = {"matrix": {"homeserver": "http://127.0.0.1:1", "user_id": "@maillage:localhost",
                      "password": "secret-for-tests", "store_path": str(tmp_path / "store")},
           "database": {"url": f"sqlite:///{tmp_path / 'maillage.db'}"},
           "bot": {"allowed_inviters": ["@*:localhost"]}}
    for name, values in tables.items():
        raw.setdefault(name, {}).update(values)
    return parse_config(raw, env={})


@pytest.fixture
def config(tmp_path):
    return make_config(tmp_path)


@pytest.fixture
def db(config):
    database = Database(config.database.url)
    database.upgrade()
    yield database
    database.dispose()


@pytest.fixture
def room():
    state = RoomState(ROOM, room_version="11", power_users={FACILITATOR: 100}, users_default=0)
    state.joined |= {FACILITATOR, MEMBER}
    state.display_names.update({FACILITATOR: "Maïta Giraldi", MEMBER: "Anabela De Castro"})
    return state


@pytest.fixture
def database(config):
    """A real temporary database holding the séances of the reference minutes n°3 (6 April
    2022) and n°4 (11 May 2022)."""
    from tests.test_minutes_build import cr4_database

    database = Database(config.database.url)
    database.upgrade()
    with database.session() as session:
        cr4_database(session)
    yield database
    database.dispose()


@pytest.fixture
def registry():
    """The commands as the runtime has them (``bot.app.wiring``), fresh for each test: a
    test may add a listener or a receiver to it."""
    return build_registry()


@pytest.fixture
def make_ctx(config, db, room, registry):
    """A recording Context over the real temporary database; commit with ``ctx.session``.
    A Context is frozen: give what differs (``now=``, ``config=``…) as keywords."""
    sessions = []

    def factory(sender: str = MEMBER, event_id: str = "$e1", facilitator: bool | None = None,
                **fields):
        session = db.session().__enter__()
        sessions.append(session)
        is_fac = room.power_level(sender) >= 50 if facilitator is None else facilitator
        defaults = dict(config=config, session=session, room=room, sender=sender, event_id=event_id,
                        now=NOW, registry=registry, bot_user_id="@maillage:localhost",
                        is_facilitator=is_fac)
        return Context(**(defaults | fields))

    yield factory
    for session in sessions:
        session.close()
