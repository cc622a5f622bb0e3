"""The runtime's outage paths, driven with a scripted Matrix client over a real database:
a failing back-fill retries the batch without saving the token; a server error while
sending keeps the message (and its order) for later; only a refusal counts as an attempt;
the sync token, written at most once a second, is always that of a handled batch, and a
crash that replays batches repeats nothing. And its start: the database is opened during
the login, not before it."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass

import pytest
from sqlmodel import col, select

from bot.app import runtime as runtime_module
from bot.app.runtime import DatabaseUnusable, Runtime
from bot.engine import rooms
from bot.matrix.client import MatrixError, RoomBatch, SyncBatch
from bot.matrix.store import SessionStore
from bot.storage.models import Outbox
from tests.conftest import NOW, ROOM, make_config

BOT = "@maillage:localhost"
USER = "@anabela:localhost"


@dataclass
class Response:
    status_code: str | None
    message: str = "error"


def command(event_id: str, body: str = "!aide profil") -> dict:
    return {"type": "m.room.message", "event_id": event_id, "sender": USER, "origin_server_ts": 1,
            "content": {"msgtype": "m.text", "body": body}}


class ScriptedMatrix:
    """Plays sync batches in order; fails back-fill or sends as told."""

    user_id, device_id = BOT, "DEVICE"

    def __init__(self, store_path, batches, backfill_failures=0, send_failures=(), refuse_reply_to="",
                 refusal="M_FORBIDDEN"):
        self.store = SessionStore(store_path)
        self.batches = list(batches)
        self.syncs: list[str | None] = []
        self.backfill_failures = backfill_failures
        self.send_failures = list(send_failures)   # errcodes to raise, in order, before succeeding
        self.refuse_reply_to = refuse_reply_to     # the reply to this event is always refused
        self.refusal = refusal                     # … with this error code
        self.sent: list[tuple[str, str]] = []
        self.refusals = 0
        self.done = asyncio.Event()

    async def login(self):
        pass

    async def prepare_encryption(self):
        return "not used by these scripted rooms"

    async def sync(self, since, *, timeout_ms, full_state):
        self.syncs.append(since)
        index = 0 if since is None else int(since.removeprefix("s"))
        if index >= len(self.batches):
            self.done.set()
            await asyncio.sleep(3600)
        return self.batches[index]

    async def messages_between(self, room_id, start, end):
        if self.backfill_failures:
            self.backfill_failures -= 1
            raise MatrixError("messages", Response(None, "502 Bad Gateway"))
        return [command("$gap1"), command("$gap2")]

    async def send(self, room_id, event_type, content, txn_id):
        if self.send_failures:
            raise MatrixError("send", Response(self.send_failures.pop(0)))
        if content.get("m.relates_to", {}).get("m.in_reply_to", {}).get("event_id") == self.refuse_reply_to:
            self.refusals += 1
            raise MatrixError("send", Response(self.refusal))
        self.sent.append((txn_id, content.get("body", "")))
        return f"$sent{len(self.sent)}"

    async def close(self):
        pass


def batches() -> list[SyncBatch]:
    join = {"type": "m.room.member", "state_key": BOT, "event_id": "$join", "sender": BOT,
            "origin_server_ts": 0, "content": {"membership": "join"}}
    first = SyncBatch("s1", [RoomBatch(ROOM, [], [join])], [], [])
    limited = SyncBatch("s2", [RoomBatch(ROOM, [], [command("$last")], limited=True,
                                         prev_batch="p1")], [], [])
    return [first, limited]


async def run_until_done(runtime: Runtime, matrix: ScriptedMatrix) -> None:
    task = asyncio.create_task(runtime.run())
    try:
        await asyncio.wait_for(matrix.done.wait(), 30)
        for _ in range(200):  # let the outbox drain (retries back off 1 s, 2 s, …)
            if len(await runtime.in_worker(pending_rows, runtime)) <= bool(matrix.refuse_reply_to):
                break
            await asyncio.sleep(0.05)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def pending_rows(runtime: Runtime) -> list[Outbox]:
    with runtime.db.session() as session:
        return list(session.exec(select(Outbox).where(col(Outbox.sent_at).is_(None))))


def outbox_rows(config) -> list[Outbox]:
    from bot.storage.db import Database

    db = Database(config.database.url)
    with db.session() as session:
        rows = list(session.exec(select(Outbox).order_by(col(Outbox.id))))
    db.dispose()
    return rows


async def test_a_failed_back_fill_retries_the_batch_and_loses_nothing(config):
    matrix = ScriptedMatrix(config.matrix.store_path, batches(), backfill_failures=2)
    await run_until_done(Runtime(config, matrix), matrix)
    assert matrix.syncs[:5] == [None, "s1", "s1", "s1", "s2"]   # the limited batch, three times
    assert matrix.store.load_sync_token() == "s2"
    sources = [row.source_event_id for row in outbox_rows(config)]
    assert sources == ["$gap1", "$gap2", "$last"]                # nothing lost, nothing twice
    assert len(matrix.sent) == 3


def live_batches(count: int) -> list[SyncBatch]:
    """The bot's join (s1), then ``count`` batches of one command each (s2…), as live."""
    return batches()[:1] + [SyncBatch(f"s{n}", [RoomBatch(ROOM, [], [command(f"$c{n}")])], [], [])
                            for n in range(2, count + 2)]


