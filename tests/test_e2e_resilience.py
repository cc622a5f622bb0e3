"""End-to-end resilience: rate limits are waited out, and the homeserver going away
and coming back loses no command and repeats no reply — with the bot on SQLite and on
PostgreSQL, the production store. On PostgreSQL also: kill -9 mid-burst, a whole séance
to published minutes, and the database server restarting mid-séance (no captured
message lost, no reply repeated, the bot reconnecting by itself).

Each PostgreSQL test gets its own fresh database on the session's server; the restart
test gets its own server."""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from pathlib import Path
from types import SimpleNamespace

import psycopg
import pytest
from sqlalchemy.engine import make_url
from sqlmodel import col, select

from bot.storage.db import Database
from bot.storage.models import Item, ProcessedEvent, Seance
from tests import test_e2e_foundation as foundation
from tests import test_e2e_minutes as minutes
from tests.botproc import BOT_LOCALPART, BOT_PASSWORD, BotProcess, ask, start_world, write_config
from tests.conftest_servers import skip_or_fail
from tests.matrix_user import MatrixUser, notices_from, replies_to
from tests.pgserver import PostgresServer, find_pg_bin

pytestmark = pytest.mark.e2e
BOT = f"@{BOT_LOCALPART}:localhost"
SQLITE = "sqlite:///maillage.db"


def fresh_database(server_url: str) -> str:
    """A new, empty database on the PostgreSQL server of ``server_url``; its URL."""
    url = make_url(server_url)
    name = f"e2e_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(host=url.host, port=url.port, user=url.username, dbname="postgres",
                         autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return url.set(database=name).render_as_string(hide_password=False)


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request) -> str:
    if request.param == "sqlite":
        return SQLITE
    return fresh_database(request.getfixturevalue("postgres_url"))


async def start_bot_in_room(server, tmp_path, user_localpart: str, database_url: str = SQLITE):
    await server.register_user(BOT_LOCALPART, BOT_PASSWORD, displayname="Maillage")
    user = await MatrixUser.create(server, user_localpart, "Maïta Giraldi")
    bot = BotProcess(write_config(tmp_path / "bot", server.base_url, database_url=database_url))
    bot.start()
    bot.wait_log("logged in as")
    room = await user.create_room(version="11", invite=[BOT])
    await user.wait_for(room, lambda ev: notices_from(ev, BOT), what="welcome")
    return bot, user, room


async def test_rate_limits_are_waited_out(synapse_strict, tmp_path):
    bot, user, room = await start_bot_in_room(synapse_strict, tmp_path, "maita-strict")
    try:
        commands = [await user.say(room, "!aide profil") for _ in range(8)]
        await user.wait_for(room, lambda ev: all(replies_to(ev, BOT, c) for c in commands),
                            timeout=120, what="all replies despite rate limits")
        events = await user.messages(room)
        assert [len(replies_to(events, BOT, c)) for c in commands] == [1] * 8
        assert "429" in bot.log()  # the limit was really hit, and waited out
    finally:
        bot.stop()


async def test_homeserver_going_away_loses_and_repeats_nothing(make_synapse, tmp_path, database_url):
    server = make_synapse()
    bot, user, room = await start_bot_in_room(server, tmp_path, "maita-away", database_url)
    try:
        before = [await user.say(room, "!aide") for _ in range(4)]
        await server.kill()           # gone mid-burst: some replies are not sent yet
        await asyncio.sleep(3)
        await server.start()
        after = [await user.say(room, "!profil") for _ in range(3)]
        commands = before + after
        await user.wait_for(room, lambda ev: all(replies_to(ev, BOT, c) for c in commands),
                            timeout=120, what="every command answered after the outage")
        events = await user.messages(room)
        assert [len(replies_to(events, BOT, c)) for c in commands] == [1] * len(commands)
        assert bot.alive()
    finally:
        bot.stop()


# --- the bot on PostgreSQL ------------------------------------------------------------------------

async def postgres_world(synapse, directory: Path, name: str, database_url: str) -> SimpleNamespace:
    """The bot on ``database_url``; facilitator maita, members anabela and quentin, in a room."""
    bot, room, (maita, anabela, quentin) = await start_world(
        synapse, directory, (f"maita-{name}", "Maïta Giraldi"),
        [(f"anabela-{name}", "Anabela De Castro"), (f"quentin-{name}", "Quentin Poilvé")],
        database_url=database_url)
    return SimpleNamespace(bot=bot, room=room, maita=maita, anabela=anabela, quentin=quentin)


@pytest.fixture
async def pg_world(synapse, tmp_path, request, postgres_url):
    name = f"pg{request.node.name[-8:].replace('_', '')}{uuid.uuid4().hex[:4]}".lower()
    world = await postgres_world(synapse, tmp_path / "bot", name, fresh_database(postgres_url))
    yield world
    if world.bot.alive():
        world.bot.stop()


async def test_kill_9_mid_burst_on_postgresql(pg_world):
    """The same scenario as on SQLite (tests/test_e2e_foundation.py)."""
    w = pg_world
    await foundation.test_kill_9_mid_burst_loses_and_repeats_nothing((w.bot, w.room, w.maita, w.anabela))
    assert "postgresql" in w.bot.config.read_text()


async def test_a_seance_to_published_minutes_on_postgresql(pg_world):
    """The same séance as on SQLite (tests/test_e2e_minutes.py), closed and published twice."""
    w = pg_world
    await minutes.test_seance_close_publish_and_republish(
        (w.bot, w.room, w.maita, w.anabela, w.quentin))


