"""The pure core: one event in, database changes and outgoing messages out.

Each event is handled in one transaction that also records it as processed and
stores what must be sent (the outbox, each entry with its own transaction id).
So a crash before the commit replays the event; a crash after it resends the
outbox with the same transaction ids, which the homeserver deduplicates.
Bad input rolls the whole transaction back and only the French answer is kept.

A backlog (a sync batch, a back-filled gap) goes through ``handle_all``: each run of
events that are not commands (plain messages, edits, reactions, redactions, the bot's
own events) shares one transaction — its changes, its processed marks and its outbox
rows commit together or not at all — while each command keeps its own, so a bad
command still rolls back alone. When a shared transaction fails for any reason other
than the database being unavailable, it is rolled back whole and its events are
handled again one transaction each, with the per-event rules below: one bad event
never takes the others of its run down.

A failure is never a reason to lose an event. The database being unavailable
(locked, connection lost…: ``bot.storage.db.is_transient``) propagates, so the runtime
retries the whole batch later with the event still unprocessed. Any other error is
retried the same way until it has happened ``SET_ASIDE_AFTER`` times in a row on
the same event: only then is the event set aside — recorded by the ``set_aside``
callback the core is given (the wiring gives the domain's, which keeps it with its
text for the séance summary), logged — and a command answered with the
internal-error reply.

The core imports nothing above the engine: the application's wiring
(:mod:`bot.app.wiring`) hands it the registry of commands and the set-aside callback.
"""

from __future__ import annotations

import hashlib
import logging
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Callable, Iterator

from sqlalchemy import bindparam
from sqlmodel import Session, col, select

from bot.engine.context import Context, Outgoing
from bot.engine.events import Edit, Message, PollResponse, Reaction, Record, Redaction
from bot.engine.registry import (
    PERMISSION_REPLY,
    PermissionDenied,
    Registry,
    UsageError,
    dispatch,
    edit_refused_reply,
    parse_invocation,
    usage_reply,
)
from bot.engine.roomstate import RoomState, is_facilitator
from bot.storage.db import BATCH_CACHE, Database, batch_cached, is_transient
from bot.storage.models import Outbox, ProcessedEvent, Room, new_row, utcnow
from bot.support.config import Config
from bot.support.errors import UserError

log = logging.getLogger(__name__)
LISTENER_KIND = {Edit: "edit", Reaction: "reaction", Redaction: "redaction",
                 PollResponse: "poll_response"}

INTERNAL_ERROR_REPLY = ("Une erreur interne m'a empêché de traiter ce message ; rien n'a été "
                        "enregistré. L'équipe technique a été prévenue par le journal.")
SET_ASIDE_AFTER = 3   # failures in a row of the same event before it is deemed deterministic
# Is this event processed? A plain SQL query on the session's connection: the ORM's
# ``session.get`` (identity map, entity loading) cost about a sixth of the handling of
# a live message, which comes alone.
PROCESSED_QUERY = select(ProcessedEvent.__table__.c.event_id).where(
    ProcessedEvent.__table__.c.event_id == bindparam("event_id"))

# set_aside(ctx, record, error): records, in ctx's transaction, an event set aside.
SetAside = Callable[[Context, Record, str], None]


class EventRetry(RuntimeError):
    """Handling an event failed (not yet deemed deterministic): nothing was recorded,
    the runtime must retry its batch later."""


@dataclass(frozen=True)
class Job:
    """A background job seen as an event: its key is unique like an event id."""

    event_id: str
    room_id: str
    sender: str


def txn_id_for(source: str, index: int) -> str:
    """A transaction id derived from what caused the send: replays get the same id."""
    digest = hashlib.sha256(f"{source}|{index}".encode()).hexdigest()[:40]
    return f"mlg.{digest}"


def is_processed(session: Session, event_id: str) -> bool:
    """Whether the event is marked processed (in the session's transaction)."""
    return session.connection().execute(PROCESSED_QUERY, {"event_id": event_id}).first() is not None


def store_outgoing(session: Session, outgoing: list[Outgoing], source: str, now: datetime) -> int:
    """Put outgoing messages in the outbox; returns how many were added."""
    for index, item in enumerate(outgoing):
        session.add(Outbox(room_id=item.room_id, txn_id=txn_id_for(source, index),
                           event_type=item.event_type, content=item.content, dm_user=item.dm_user,
                           file_data=item.file_data, source_event_id=source, tag=item.tag,
                           created_at=now))
    return len(outgoing)


