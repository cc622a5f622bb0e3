"""Database faults never cost an event: transient errors (locked, connection lost,
serialization failure) leave the event unprocessed for a retry; only an error repeating
on the same event sets it aside, reported in the séance summary. The outbox survives a
database error. The services' wait helper never swallows a cancellation."""

from __future__ import annotations

import asyncio
import sqlite3
from types import SimpleNamespace

import pytest
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlmodel import col, select

from bot.app.runtime import Runtime
from bot.app.wiring import build_core
from bot.engine import outbox
from bot.engine.core import INTERNAL_ERROR_REPLY, SET_ASIDE_AFTER, EventRetry
from bot.engine.events import Message
from bot.engine.host import Changes, wait_event
from bot.storage.db import is_transient
from bot.storage.models import Item, Outbox, ProcessedEvent, SetAsideEvent
from tests.conftest import FACILITATOR, MEMBER, NOW, ROOM
from tests.test_items import open_seance
from tests.test_runtime import ScriptedMatrix, batches, outbox_rows, run_until_done

BOT = "@maillage:localhost"


def locked() -> OperationalError:
    return OperationalError("INSERT …", {}, sqlite3.OperationalError("database is locked"))


def with_sqlstate(sqlstate: str) -> DBAPIError:
    return DBAPIError("UPDATE …", {}, SimpleNamespace(sqlstate=sqlstate), connection_invalidated=False)


# --- classification ------------------------------------------------------------------------------

@pytest.mark.parametrize("error", [
    locked(),
    OperationalError("SELECT 1", {}, sqlite3.OperationalError("disk I/O error")),
    OperationalError("SELECT 1", {}, Exception("server closed the connection unexpectedly")),
    with_sqlstate("40001"),   # serialization failure
    with_sqlstate("40P01"),   # deadlock detected
    with_sqlstate("57P01"),   # admin shutdown (the server restarting)
    with_sqlstate("08006"),   # connection failure
    DBAPIError("SELECT 1", {}, Exception("gone"), connection_invalidated=True),
], ids=["locked", "disk-io", "connection-lost", "serialization", "deadlock", "shutdown",
        "connection-failure", "invalidated"])
def test_transient_database_errors(error):
    assert is_transient(error)


@pytest.mark.parametrize("error", [
    IntegrityError("INSERT …", {}, sqlite3.IntegrityError("UNIQUE constraint failed")),
    with_sqlstate("23505"),   # unique violation
    with_sqlstate("22001"),   # string data right truncation
    KeyError("bug"), ValueError("bug"),
], ids=["integrity", "unique", "truncation", "key-error", "value-error"])
def test_deterministic_errors(error):
    assert not is_transient(error)


# --- the core ------------------------------------------------------------------------------------

def failing_listener(monkeypatch, core, errors: list[BaseException]):
    """The core's message listeners raise ``errors`` in turn, then behave normally again."""
    real = core.registry.notify

    def notify(kind, ctx, record):
        if kind == "message" and errors:
            raise errors.pop(0)
        return real(kind, ctx, record)

    monkeypatch.setattr(core.registry, "notify", notify)


def is_processed(db, event_id: str) -> bool:
    with db.session() as session:
        return session.get(ProcessedEvent, event_id) is not None


def captured_texts(db) -> list[str]:
    with db.session() as session:
        return [i.text for i in session.exec(select(Item).order_by(col(Item.id)))]


def replies(db, event_id: str) -> list[str]:
    with db.session() as session:
        return [r.content["body"] for r in session.exec(select(Outbox))
                if r.source_event_id == event_id]


def test_a_locked_database_leaves_the_message_unprocessed_until_it_is_captured(
        config, db, room, make_ctx, monkeypatch):
    open_seance(make_ctx)
    core = build_core(config, db, BOT, clock=lambda: NOW)
    failing_listener(monkeypatch, core, [locked(), locked()])
    message = Message("$msg", ROOM, MEMBER, "Un message pendant le verrou", NOW)
    for _ in range(2):
        with pytest.raises(OperationalError):
            core.handle(message, room)
        assert not is_processed(db, "$msg")
    core.handle(message, room)   # the lock is gone
    assert is_processed(db, "$msg") and "Un message pendant le verrou" in captured_texts(db)