def captured(database_url: str, room_id: str) -> list[str]:
    """The texts captured in ``room_id``. Only that room's: the bot account is shared by
    the session's tests, and a fresh database replays what followed its join elsewhere."""
    db = Database(database_url)
    try:
        with db.session() as session:
            query = (select(Item).join(Seance, col(Seance.id) == col(Item.seance_id))
                     .where(Seance.room_id == room_id).order_by(col(Item.id)))
            return [i.text for i in session.exec(query)]
    finally:
        db.dispose()


@pytest.fixture
def own_postgres():
    """A PostgreSQL server of this test's own, which it may restart."""
    if find_pg_bin() is None:
        skip_or_fail("PostgreSQL binaries not found (initdb/pg_ctl): install the postgresql package")
    server = PostgresServer(Path(tempfile.mkdtemp(prefix="maillage-pg-")))
    server.start()
    yield server
    server.stop()


async def test_postgresql_restart_mid_seance_loses_and_repeats_nothing(synapse, tmp_path, own_postgres):
    pg = own_postgres
    w = await postgres_world(synapse, tmp_path / "bot", f"pgre{uuid.uuid4().hex[:4]}", pg.url)
    try:
        await ask(w.maita, w.room, "!seance ouvrir Séance pendant un redémarrage")
        texts = [f"Avant le redémarrage {n}" for n in range(3)]
        for text in texts:
            await w.anabela.say(w.room, text)
        commands = [await w.anabela.say(w.room, "!aide profil") for _ in range(3)]
        await asyncio.to_thread(pg.stop)            # connections cut mid-séance, server down
        for n in range(3):
            texts.append(f"Pendant la panne {n}")
            await w.quentin.say(w.room, texts[-1])
        commands += [await w.quentin.say(w.room, "!aide") for _ in range(3)]
        await asyncio.sleep(4)
        await asyncio.to_thread(pg.start_again)
        texts.append("Après le redémarrage")
        await w.anabela.say(w.room, texts[-1])
        commands.append(await w.anabela.say(w.room, "!profil"))

        await w.maita.wait_for(w.room, lambda ev: all(replies_to(ev, BOT, c) for c in commands),
                               timeout=120, what="every command answered after the restart")
        summary = await ask(w.maita, w.room, "!seance clore")
        assert "Séance close" in summary and "Non enregistré" not in summary
        events = await w.maita.messages(w.room)
        assert [len(replies_to(events, BOT, c)) for c in commands] == [1] * len(commands)
        assert captured(pg.url, w.room) == texts               # each message once, in order
        assert w.bot.alive() and "sync batch failed" in w.bot.log()  # the outage was seen
    finally:
        if w.bot.alive():
            w.bot.stop()


# --- a backlog handled in batches -------------------------------------------------------------

def handled_count(database_url: str, room_id: str) -> int:
    """How many of ``room_id``'s events the bot has recorded as processed (committed)."""
    db = Database(database_url)
    try:
        with db.session() as session:
            query = select(ProcessedEvent.event_id).where(ProcessedEvent.room_id == room_id)
            return len(session.exec(query).all())
    finally:
        db.dispose()


async def kill_mid_catch_up(bot: BotProcess, database_url: str, room_id: str, before: int,
                            backlog: int) -> int:
    """Start the bot and kill -9 it once part of the backlog is committed, not all of it;
    returns how many events were handled at the kill."""
    bot.start()
    for _ in range(1200):
        handled = await asyncio.to_thread(handled_count, database_url, room_id)
        if before < handled < before + backlog:
            bot.kill()
            return handled - before
        await asyncio.sleep(0.02)
    raise AssertionError(f"the catch-up was never seen half done:\n{bot.log()[-3000:]}")


async def test_kill_9_mid_batched_catch_up_loses_and_repeats_nothing(synapse, tmp_path, database_url):
    """Bot stopped, ~300 messages and a few commands posted in an open séance, bot started
    (the backlog is back-filled and handled in batches), killed during the catch-up, started
    again: every message captured once, in order, and every command answered once."""
    name = f"batch{uuid.uuid4().hex[:4]}"
    w = await postgres_world(synapse, tmp_path / "bot", name, database_url)
    reading_url = (database_url if database_url != SQLITE
                   else f"sqlite:///{tmp_path / 'bot' / 'maillage.db'}")
    try:
        await ask(w.maita, w.room, "!seance ouvrir Séance rattrapée")
        w.bot.stop()
        before = await asyncio.to_thread(handled_count, reading_url, w.room)
        texts, commands = [], []
        for n in range(300):
            if n % 60 == 30:
                commands.append(await w.anabela.say(w.room, "!aide profil"))
            texts.append(f"Message en retard {n}")
            await (w.anabela if n % 2 else w.quentin).say(w.room, texts[-1])
        backlog = len(texts) + len(commands)
        at_kill = await kill_mid_catch_up(w.bot, reading_url, w.room, before, backlog)
        w.bot.start()
        await w.maita.wait_for(w.room, lambda ev: all(replies_to(ev, BOT, c) for c in commands),
                               timeout=120, what="every command answered after the kill")
        summary = await ask(w.maita, w.room, "!seance clore")
        assert "Séance close" in summary
        events = await w.maita.messages(w.room, limit=1000)
        assert [len(replies_to(events, BOT, c)) for c in commands] == [1] * len(commands)
        assert captured(reading_url, w.room) == texts               # each message once, in order
        assert 0 < at_kill < backlog, at_kill
        assert "back-filled" in w.bot.log() and "handled a backlog of" in w.bot.log()
    finally:
        if w.bot.alive():
            w.bot.stop()
