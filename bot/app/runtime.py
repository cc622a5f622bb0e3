"""The running bot: sync loop, invites, back-fill and the outbox sender.

Order of work per sync batch: accept/refuse invites, update room state, hand the
new timeline events of each room to the core together (``Core.handle_all``: few
transactions for a backlog; in one worker thread, so the event loop never blocks on
the database), then — only then — the sync token may be stored. nio's own token
store would save it before callbacks run, and a crash would lose the batch.
The token is written (write, fsync, rename) at most once every ``TOKEN_SAVE_SECONDS``
while batches keep coming — live traffic brings one message per batch, and that write
was a tenth of a captured message's cost — and always when the bot stops: a crash
then replays the batches handled since the last write, which the core skips (their
events are marked processed), but never skips one.
Sending is a separate task that drains the outbox, so a homeserver that goes away
delays replies but never loses or repeats them.

Start-up: logging in needs only nio. What handles events — SQLAlchemy, the models, the
commands: most of the start-up's import time — is imported by the worker thread, which
then opens and checks the database, while the login waits on the network
(``Runtime.start``). So this module imports that stack only inside its methods.
"""

from __future__ import annotations

import asyncio
import fnmatch
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Callable, TypeVar

import aiohttp

from bot.engine.events import parse_event
from bot.engine.roomstate import RoomState
from bot.engine.host import wait_event
from bot.matrix.client import Invite, MatrixClient, MatrixError, RoomBatch, SyncBatch
from bot.support.config import Config

if TYPE_CHECKING:
    from bot.engine.core import Core
    from bot.engine.events import Record
    from bot.engine.registry import Registry
    from bot.storage.db import Database
    from bot.storage.models import Outbox

log = logging.getLogger(__name__)
T = TypeVar("T")
ENCRYPTED = "m.room.encrypted"

OUTBOX_POLL_SECONDS = 30
SYNC_ERROR_BACKOFF = (1, 2, 5, 10, 30)
SEND_RETRY_BACKOFF = (1, 2, 5, 10, 30)
BACKLOG_LOG_SIZE = 20      # a catch-up worth a log line (live traffic comes one by one)
TOKEN_SAVE_SECONDS = 1.0   # at most one sync-token write per second (a crash replays, see above)
STOP_TIMEOUT_SECONDS = 10   # tasks not stopped by then are abandoned: stopping never hangs
SENT, REFUSED, RETRY = "sent", "refused", "retry"


class DatabaseUnusable(RuntimeError):
    """The database cannot be opened or migrated; the reason is the ``__cause__``."""


class CommandsUnusable(RuntimeError):
    """The command modules cannot make a registry (``bot.app.wiring.build_registry``: a
    module declaring no command, two commands on one word); the ``__cause__`` names it."""


# Worth retrying the whole batch for: the homeserver going away, and once the database is
# open (``Runtime.database_ready``) the database going away, or an event whose handling
# failed but is not yet deemed deterministic (``bot.engine.core``).
MATRIX_TRANSIENT_ERRORS = (MatrixError, aiohttp.ClientError)


def inviter_allowed(inviter: str | None, patterns: tuple[str, ...]) -> bool:
    return inviter is not None and any(fnmatch.fnmatchcase(inviter, p) for p in patterns)


def own_join_index(timeline: list[dict[str, Any]], user_id: str) -> int | None:
    """Index of the bot's own join in a timeline (a real join, not a profile change)."""
    for index, event in enumerate(timeline):
        if (event.get("type") == "m.room.member" and event.get("state_key") == user_id
                and (event.get("content") or {}).get("membership") == "join"):
            previous = ((event.get("unsigned") or {}).get("prev_content") or {}).get("membership")
            if previous != "join":
                return index
    return None


