"""The README's recipe "Adding a command: `!ping`", run as written: its file, dropped in
``commands/``, is found by the wiring the runtime uses and answered through the core,
with no other edit; its test passes. (The product has no ``!ping``: the file lives in a
temporary folder the ``commands`` package searches, for the duration of a test.)"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlmodel import select

from bot.app.wiring import build_core, build_registry
from bot.engine.events import Message
from bot.storage.models import Outbox
from tests.conftest import MEMBER, NOW, ROOM
from tests.test_wiring import extra_module

README = Path(__file__).resolve().parent.parent / "README.md"
BOT = "@maillage:localhost"


def recipe_block(name: str) -> str:
    """The Python block the README's recipe gives right after naming ``name``."""
    section = README.read_text(encoding="utf-8").split("### Adding a command: `!ping`", 1)[1]
    match = re.search(rf"`{re.escape(name)}`:\n+```python\n(.*?)```", section, re.DOTALL)
    assert match, f"the README's recipe has no block for {name}"
    return match.group(1)


@pytest.fixture
def ping_file(request, monkeypatch, tmp_path):
    extra_module(request, monkeypatch, tmp_path, "ping", recipe_block("commands/ping.py"))


@pytest.fixture
def registry(ping_file):
    """Built once the recipe's file is there (overrides the conftest's, which
    ``make_ctx`` uses), by the same wiring function."""
    return build_registry()


def outbox_bodies(db) -> list[str]:
    with db.session() as session:
        return [row.content["body"] for row in session.exec(select(Outbox).order_by(Outbox.id))]


def test_without_the_file_ping_is_unknown(config, db, room):
    core = build_core(config, db, BOT, clock=lambda: NOW)
    core.handle(Message("$ping", ROOM, MEMBER, "!ping", NOW), room)
    assert outbox_bodies(db)[0].startswith("Commande inconnue")


def test_the_file_alone_makes_ping_answer_through_the_core(ping_file, config, db, room):
    core = build_core(config, db, BOT, clock=lambda: NOW)   # as the runtime builds it
    core.handle(Message("$ping", ROOM, MEMBER, "!ping", NOW), room)
    core.handle(Message("$aide", ROOM, MEMBER, "!aide", NOW), room)
    core.handle(Message("$extra", ROOM, MEMBER, "!ping encore", NOW), room)
    pong, help_text, refused = outbox_bodies(db)
    assert pong == "pong 🏓"
    assert "!ping" in help_text and "vérifier que le bot répond" in help_text
    assert "ne prend pas d'argument" in refused


def test_the_recipe_s_test_passes(make_ctx):
    namespace: dict = {}
    exec(compile(recipe_block("tests/test_ping.py"), "tests/test_ping.py", "exec"), namespace)
    tests = [value for name, value in namespace.items() if name.startswith("test_")]
    assert tests
    for test in tests:
        test(make_ctx)