def test_a_command_during_a_lock_is_answered_normally_afterwards(config, db, room, monkeypatch):
    core = build_core(config, db, BOT, clock=lambda: NOW)
    real_finish = core._finish
    failures = [locked()]

    def finish(record, state, action):
        if failures:
            raise failures.pop()
        return real_finish(record, state, action)

    monkeypatch.setattr(core, "_finish", finish)
    command = Message("$cmd", ROOM, MEMBER, "!aide profil", NOW)
    with pytest.raises(OperationalError):
        core.handle(command, room)
    assert replies(db, "$cmd") == []
    core.handle(command, room)
    [reply] = replies(db, "$cmd")
    assert "!profil" in reply and reply != INTERNAL_ERROR_REPLY


def test_a_repeating_error_sets_the_message_aside_and_the_summary_reports_it(
        config, db, room, make_ctx, monkeypatch):
    seance = open_seance(make_ctx)
    core = build_core(config, db, BOT, clock=lambda: NOW)
    failing_listener(monkeypatch, core, [KeyError("bug") for _ in range(SET_ASIDE_AFTER)])
    message = Message("$poison", ROOM, MEMBER, "Message qui fait planter la capture", NOW)
    for _ in range(SET_ASIDE_AFTER - 1):
        with pytest.raises(EventRetry):
            core.handle(message, room)
        assert not is_processed(db, "$poison")
    core.handle(message, room)
    assert is_processed(db, "$poison")
    with db.session() as session:
        [aside] = session.exec(select(SetAsideEvent)).all()
    assert (aside.event_id, aside.seance_id, aside.sender) == ("$poison", seance.id, MEMBER)
    assert aside.body == "Message qui fait planter la capture" and "KeyError" in aside.error

    core.handle(Message("$close", ROOM, FACILITATOR, "!seance clore", NOW), room)
    [summary] = [body for body in replies(db, "$close") if "Séance close" in body]
    assert "Non enregistré" in summary
    assert "Anabela De Castro : « Message qui fait planter la capture »" in summary


def test_an_error_that_goes_away_is_not_set_aside(config, db, room, make_ctx, monkeypatch):
    open_seance(make_ctx)
    core = build_core(config, db, BOT, clock=lambda: NOW)
    failing_listener(monkeypatch, core, [KeyError("once")])
    message = Message("$flaky", ROOM, MEMBER, "Un message capturé au deuxième essai", NOW)
    with pytest.raises(EventRetry):
        core.handle(message, room)
    core.handle(message, room)
    assert "Un message capturé au deuxième essai" in captured_texts(db)
    with db.session() as session:
        assert session.exec(select(SetAsideEvent)).all() == []
    assert core.failures == {}


def test_a_command_failing_every_time_gets_the_internal_error_reply_once(config, db, room, monkeypatch):
    core = build_core(config, db, BOT, clock=lambda: NOW)
    monkeypatch.setattr("bot.engine.core.dispatch", lambda ctx, invocation: {}["bug"])
    command = Message("$bad", ROOM, MEMBER, "!aide", NOW)
    for _ in range(SET_ASIDE_AFTER - 1):
        with pytest.raises(EventRetry):
            core.handle(command, room)
    core.handle(command, room)
    core.handle(command, room)   # a replay changes nothing
    assert replies(db, "$bad") == [INTERNAL_ERROR_REPLY]


# --- the runtime's outbox ------------------------------------------------------------------------

async def test_the_outbox_survives_a_database_error_and_sends_each_reply_once(config, monkeypatch):
    real_mark_sent = outbox.mark_sent
    failures = [locked(), locked()]

    def mark_sent(db, row_id, event_id, hooks):
        if failures:
            raise failures.pop()   # sent, but the database refuses to record it
        return real_mark_sent(db, row_id, event_id, hooks)

    monkeypatch.setattr(outbox, "mark_sent", mark_sent)
    matrix = ScriptedMatrix(config.matrix.store_path, batches())
    await run_until_done(Runtime(config, matrix), matrix)
    rows = outbox_rows(config)
    assert failures == [] and all(row.sent_at is not None for row in rows)
    # The homeserver saw the unrecorded send again with the same transaction id (it
    # deduplicates those): each reply has one transaction id, so it appears once.
    assert {txn for txn, _ in matrix.sent} == {row.txn_id for row in rows}


