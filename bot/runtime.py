"""The running bot: sync loop, invites, back-fill and the outbox sender.

Order of work per sync batch: accept/refuse invites, update room state, hand each
new timeline event to the core (in one worker thread, so the event loop never
blocks on the database), then — only then — store the sync token. nio's own token
store would save it before callbacks run, and a crash would lose the batch.
Sending is a separate task that drains the outbox, so a homeserver that goes away
delays replies but never loses or repeats them.
"""

from __future__ import annotations

import asyncio
import fnmatch
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, TypeVar

import aiohttp
from sqlalchemy.exc import DBAPIError

from bot import outbox, rooms
from bot.config import Config
from bot.core import Core, EventRetry
from bot.db import Database
from bot.events import parse_event
from bot.matrix import Invite, MatrixClient, MatrixError, RoomBatch, SyncBatch
from bot.models import Outbox, utcnow
from bot.roomstate import RoomState
from bot.services import SERVICES, wait_event

log = logging.getLogger(__name__)
T = TypeVar("T")

OUTBOX_POLL_SECONDS = 30
SYNC_ERROR_BACKOFF = (1, 2, 5, 10, 30)
SEND_RETRY_BACKOFF = (1, 2, 5, 10, 30)
STOP_TIMEOUT_SECONDS = 10   # tasks not stopped by then are abandoned: stopping never hangs
SENT, REFUSED, RETRY = "sent", "refused", "retry"
# Worth retrying the whole batch for: the homeserver or the database going away, or an
# event whose handling failed but is not yet deemed deterministic (``bot.core``).
TRANSIENT_ERRORS = (MatrixError, aiohttp.ClientError, DBAPIError, EventRetry)


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
    def __init__(self, config: Config, matrix: MatrixClient | None = None):
        self.config = config
        self.db = Database(config.database.url)
        self.matrix = matrix or MatrixClient(config.matrix)
        self.worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="maillage-db")
        self.rooms: dict[str, RoomState] = {}
        self.outbox_wakeup = asyncio.Event()
        self.core: Core | None = None
        self.ready = asyncio.Event()
        self._change_listeners: list[asyncio.Event] = []

    # --- what services see (bot.services.ServiceHost) --------------------------------

    @property
    def bot_user_id(self) -> str:
        return self.matrix.user_id

    def clock(self):
        return utcnow()

    def wake_outbox(self) -> None:
        self.outbox_wakeup.set()

    def subscribe_changes(self) -> asyncio.Event:
        """An event set after every sync batch that handled something (data may have changed)."""
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
        before, after = await self.in_worker(self.db.upgrade)
        if before != after:
            log.info("database migrated from %s to %s", before, after)
        await self.matrix.login()
        self.core = Core(self.config, self.db, self.matrix.user_id)
        log.info("logged in as %s (device %s)", self.matrix.user_id, self.matrix.device_id)

    async def run(self) -> None:
        """Start, then sync and send until cancelled."""
        await self.start()
        tasks = [asyncio.create_task(self.sync_loop(), name="sync"),
                 asyncio.create_task(self.outbox_loop(), name="outbox")]
        tasks += [asyncio.create_task(run(self), name=run.__module__) for run in SERVICES]
        try:
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
            await self.close()

    async def close(self) -> None:
        await self.matrix.close()
        await asyncio.to_thread(self.worker.shutdown, wait=True)
        self.db.dispose()

    # --- sync -------------------------------------------------------------------

    async def sync_loop(self) -> None:
        store = self.matrix.store
        since = await asyncio.to_thread(store.load_sync_token)
        first_start = since is None
        full_state = True  # room state is only in memory: ask for all of it on resume
        failures = 0
        self.outbox_wakeup.set()  # drain what a previous run left unsent
        while True:
            timeout = 0 if full_state else self.config.matrix.sync_timeout_ms
            try:
                batch = await self.matrix.sync(since, timeout_ms=timeout, full_state=full_state)
                await self.handle_batch(batch, since, first_start)
            except TRANSIENT_ERRORS as error:
                # The token is not saved: the same batch comes again, and handlers are
                # idempotent on event ids, so nothing is lost or done twice.
                delay = SYNC_ERROR_BACKOFF[min(failures, len(SYNC_ERROR_BACKOFF) - 1)]
                failures += 1
                log.warning("sync batch failed (%s); retrying in %ss", error, delay)
                await asyncio.sleep(delay)
                continue
            failures = 0
            await asyncio.to_thread(store.save_sync_token, batch.next_batch)
            since, first_start, full_state = batch.next_batch, False, False
            self.outbox_wakeup.set()
            self._notify_changes()
            self.ready.set()

    async def handle_batch(self, batch: SyncBatch, since: str | None, first_start: bool) -> None:
        for invite in batch.invites:
            await self.handle_invite(invite)
        for room_batch in batch.joined:
            await self.handle_room(room_batch, since, first_start)
        for room_id in batch.left:
            self.rooms.pop(room_id, None)

    async def handle_invite(self, invite: Invite) -> None:
        if not inviter_allowed(invite.inviter, self.config.bot.allowed_inviters):
            log.warning("refusing invite to %s from %s (not in bot.allowed_inviters)",
                        invite.room_id, invite.inviter)
            await self._try(self.matrix.reject(invite.room_id), "reject invite")
            return
        if await self._try(self.matrix.join(invite.room_id), "join"):
            prefix = self.config.bot.command_prefix
            await self.in_worker(rooms.register, self.db, invite.room_id, utcnow(), prefix)
            log.info("joined %s, invited by %s", invite.room_id, invite.inviter)

    async def handle_room(self, batch: RoomBatch, since: str | None, first_start: bool) -> None:
        state = self.rooms.setdefault(batch.room_id, RoomState(batch.room_id))
        events = await self._new_events(batch, since, first_start)
        new_ids = {e.get("event_id") for e in events}
        # Skipped events (history before our join) still carry room state.
        for event in batch.state + [e for e in batch.timeline if e.get("event_id") not in new_ids]:
            state.apply(event)
        if state.encrypted or any(e.get("type") == "m.room.encryption" for e in events):
            state.encrypted = True
            await self.in_worker(rooms.warn_encrypted_once, self.db, batch.room_id, utcnow())
        for event in events:
            state.apply(event)
            record = parse_event(event, batch.room_id)
            if record is not None:
                await self.in_worker(self.core.handle, record, state)

    async def _new_events(self, batch: RoomBatch, since: str | None,
                          first_start: bool) -> list[dict[str, Any]]:
        """The events to handle: never history from before the bot joined; gaps back-filled."""
        join = own_join_index(batch.timeline, self.matrix.user_id)
        known = await self.in_worker(rooms.is_known, self.db, batch.room_id)
        if join is not None:
            await self.in_worker(rooms.register, self.db, batch.room_id, utcnow(), None)
            return batch.timeline[join + 1:]
        if first_start or not known:
            await self.in_worker(rooms.register, self.db, batch.room_id, utcnow(), None)
            return []  # joined before we kept any state: that history is not ours to capture
        if batch.limited and since and batch.prev_batch:
            gap = await self.matrix.messages_between(batch.room_id, batch.prev_batch, since)
            log.info("back-filled %d events in %s after a limited sync", len(gap), batch.room_id)
            seen = {e.get("event_id") for e in batch.timeline}
            return [e for e in gap if e.get("event_id") not in seen] + batch.timeline
        return batch.timeline

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
        try:
            return await self.drain_outbox()
        except DBAPIError as error:
            log.warning("outbox: database error, will retry: %s", error)
            return False

    async def drain_outbox(self) -> bool:
        """Send pending rows in order; False if a transient failure (server error, outage)
        stopped the round — later rows must not overtake it — to be retried after a backoff,
        however long the outage lasts. Only a refusal (e.g. M_FORBIDDEN) counts as an attempt."""
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
        try:
            room_id = row.room_id or await self._direct_room(row.dm_user)
            content = dict(row.content)
            if row.file_data is not None:
                info = content.get("info", {})
                content["url"] = await self.matrix.upload(row.file_data, info.get("mimetype", ""),
                                                          content.get("body", "fichier"))
            event_id = await self.matrix.send(room_id, row.event_type, content, row.txn_id)
        except MatrixError as error:
            if error.already_done:
                await self.in_worker(outbox.mark_sent, self.db, row.id, None)
                return SENT
            if not error.permanent:
                log.warning("sending %s failed, will retry: %s", row.txn_id, error)
                return RETRY
            attempts = await self.in_worker(outbox.mark_failed, self.db, row.id, str(error))
            log.warning("sending %s refused (attempt %d of %d): %s", row.txn_id, attempts,
                        outbox.MAX_ATTEMPTS, error)
            return REFUSED
        await self.in_worker(outbox.mark_sent, self.db, row.id, event_id)
        return SENT

    async def _direct_room(self, user_id: str) -> str:
        room_id = await self.in_worker(outbox.direct_room, self.db, user_id)
        if room_id is None:
            room_id = await self.matrix.create_direct_room(user_id)
            await self.in_worker(outbox.remember_direct_room, self.db, user_id, room_id)
            await self.in_worker(rooms.register, self.db, room_id, utcnow(), None)
        return room_id

    async def _try(self, action, what: str) -> bool:
        try:
            await action
            return True
        except MatrixError as error:
            log.warning("%s failed: %s", what, error)
            return False