def record_token_writes(monkeypatch) -> list[str]:
    written: list[str] = []
    real_save = SessionStore.save_sync_token

    def save(self, token):
        written.append(token)
        real_save(self, token)
    monkeypatch.setattr(SessionStore, "save_sync_token", save)
    monkeypatch.setattr(runtime_module, "TOKEN_SAVE_SECONDS", 60)
    return written


async def test_the_token_is_written_once_a_while_and_a_crash_replays_without_repeating(
        config, monkeypatch):
    written = record_token_writes(monkeypatch)
    matrix = ScriptedMatrix(config.matrix.store_path, live_batches(4))
    await run_until_done(Runtime(config, matrix), matrix)
    assert written == ["s1", "s5"]   # the first batch's at once, the last handled one at the stop
    assert len(matrix.sent) == 4
    # A kill -9 before the stop leaves the first token: the restart replays s2…s5.
    SessionStore(config.matrix.store_path).save_sync_token("s1")
    again = ScriptedMatrix(config.matrix.store_path, live_batches(4))
    await run_until_done(Runtime(config, again), again)
    assert again.syncs[:2] == ["s1", "s2"]
    assert [row.source_event_id for row in outbox_rows(config)] == ["$c2", "$c3", "$c4", "$c5"]
    assert again.sent == []                                     # nothing answered twice


async def test_the_token_written_at_the_stop_is_never_that_of_an_unhandled_batch(
        config, monkeypatch):
    written = record_token_writes(monkeypatch)
    # s3 is limited and its back-fill keeps failing: it is never handled.
    limited = batches()[1]
    stuck = live_batches(1) + [SyncBatch("s3", limited.joined, [], [])]
    matrix = ScriptedMatrix(config.matrix.store_path, stuck, backfill_failures=10**6)
    task = asyncio.create_task(Runtime(config, matrix).run())
    try:
        for _ in range(600):
            if matrix.syncs.count("s2") >= 2:   # s3 failed, then was asked again
                break
            await asyncio.sleep(0.01)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert matrix.syncs.count("s2") >= 2
    assert written == ["s1", "s2"]   # not s3: the stop would have lost its events
    again = ScriptedMatrix(config.matrix.store_path, stuck)
    await run_until_done(Runtime(config, again), again)
    assert again.syncs[0] == "s2"
    assert [row.source_event_id for row in outbox_rows(config)] == ["$c2", "$gap1", "$gap2", "$last"]


async def test_server_errors_keep_messages_in_order_and_refusals_count(config):
    matrix = ScriptedMatrix(config.matrix.store_path, batches(), send_failures=[None, "M_UNKNOWN"],
                            refuse_reply_to="$gap2")
    await run_until_done(Runtime(config, matrix), matrix)
    rows = outbox_rows(config)
    refused = [row for row in rows if row.sent_at is None]
    assert [row.source_event_id for row in refused] == ["$gap2"]
    assert refused[0].attempts == matrix.refusals == 1          # once per round, not in a tight loop
    assert "M_FORBIDDEN" in refused[0].last_error
    sent_rows = [row for row in rows if row.sent_at is not None]
    assert all(row.attempts == 0 for row in sent_rows)          # outages are not attempts
    assert [txn for txn, _ in matrix.sent] == [row.txn_id for row in sent_rows]  # in order