async def test_the_sync_loop_retries_a_batch_whose_event_failed(config, monkeypatch):
    from bot.engine.registry import dispatch as real_dispatch

    failures = [KeyError("once")]

    def dispatch(ctx, invocation):
        if failures:
            raise failures.pop()
        return real_dispatch(ctx, invocation)

    monkeypatch.setattr("bot.engine.core.dispatch", dispatch)
    matrix = ScriptedMatrix(config.matrix.store_path, batches())
    await run_until_done(Runtime(config, matrix), matrix)
    assert failures == [] and matrix.syncs.count("s1") >= 2   # the batch came again
    rows = outbox_rows(config)
    assert [row.source_event_id for row in rows] == ["$gap1", "$gap2", "$last"]
    assert INTERNAL_ERROR_REPLY not in [body for _, body in matrix.sent]


# --- the services' wait ---------------------------------------------------------------------------

async def test_wait_event_propagates_a_cancellation_arriving_with_the_event():
    event = asyncio.Event()
    task = asyncio.create_task(wait_event(event, 60))
    await asyncio.sleep(0)          # the task is waiting
    event.set()                      # the event and the stop request, in the same loop turn
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_wait_event_times_out_and_sees_the_event():
    event = asyncio.Event()
    assert await wait_event(event, 0.01) is False
    event.set()
    assert await wait_event(event, 1) is True


async def test_a_service_wakes_on_a_change_or_a_timeout_and_sees_changes_made_while_it_worked():
    host = SimpleNamespace(events=[])
    host.subscribe_changes = lambda: host.events.append(asyncio.Event()) or host.events[-1]
    changes = Changes(host)
    [event] = host.events
    assert await changes.wait(0.01) is False
    event.set()                      # while the service works
    assert await changes.wait(60) is True
    assert not event.is_set()        # seen once: the next wait waits
    assert await changes.wait(0.01) is False
    debounced = Changes(host, debounce=0.05)
    host.events[-1].set()
    task = asyncio.create_task(debounced.wait(60))
    await asyncio.sleep(0.01)
    host.events[-1].set()            # the same burst: still one wake-up
    assert await task is True and not host.events[-1].is_set()


async def test_stopping_is_bounded_even_if_a_service_ignores_its_cancellation(config, monkeypatch, caplog):
    released = asyncio.Event()

    async def stubborn(host):
        while not released.is_set():
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                pass   # the bug class of wait_for on 3.11: a stop request swallowed

    monkeypatch.setattr("bot.app.wiring.SERVICES", [stubborn])
    monkeypatch.setattr("bot.app.runtime.STOP_TIMEOUT_SECONDS", 0.5)
    matrix = ScriptedMatrix(config.matrix.store_path, batches())
    task = asyncio.create_task(Runtime(config, matrix).run())
    await asyncio.wait_for(matrix.done.wait(), 30)
    task.cancel()
    try:
        done, _ = await asyncio.wait({task}, timeout=5)
        assert done == {task}, "the stop hung"
        assert "abandoned: tests.test_db_faults" in caplog.text
    finally:
        released.set()


async def test_services_survive_a_database_error(config, db, tmp_path, monkeypatch):
    """The auto-close and e-mail loops log a database error and go on (before, the error
    ended the service task, and with it the whole bot)."""
    from bot.calendar import mailer
    from bot.services import autoclose as seance_service
    from tests.conftest import make_config
    from tests.servicehost import FakeHost

    email = make_config(tmp_path, email={"host": "127.0.0.1", "port": 1, "from": "bot@ville.fr"})
    host = FakeHost(email, db, now=NOW)
    calls = {"due_for_closing": 0, "due": 0}

    def failing(name):
        def query(*args):
            calls[name] += 1
            raise locked()
        return query

    monkeypatch.setattr(seance_service, "due_for_closing", failing("due_for_closing"))
    monkeypatch.setattr(mailer, "due", failing("due"))
    monkeypatch.setattr(seance_service, "CHECK_SECONDS", 0.05)
    monkeypatch.setattr(mailer, "DB_RETRY_SECONDS", 0.05)
    tasks = [asyncio.create_task(seance_service.autoclose(host)), asyncio.create_task(mailer.run(host))]
    await asyncio.sleep(0.05)
    host.changed()
    await asyncio.sleep(0.5)
    try:
        assert not any(task.done() for task in tasks)
        assert calls["due_for_closing"] >= 2 and calls["due"] >= 2   # still trying
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