class Core:
    def __init__(self, config: Config, db: Database, bot_user_id: str, registry: Registry,
                 set_aside: SetAside, clock: Callable[[], datetime] = utcnow):
        self.config = config
        self.db = db
        self.bot_user_id = bot_user_id
        self.registry = registry
        self.set_aside = set_aside
        self.clock = clock
        self.failures: dict[str, int] = {}   # event id → failures in a row (this run)
        # Lookups kept from one routine event to the next (``is_routine``: they change
        # none of them); emptied by any other event, any job, any failure, and by any flush
        # writing such a row (``bot.storage.db.batch_cached``).
        self._routine_cache: dict = {}

    def is_facilitator(self, room: RoomState, user_id: str) -> bool:
        return is_facilitator(self.config.bot, room, user_id)

    def handle(self, record: Record, room: RoomState) -> int:
        """Handle one event exactly once (``_finish`` skips a processed one inside its
        transaction); returns the number of messages queued. Raises a transient database
        error or ``EventRetry`` when the event is left unprocessed, to be retried."""
        queued = self._handle(record, room)
        self.failures.pop(record.event_id, None)
        return queued

    def handle_all(self, records: list[Record], room: RoomState) -> int:
        """Handle a backlog of one room in order, with as few transactions as correctness
        allows (module docstring); returns the number of messages queued. Raises like
        ``handle`` when an event is left unprocessed: the caller retries the whole list,
        whose already handled events are then skipped."""
        queued, run = 0, []
        for record in records:
            if self._is_command(record):
                queued += self.handle_run(run, room) if run else 0
                queued += self.handle(record, room)
                run = []
            else:
                run.append(record)
        return queued + (self.handle_run(run, room) if run else 0)

    def handle_run(self, records: list[Record], room: RoomState) -> int:
        """Events that are not commands, in one transaction; should it fail, one by one."""
        if len(records) == 1:
            return self.handle(records[0], room)
        try:
            queued = self._finish_run(records, room)
        except Exception as error:
            if is_transient(error):
                raise
            log.info("a run of %d events in %s failed together (%r): handling them one by one",
                     len(records), room.room_id, error)
            return sum(self.handle(record, room) for record in records)
        for record in records:
            self.failures.pop(record.event_id, None)
        return queued

    def is_routine(self, record: Record) -> bool:
        """The bot's own event, or a message that is not a command: captured at most,
        nothing the services watch (rencontres, séances, reminders, e-mails) changes."""
        return record.sender == self.bot_user_id or (
            isinstance(record, Message) and not self._is_command(record))

    def _is_command(self, record: Record) -> bool:
        return (isinstance(record, Message) and record.sender != self.bot_user_id
                and parse_invocation(record.body, self.config.bot.command_prefix,
                                 self.registry) is not None)

    def _finish_run(self, records: list[Record], room: RoomState) -> int:
        """Run the listeners of each not yet processed event and mark it processed, all in
        one transaction; lookups that do not change within it are cached (``BATCH_CACHE``).
        Any error (a listener's bad-input answer included) rolls everything back."""
        now, queued = self.clock(), 0
        with self._transaction(all(self.is_routine(record) for record in records)) as session:
            ids = [record.event_id for record in records]
            query = select(ProcessedEvent.event_id).where(col(ProcessedEvent.event_id).in_(ids))
            done = set(session.exec(query))
            for record in records:
                if record.event_id in done:
                    continue
                done.add(record.event_id)
                queued += self._apply(session, record, room, now, self._listeners_of(record))
        return queued

    def _listeners_of(self, record: Record) -> Callable[[Context], None]:
        if record.sender == self.bot_user_id:
            return lambda ctx: None
        kind = "message" if isinstance(record, Message) else LISTENER_KIND[type(record)]
        return lambda ctx: self.registry.notify(kind, ctx, record)

    def _handle(self, record: Record, room: RoomState) -> int:
        if record.sender == self.bot_user_id:
            return self._finish(record, room, lambda ctx: None)
        if not isinstance(record, Message):
            return self._run_listeners(LISTENER_KIND[type(record)], record, room)
        invocation = parse_invocation(record.body, self.config.bot.command_prefix, self.registry)
        if invocation is None:
            return self._run_listeners("message", record, room)
        return self._run_command(record, room, invocation)

    def _run_listeners(self, kind: str, record: Record, room: RoomState) -> int:
        """Listeners of a non-command event. A listener's own bad-input answer is kept
        (rolled back, then replied); a crash is retried, then set aside (``_failed``)
        so one poisonous event cannot stop the sync loop for ever."""
        try:
            return self._finish(record, room, lambda ctx: self.registry.notify(kind, ctx, record),
                                routine=self.is_routine(record))
        except UserError as error:
            return self._finish(record, room, lambda ctx, e=error: self._refuse(ctx, record, e))
        except Exception as error:
            return self._failed(record, room, error, f"{kind} listener")

    def _refuse(self, ctx: Context, record: Record, error: UserError) -> None:
        """Answer a listener's bad input (its changes rolled back). An edit whose new text a
        command refuses is answered on the edited message, which keeps its previous version."""
        prefix = self.config.bot.command_prefix
        if isinstance(record, Edit):
            answer = edit_refused_reply(error, error.usage, prefix)
            replace(ctx, event_id=record.target_event_id).reply(answer)
        else:
            ctx.reply(usage_reply(error, prefix))

    def _run_command(self, message: Message, room: RoomState, invocation) -> int:
        def run(ctx: Context) -> None:
            limit = self.config.bot.max_message_length
            if len(message.body) > limit:
                raise UsageError(f"ce message est trop long ({len(message.body)} caractères ; "
                                 f"{limit} au plus).")
            dispatch(ctx, invocation)

        prefix = self.config.bot.command_prefix
        try:
            return self._finish(message, room, run)
        except UserError as error:
            return self._finish(message, room, lambda ctx, e=error: ctx.reply(usage_reply(e, prefix)))
        except PermissionDenied:
            return self._finish(message, room, lambda ctx: ctx.reply(PERMISSION_REPLY))
        except Exception as error:
            return self._failed(message, room, error, "command", reply=INTERNAL_ERROR_REPLY)

    def _failed(self, record: Record, room: RoomState, error: Exception, what: str,
                reply: str | None = None) -> int:
        """After ``error`` (raised while handling ``record``, whose transaction is rolled
        back): re-raise a transient database error; count any other one and ask for a
        retry, until it has repeated ``SET_ASIDE_AFTER`` times — then set the event aside
        (recorded with its text, reported) and answer ``reply`` if given."""
        if is_transient(error):
            raise error
        count = self.failures[record.event_id] = self.failures.get(record.event_id, 0) + 1
        if count < SET_ASIDE_AFTER:
            log.warning("%s failed in %s (event %s, failure %d of %d), will retry: %r", what,
                        record.room_id, record.event_id, count, SET_ASIDE_AFTER, error)
            raise EventRetry(f"{what} failed on {record.event_id}") from error
        log.error("%s failed %d times in a row in %s (event %s from %s): event set aside, "
                  "reported in the séance summary", what, count, record.room_id, record.event_id,
                  record.sender, exc_info=error)

        def action(ctx: Context) -> None:
            self.set_aside(ctx, record, repr(error))
            if reply is not None:
                ctx.reply(reply)
        return self._finish(record, room, action)

    def _finish(self, record: Record | Job, room: RoomState, action: Callable[[Context], None],
                routine: bool = False) -> int:
        """Run ``action`` and mark the event processed, all in one transaction."""
        now = self.clock()
        with self._transaction(routine) as session:
            if is_processed(session, record.event_id):
                return 0
            return self._apply(session, record, room, now, action)

    @contextmanager
    def _transaction(self, routine: bool) -> Iterator[Session]:
        """A session whose lookups are cached (``bot.storage.db.batch_cached``): across routine
        events in ``_routine_cache``; else, for this transaction only, after forgetting
        everything cached so far (what is not routine may change any of it). A failure
        forgets everything too: the cache may hold rows the rollback undid."""
        if not routine:
            self._routine_cache.clear()
        try:
            with self.db.session() as session:
                session.info[BATCH_CACHE] = self._routine_cache if routine else {}
                yield session
        except BaseException:
            self._routine_cache.clear()
            raise

    def _apply(self, session: Session, record: Record | Job, room: RoomState, now: datetime,
               action: Callable[[Context], None]) -> int:
        """Inside the caller's transaction: run ``action``, mark the event processed and
        queue what it sends."""
        said = ({"mentions": record.mentions, "formatted_body": record.formatted_body}
                if isinstance(record, (Message, Edit)) else {})
        ctx = replace(self.context(session, room, record.sender, record.event_id, now),
                      thread_root=getattr(record, "thread_root", None),   # replies go in the thread
                      **said)
        action(ctx)
        session.add(new_row(ProcessedEvent, event_id=record.event_id, room_id=record.room_id,
                            handled_at=now))
        return store_outgoing(session, ctx.outgoing, record.event_id, now)

    def context(self, session: Session, room: RoomState, sender: str, event_id: str,
                now: datetime) -> Context:
        """A Context for an event — or for a service's job (sender = the bot)."""
        # A room not registered yet may be by the time of the next event: not cached.
        stored = batch_cached(session, ("room", room.room_id), lambda: session.get(Room, room.room_id),
                              keep_none=False)
        return Context(config=self.config, session=session, room=room, sender=sender,
                       event_id=event_id, now=now, registry=self.registry,
                       bot_user_id=self.bot_user_id,
                       is_facilitator=self.is_facilitator(room, sender),
                       room_timezone=stored.timezone if stored else None)

    def run_job(self, job_key: str, room: RoomState, action: Callable[[Context], None]) -> int:
        """Run a background job (a reminder, an auto-close…) exactly once per ``job_key``:
        the key is recorded like an event id, and names the outbox transaction ids."""
        job = Job(event_id=job_key, room_id=room.room_id, sender=self.bot_user_id)
        return self._finish(job, room, action)