async def test_an_error_code_nobody_listed_is_a_refusal_not_a_blocked_queue(config):
    matrix = ScriptedMatrix(config.matrix.store_path, batches(), refuse_reply_to="$gap1",
                            refusal="M_EXCLUSIVE")
    await run_until_done(Runtime(config, matrix), matrix)
    rows = outbox_rows(config)
    assert [row.source_event_id for row in rows if row.sent_at is None] == ["$gap1"]
    assert [row.source_event_id for row in rows if row.sent_at is not None] == ["$gap2", "$last"]


async def test_a_duplicate_reaction_counts_as_sent(config):
    matrix = ScriptedMatrix(config.matrix.store_path, batches(), refuse_reply_to="$gap1",
                            refusal="M_DUPLICATE_ANNOTATION")
    await run_until_done(Runtime(config, matrix), matrix)
    rows = outbox_rows(config)
    assert all(row.sent_at is not None and row.attempts == 0 for row in rows)
    assert [row.sent_event_id is None for row in rows] == [True, False, False]


async def test_the_login_does_not_wait_for_the_database(config, monkeypatch):
    """The worker thread opens the database while the login waits on the network."""
    from bot.storage.db import Database

    logged_in, opened_during_login = threading.Event(), []
    real_upgrade = Database.upgrade

    def upgrade(self):
        opened_during_login.append(logged_in.wait(5))
        return real_upgrade(self)

    class Matrix(ScriptedMatrix):
        async def login(self):
            logged_in.set()

    monkeypatch.setattr(Database, "upgrade", upgrade)
    matrix = Matrix(config.matrix.store_path, batches())
    await run_until_done(Runtime(config, matrix), matrix)
    assert opened_during_login == [True]
    assert [row.source_event_id for row in outbox_rows(config)] == ["$gap1", "$gap2", "$last"]


async def test_the_first_sync_and_its_back_fill_do_not_wait_for_the_database(config, monkeypatch):
    """At start, the first batches' gaps are fetched while the database is still opening."""
    from bot.storage.db import Database

    back_filled, opened_after_back_fill = threading.Event(), []
    real_upgrade = Database.upgrade

    def upgrade(self):
        opened_after_back_fill.append(back_filled.wait(5))
        return real_upgrade(self)

    class Matrix(ScriptedMatrix):
        async def messages_between(self, room_id, start, end):
            back_filled.set()
            return await super().messages_between(room_id, start, end)

    # A resume (a sync token, a known room) whose first batch is limited: a catch-up.
    SessionStore(config.matrix.store_path).save_sync_token("s1")
    database = Database(config.database.url)
    real_upgrade(database)
    rooms.register(database, ROOM, NOW, None)
    database.dispose()
    monkeypatch.setattr(Database, "upgrade", upgrade)
    matrix = Matrix(config.matrix.store_path, batches())
    await run_until_done(Runtime(config, matrix), matrix)
    assert opened_after_back_fill[-1] is True
    assert [row.source_event_id for row in outbox_rows(config)] == ["$gap1", "$gap2", "$last"]


async def test_an_unusable_database_stops_the_start_while_the_login_still_waits(tmp_path):
    (tmp_path / "afile").write_text("not a folder")
    config = make_config(tmp_path, database={"url": f"sqlite:///{tmp_path / 'afile' / 'maillage.db'}"})

    class Matrix(ScriptedMatrix):
        async def login(self):
            await asyncio.sleep(3600)   # a homeserver that never answers

    matrix = Matrix(config.matrix.store_path, batches())
    with pytest.raises(DatabaseUnusable) as raised:
        await asyncio.wait_for(Runtime(config, matrix).run(), 30)
    assert raised.value.__cause__ is not None and not matrix.syncs