class Runtime:
    def __init__(self, config: Config, matrix: MatrixClient | None = None,
                 registry: Registry | None = None):
        self.config = config
        self.db: Database | None = None   # opened by ``start``, in the worker thread
        self.matrix = matrix or MatrixClient(config.matrix)
        self.worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="maillage-db")
        self.rooms: dict[str, RoomState] = {}
        self.outbox_wakeup = asyncio.Event()
        # Built by ``start`` (in the worker thread, during the login) unless given.
        self.registry: Registry | None = registry
        self.core: Core | None = None
        self.ready = asyncio.Event()
        self._database: asyncio.Future | None = None   # opening, from ``start`` on
        self._transient_errors: tuple[type[BaseException], ...] = MATRIX_TRANSIENT_ERRORS
        self._change_listeners: list[asyncio.Event] = []
        self._parked = True   # encrypted events may wait for their keys: look at start
        self._known_rooms: set[str] = set()   # registered rooms (never unregistered)
        self._changed = False   # this batch handled more than plain messages
        self._queued = False    # this batch put messages in the outbox
        # The token of the last fully handled batch not yet written (``save_token``).
        self._unsaved_token: str | None = None
        self._token_saved_at = float("-inf")

    # --- what services see (bot.engine.host.ServiceHost) --------------------------------

    @property
    def bot_user_id(self) -> str:
        return self.matrix.user_id

    def clock(self):
        from bot.storage.models import utcnow

        return utcnow()

    def wake_outbox(self) -> None:
        self.outbox_wakeup.set()

    def subscribe_changes(self) -> asyncio.Event:
        """An event set after the first sync batch, then after every batch that handled
        more than routine events (``Core.is_routine``: plain messages, the bot's own): a
        command, an edit, a reaction, an invite… may have changed what services watch. A
        captured message changes nothing they read, and waking them for each one would
        cost more than capturing it."""
        event = asyncio.Event()
        self._change_listeners.append(event)
        return event

    def _notify_changes(self) -> None:
        for event in self._change_listeners:
            event.set()

    def room_state(self, room_id: str) -> RoomState:
        return self.rooms.setdefault(room_id, RoomState(room_id))

    async def run_job(self, room_id: str, job_key: str, action: Callable[..., None]) -> int:
        """Run ``action(ctx)`` once ever for ``job_key`` (see ``Core.run_job``)."""
        queued = await self.in_worker(self.core.run_job, job_key, self.room_state(room_id), action)
        if queued:
            self.wake_outbox()
        return queued

    async def in_worker(self, function: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.worker, function, *args)

    async def start(self) -> None:
        """Log in and prepare encryption while the worker thread opens the database
        (``_prepare``); returns once logged in, the database may still be opening
        (``database_ready``). A database that cannot be used, or a command module that declares no
        command, stops the start at once, even while the login still waits for the
        homeserver."""
        self._database = database = asyncio.ensure_future(self.in_worker(self._prepare))
        login = asyncio.ensure_future(self._connect())
        try:
            pending = {database, login}
            while login in pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                if database in done:
                    database.result()   # raises DatabaseUnusable or CommandsUnusable
            identity = login.result()
        except BaseException:
            # Its outcome no longer matters (nor should it be reported as never retrieved).
            database.add_done_callback(lambda future: future.cancelled() or future.exception())
            raise
        finally:
            login.cancel()
        log.info("logged in as %s (device %s); encryption ready, cross-signing identity %s",
                 self.matrix.user_id, self.matrix.device_id, identity)

    async def database_ready(self) -> None:
        """Wait until the database opened by ``start`` is ready, with the core that handles
        events; raises DatabaseUnusable or CommandsUnusable."""
        await self._database
        if self.core is None:
            from sqlalchemy.exc import DBAPIError

            from bot.app.wiring import build_core
            from bot.engine.core import EventRetry
            self._transient_errors = (*MATRIX_TRANSIENT_ERRORS, DBAPIError, EventRetry)
            self.core = build_core(self.config, self.db, self.matrix.user_id, self.registry)

    def _prepare(self) -> None:
        """In the worker thread, during the login: import what handles events and build the
        registry of the commands (``bot.app.wiring``), then open the database (migrated if
        needed)."""
        from bot.app.wiring import build_registry
        from bot.engine.registry import CommandsError
        from bot.storage.db import OPEN_ERRORS, Database

        if self.registry is None:
            try:
                self.registry = build_registry()
            except CommandsError as error:
                raise CommandsUnusable(str(error)) from error
        try:
            self.db = Database(self.config.database.url)
            before, after = self.db.upgrade()
        except OPEN_ERRORS as error:
            raise DatabaseUnusable(str(error)) from error
        if before != after:
            log.info("database migrated from %s to %s", before, after)

    async def _connect(self) -> str:
        """Log in and prepare encryption, waiting out a homeserver that is away or unwell
        (a supervisor must not see a crash loop); a refusal (bad password, an identity
        made elsewhere) still stops the start."""
        failures = 0
        while True:
            try:
                await self.matrix.login()
                return await self.matrix.prepare_encryption()
            except (MatrixError, aiohttp.ClientError, OSError) as error:
                if isinstance(error, MatrixError) and error.permanent:
                    raise
                delay = SYNC_ERROR_BACKOFF[min(failures, len(SYNC_ERROR_BACKOFF) - 1)]
                failures += 1
                log.warning("cannot reach the homeserver to start (%s); retrying in %ss", error, delay)
                await asyncio.sleep(delay)

    async def run(self) -> None:
        """Start, then sync and send until cancelled."""
        try:
            await self.start()
        except BaseException:
            await self.close()
            raise
        # The first sync and its back-fill go on while the database is still opening.
        tasks = [asyncio.create_task(self.sync_loop(), name="sync")]
        try:
            await self.database_ready()
            from bot.app import wiring   # imported by the worker thread during the start

            tasks.append(asyncio.create_task(self.outbox_loop(), name="outbox"))
            tasks += [asyncio.create_task(run(self), name=run.__module__) for run in wiring.SERVICES]
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                task.result()
        finally:
            for task in tasks:
                task.cancel()
            # Bounded: a task that ignores its cancellation must not keep the bot running.
            _, stuck = await asyncio.wait(tasks, timeout=STOP_TIMEOUT_SECONDS)
            if stuck:
                log.error("still running %ss after the stop, abandoned: %s", STOP_TIMEOUT_SECONDS,
                          ", ".join(sorted(task.get_name() for task in stuck)))
            try:
                await self.flush_token()   # a restart resumes from the last handled batch
            finally:
                await self.close()

    async def close(self) -> None:
        await self.matrix.close()
        await asyncio.to_thread(self.worker.shutdown, wait=True)
        if self.db is not None:
            self.db.dispose()

    # --- sync -------------------------------------------------------------------

    async def sync_loop(self) -> None:
        store = self.matrix.store
        since = await asyncio.to_thread(store.load_sync_token)
        first_start = since is None
        full_state = True  # room state is only in memory: ask for all of it on resume
        failures = 0
        self.outbox_wakeup.set()  # drain what a previous run left unsent
        first_batch = True
        while True:
            timeout = 0 if full_state else self.config.matrix.sync_timeout_ms
            try:
                batch = await self.matrix.sync(since, timeout_ms=timeout, full_state=full_state)
                await self.handle_batch(batch, since, first_start)
            except self._transient_errors as error:   # read when raised (database_ready adds to it)
                # The token is not saved: the same batch comes again, and handlers are
                # idempotent on event ids, so nothing is lost or done twice.
                delay = SYNC_ERROR_BACKOFF[min(failures, len(SYNC_ERROR_BACKOFF) - 1)]
                failures += 1
                log.warning("sync batch failed (%s); retrying in %ss", error, delay)
                await asyncio.sleep(delay)
                continue
            failures = 0
            # Handled and committed: replies may go before the token is written.
            if self._queued:
                self.outbox_wakeup.set()
            if self._changed or first_batch:
                self._notify_changes()
            await self.save_token(batch.next_batch)
            since, first_start, full_state = batch.next_batch, False, False
            first_batch = self._queued = self._changed = False
            self.ready.set()

    async def save_token(self, token: str) -> None:
        """Called once the batch that ends at ``token`` is fully handled: write the token
        now if the last write is ``TOKEN_SAVE_SECONDS`` old (the first batch's always is),
        else keep it for a later batch or the stop (``flush_token``)."""
        self._unsaved_token = token
        if time.monotonic() - self._token_saved_at >= TOKEN_SAVE_SECONDS:
            await self.flush_token()

    async def flush_token(self) -> None:
        """Write the last fully handled batch's token, if not written yet (fsync'd)."""
        token = self._unsaved_token
        if token is None:
            return
        # In the worker thread: writes never overlap (a cancelled one still runs there).
        await self.in_worker(self.matrix.store.save_sync_token, token)
        self._token_saved_at = time.monotonic()
        if self._unsaved_token == token:
            self._unsaved_token = None

    async def handle_batch(self, batch: SyncBatch, since: str | None, first_start: bool) -> None:
        self._queued = self._changed = False   # a retried batch starts over
        gaps = await self._gaps_while_opening(batch, since)
        await self.database_ready()
        for invite in batch.invites:
            await self.handle_invite(invite)
        if self._parked:   # keys this batch brought: their messages come before its events
            await self.retry_undecryptable()
        for room_batch in batch.joined:
            await self.handle_room(room_batch, since, first_start, gaps.get(room_batch.room_id))
        for room_id in batch.left:
            self.rooms.pop(room_id, None)

    async def handle_invite(self, invite: Invite) -> None:
        if not inviter_allowed(invite.inviter, self.config.bot.allowed_inviters):
            log.warning("refusing invite to %s from %s (not in bot.allowed_inviters)",
                        invite.room_id, invite.inviter)
            await self._try(self.matrix.reject(invite.room_id), "reject invite")
            return
        if await self._try(self.matrix.join(invite.room_id), "join"):
            from bot.engine import rooms

            prefix = self.config.bot.command_prefix
            await self.in_worker(rooms.register, self.db, invite.room_id, self.clock(), prefix)
            self._queued = self._changed = True   # the welcome
            log.info("joined %s, invited by %s", invite.room_id, invite.inviter)

    async def handle_room(self, batch: RoomBatch, since: str | None, first_start: bool,
                          gap: list[dict[str, Any]] | None = None) -> None:
        state = self.rooms.setdefault(batch.room_id, RoomState(batch.room_id))
        events = await self._new_events(batch, since, first_start, gap)
        new_ids = {e.get("event_id") for e in events}
        # Skipped events (history before our join) still carry room state.
        for event in batch.state + [e for e in batch.timeline if e.get("event_id") not in new_ids]:
            state.apply(event)
        backlog: list[Record] = []
        for event in events:
            # Events are handled with the room state of their time: a state change (or a
            # parked event, kept in order) ends the backlog handled so far.
            if backlog and ("state_key" in event or event.get("type") == ENCRYPTED):
                await self.handle_backlog(backlog, state)
                backlog = []
            state.apply(event)
            if event.get("type") == ENCRYPTED:
                await self.park(batch.room_id, event)
                continue
            await self._forget_if_redacting_parked(event)
            if (record := parse_event(event, batch.room_id)) is not None:
                backlog.append(record)
        if backlog:
            await self.handle_backlog(backlog, state)

    async def handle_backlog(self, records: list[Record], state: RoomState) -> None:
        """Consecutive events of one room, handled together (``Core.handle_all``)."""
        started = time.monotonic()
        if await self.in_worker(self.core.handle_all, records, state):
            self._queued = True
        if not all(self.core.is_routine(record) for record in records):
            self._changed = True
        if len(records) >= BACKLOG_LOG_SIZE:
            log.info("handled a backlog of %d events in %s in %.2f s", len(records),
                     state.room_id, time.monotonic() - started)

    async def _forget_if_redacting_parked(self, event: dict[str, Any]) -> None:
        """A message deleted before we could read it must never reach the minutes later,
        nor be counted as missing from them."""
        if event.get("type") == "m.room.redaction" and self._parked:
            from bot.engine import undecryptable

            redacts = event.get("redacts") or (event.get("content") or {}).get("redacts")
            if redacts:
                await self.in_worker(undecryptable.forget, self.db, [redacts])

    async def handle_event(self, room_id: str, event: dict[str, Any], state: RoomState) -> None:
        await self._forget_if_redacting_parked(event)
        record = parse_event(event, room_id)
        if record is not None:
            await self.in_worker(self.core.handle, record, state)
            self._queued = self._changed = True   # rare (a late key): no need to tell apart

    # --- encrypted events waiting for their keys ----------------------------------

    async def park(self, room_id: str, event: dict[str, Any]) -> None:
        """Keep an event nio could not decrypt (its room key is late) and ask the sender's
        devices for the key; a redacted one has nothing left to read."""
        from bot.engine import undecryptable

        content = event.get("content") or {}
        if (event.get("sender") == self.matrix.user_id or "ciphertext" not in content
                or (event.get("unsigned") or {}).get("redacted_because")):
            return
        if await self.in_worker(undecryptable.park, self.db, room_id, event, self.clock()):
            # No key request: Element's crypto answers those only from its owner's own
            # devices. The key comes from the sender's device (m.room_key), late or never.
            log.warning("cannot decrypt %s from %s in %s yet (session %s): waiting for its key",
                        event.get("event_id"), event.get("sender"), room_id, content.get("session_id"))
        self._parked = True

    async def retry_undecryptable(self) -> None:
        """Decrypt and handle the parked events whose keys have arrived since — only while
        handling them now means what it meant then (same séance, recent enough); a message
        decrypted too late stays counted as unreadable, never filed in the wrong place."""
        from bot.engine import undecryptable

        waiting = await self.in_worker(undecryptable.waiting, self.db, self.clock())
        self._parked = bool(waiting)
        decrypted: list[str] = []
        for room_id, event in waiting:
            clear = self.matrix.decrypt(room_id, event)
            if clear is None:
                continue
            if not await self.in_worker(undecryptable.still_timely, self.db, room_id, event,
                                       self.clock()):
                log.warning("decrypted %s in %s too late to file it (its séance has changed "
                            "since): counted as unreadable", event["event_id"], room_id)
                continue
            log.info("decrypted %s in %s now that its key arrived", event["event_id"], room_id)
            await self.handle_event(room_id, clear, self.room_state(room_id))
            decrypted.append(event["event_id"])
        await self.in_worker(undecryptable.forget, self.db, decrypted)

    async def _new_events(self, batch: RoomBatch, since: str | None, first_start: bool,
                          gap: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
        """The events to handle: never history from before the bot joined; gaps back-filled
        (``gap``: already fetched, ``_gaps_while_opening``)."""
        from bot.engine import rooms

        join = own_join_index(batch.timeline, self.matrix.user_id)
        known = await self._is_known(batch.room_id)
        if not known and (first_start or join is None):
            # Joined before this database existed (a fresh database on an account already
            # in rooms): that history is not ours to capture, even after our join.
            await self.in_worker(rooms.register, self.db, batch.room_id, self.clock(), None)
            return []
        if join is not None:
            await self.in_worker(rooms.register, self.db, batch.room_id, self.clock(), None)
            self._changed = True
            return batch.timeline[join + 1:]
        if batch.limited and since and batch.prev_batch:
            if gap is None:
                gap = await self.matrix.messages_between(batch.room_id, batch.prev_batch, since)
            log.info("back-filled %d events in %s after a limited sync", len(gap), batch.room_id)
            seen = {e.get("event_id") for e in batch.timeline}
            return [e for e in gap if e.get("event_id") not in seen] + batch.timeline
        return batch.timeline

    async def _gaps_while_opening(self, batch: SyncBatch, since: str | None) -> dict[str, list]:
        """At start, while the worker thread is still opening the database: the gaps of the
        batch's limited timelines, fetched now rather than once it is open (a catch-up's
        back-fill overlaps the imports). Otherwise none: each room's gap is fetched when
        the room is handled, as ``_new_events`` needs it."""
        if self._database is None or self._database.done():
            return {}
        return {room.room_id: await self.matrix.messages_between(room.room_id, room.prev_batch, since)
                for room in batch.joined if room.limited and since and room.prev_batch}

    async def _is_known(self, room_id: str) -> bool:
        """Is the room registered? Asked of the database until it is, then remembered (a
        room is never unregistered): one query less per sync batch."""
        from bot.engine import rooms

        if room_id in self._known_rooms:
            return True
        if await self.in_worker(rooms.is_known, self.db, room_id):
            self._known_rooms.add(room_id)
            return True
        return False

    # --- outbox -------------------------------------------------------------------

    async def outbox_loop(self) -> None:
        delay, failures = OUTBOX_POLL_SECONDS, 0
        while True:
            await wait_event(self.outbox_wakeup, delay)
            self.outbox_wakeup.clear()
            if await self._drain_safely():
                delay, failures = OUTBOX_POLL_SECONDS, 0
            else:
                delay = SEND_RETRY_BACKOFF[min(failures, len(SEND_RETRY_BACKOFF) - 1)]
                failures += 1

    async def _drain_safely(self) -> bool:
        """``drain_outbox``, a database error counting as a transient failure: the bot keeps
        running. A message sent but not yet marked sent is sent again later with the same
        transaction id, which the homeserver deduplicates: still answered exactly once."""
        from sqlalchemy.exc import DBAPIError

        try:
            return await self.drain_outbox()
        except DBAPIError as error:
            log.warning("outbox: database error, will retry: %s", error)
            return False

    async def drain_outbox(self) -> bool:
        """Send pending rows in order; False if a transient failure (server error, outage)
        stopped the round — later rows must not overtake it — to be retried after a backoff,
        however long the outage lasts. Only a refusal (e.g. M_FORBIDDEN) counts as an attempt."""
        from bot.engine import outbox

        refused: set[int] = set()
        while rows := [r for r in await self.in_worker(outbox.pending, self.db) if r.id not in refused]:
            for row in rows:
                result = await self.deliver(row)
                if result is RETRY:
                    return False
                if result is REFUSED:
                    refused.add(row.id)   # its next attempt comes with a later wake-up
        return True

    async def deliver(self, row: Outbox) -> str:
        """SENT, REFUSED (recorded as an attempt) or RETRY (transient: try again later)."""
        from bot.app import wiring
        from bot.engine import outbox

        try:
            room_id = row.room_id or await self._direct_room(row.dm_user)
            content = dict(row.content)
            if row.file_data is not None:
                content = await self.matrix.attach_file(room_id, content, row.file_data)
            event_id = await self.matrix.send(room_id, row.event_type, content, row.txn_id)
        except MatrixError as error:
            if error.already_done:
                await self.in_worker(outbox.mark_sent, self.db, row.id, None, wiring.SENT_HOOKS)
                return SENT
            if not error.permanent:
                log.warning("sending %s failed, will retry: %s", row.txn_id, error)
                return RETRY
            attempts = await self.in_worker(outbox.mark_failed, self.db, row.id, str(error))
            log.warning("sending %s refused (attempt %d of %d): %s", row.txn_id, attempts,
                        outbox.MAX_ATTEMPTS, error)
            return REFUSED
        await self.in_worker(outbox.mark_sent, self.db, row.id, event_id, wiring.SENT_HOOKS)
        return SENT

    async def _direct_room(self, user_id: str) -> str:
        from bot.engine import outbox, rooms

        room_id = await self.in_worker(outbox.direct_room, self.db, user_id)
        if room_id is None:
            room_id = await self.matrix.create_direct_room(user_id)
            await self.in_worker(outbox.remember_direct_room, self.db, user_id, room_id)
            await self.in_worker(rooms.register, self.db, room_id, self.clock(), None)
        return room_id

    async def _try(self, action, what: str) -> bool:
        try:
            await action
            return True
        except MatrixError as error:
            log.warning("%s failed: %s", what, error)
            return False
