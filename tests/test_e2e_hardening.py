"""End-to-end hardening: the real bot (subprocess) on a real Synapse, its SQLite file
locked by another process the way `maillage export`, a backup or a second tool would.

A lock held a few seconds while a command, then a séance message, arrive: both are
handled exactly once after it (no "erreur interne", nothing lost). A lock held while
rate-limited replies are still being sent: the bot stays up, and every command is
answered exactly once. And the feed server's log never shows a feed's secret token.

Why a lock and not a read-only file: the tests run as root, for whom chmod changes
nothing, and there is no file system to remount. ``BEGIN EXCLUSIVE`` from a second
connection is a real-world fault that the bot sees exactly as it would in production:
every write fails with ``database is locked`` (after SQLite's 5 s busy timeout),
through the same code paths (core transaction, ``outbox.mark_sent``) as a disk error.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path

import aiohttp
import pytest

from bot.engine.core import INTERNAL_ERROR_REPLY
from tests.botproc import BOT, BotProcess, ask, start_world
from tests.matrix_user import replies_to

pytestmark = pytest.mark.e2e
LOCK_SECONDS = 8   # longer than SQLite's 5 s busy timeout, shorter than two of them


@contextmanager
def exclusive_lock(path: Path):
    """Hold SQLite's exclusive lock on ``path`` (another process writing)."""
    connection = sqlite3.connect(path, timeout=30, isolation_level=None)
    try:
        connection.execute("BEGIN EXCLUSIVE")
        yield
        connection.execute("ROLLBACK")
    finally:
        connection.close()


def db_path(bot: BotProcess) -> Path:
    return bot.config.parent / "maillage.db"


def query(bot: BotProcess, sql: str, *args) -> list[tuple]:
    connection = sqlite3.connect(db_path(bot), timeout=30)
    try:
        return connection.execute(sql, args).fetchall()
    finally:
        connection.close()


async def exempt_from_rate_limits(server, user_id: str) -> None:
    """Synapse's admin API: ``user_id`` is no longer rate-limited (as the README tells
    admins to do for the bot)."""
    password = "admin-password-for-tests"
    try:
        await server.register_user("admin-rl", password, admin=True)
    except RuntimeError as error:
        if "M_USER_IN_USE" not in str(error):
            raise
    token, _device = await server.login("admin-rl", password)
    url = f"{server.base_url}/_synapse/admin/v1/users/{user_id}/override_ratelimit"
    async with aiohttp.ClientSession() as session, session.post(
            url, json={"messages_per_second": 0, "burst_count": 0},
            headers={"Authorization": f"Bearer {token}"}) as response:
        assert response.status == 200, await response.text()


@pytest.fixture
async def world(synapse, tmp_path, request):
    suffix = request.node.name.replace("_", "")[-12:].lower()
    bot, room, (maita, anabela) = await start_world(
        synapse, tmp_path / "bot", (f"maita-h{suffix}", "Maïta Giraldi"),
        [(f"anabela-h{suffix}", "Anabela De Castro")])
    yield bot, room, maita, anabela
    if bot.alive():
        bot.stop()


async def test_a_locked_database_loses_no_message_and_no_command(world):
    bot, room, maita, anabela = world
    await ask(maita, room, "!seance ouvrir Séance sous verrou")

    with exclusive_lock(db_path(bot)):
        command = await anabela.say(room, "!aide profil")
        await asyncio.sleep(LOCK_SECONDS)
    [reply] = await maita.wait_for(room, lambda ev: replies_to(ev, BOT, command),
                                   what="reply to the command sent during the lock")
    assert reply["content"]["body"] != INTERNAL_ERROR_REPLY and "!profil" in reply["content"]["body"]

    with exclusive_lock(db_path(bot)):
        message = await anabela.say(room, "Message envoyé pendant le verrou")
        await asyncio.sleep(LOCK_SECONDS)
    after = await ask(maita, room, "!seance clore")   # handled after the message, in order

    assert "database is locked" in bot.log()          # the fault really happened, twice
    assert query(bot, "SELECT text FROM item WHERE event_id = ?", message) == [
        ("Message envoyé pendant le verrou",)]
    assert "Séance close" in after and "Non enregistré" not in after
    events = await maita.messages(room)
    assert len(replies_to(events, BOT, command)) == 1
    assert query(bot, "SELECT count(*) FROM set_aside_event") == [(0,)]
    assert bot.alive()


async def test_an_oversize_request_line_keeps_the_feed_token_out_of_the_log(world):
    bot, room, _maita, anabela = world
    agenda = await ask(anabela, room, "!agenda")
    [feed_url] = [w for w in agenda.split() if w.startswith("http://127.0.0.1:") and w.endswith(".ics")]
    token = feed_url.rsplit("/", 1)[1].removesuffix(".ics")
    host, port = feed_url.removeprefix("http://").split("/")[0].split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(f"GET /calendar/{token}.ics?{'x' * 9000} HTTP/1.1\r\nHost: feed\r\n\r\n".encode())
    answer = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    assert b" 400 " in answer.split(b"\r\n")[0]
    bot.wait_log("bad request (LineTooLong", timeout=10)
    log = bot.log()
    assert token not in log and token[:10] not in log and "Traceback" not in log


async def test_a_database_locked_while_replies_wait_out_rate_limits(synapse_strict, tmp_path):
    bot, room, (maita,) = await start_world(synapse_strict, tmp_path / "bot",
                                            ("maita-ratelock", "Maïta Giraldi"), [])
    try:
        await exempt_from_rate_limits(synapse_strict, maita.user_id)   # a fast burst; the bot is not
        commands = [await maita.say(room, "!aide profil") for _ in range(10)]
        deadline = time.monotonic() + 60
        marks = ",".join("?" * len(commands))
        while query(bot, f"SELECT count(*) FROM processed_event WHERE event_id IN ({marks})",
                    *commands) != [(len(commands),)]:
            assert time.monotonic() < deadline, "commands not handled"
            await asyncio.sleep(0.2)
        pending = query(bot, "SELECT count(*) FROM outbox WHERE sent_at IS NULL")[0][0]
        assert pending >= 3, "replies already sent: the lock would test nothing"
        with exclusive_lock(db_path(bot)):
            await asyncio.sleep(2 * LOCK_SECONDS)   # sends go on; recording them fails
        assert bot.alive(), bot.log()[-3000:]
        await maita.wait_for(room, lambda ev: all(replies_to(ev, BOT, c) for c in commands),
                             timeout=120, what="every command answered after the lock")
        events = await maita.messages(room)
        assert [len(replies_to(events, BOT, c)) for c in commands] == [1] * len(commands)
        assert "outbox: database error" in bot.log() and bot.alive()
    finally:
        if bot.alive():
            bot.stop()

