"""A stand-in for the runtime as background services see it (``bot.engine.host.ServiceHost``):
the real Core and database, one worker thread like production, and a clock tests set."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from bot.app.wiring import build_core
from bot.engine.roomstate import RoomState

BOT = "@maillage:localhost"


class FakeHost:
    def __init__(self, config, db, room: RoomState | None = None, now: datetime | None = None):
        self.config, self.db, self.bot_user_id, self.now = config, db, BOT, now
        self.core = build_core(config, db, BOT, clock=self.clock)
        self.rooms = {room.room_id: room} if room else {}
        self.worker = ThreadPoolExecutor(max_workers=1)
        self.changes: list[asyncio.Event] = []
        self.jobs: list[str] = []
        self.woken = 0

    def clock(self) -> datetime:
        """The time the test set, else the real one."""
        return self.now or datetime.now(UTC)

    async def in_worker(self, function, *args):
        return await asyncio.get_running_loop().run_in_executor(self.worker, function, *args)

    def wake_outbox(self) -> None:
        self.woken += 1

    def subscribe_changes(self) -> asyncio.Event:
        event = asyncio.Event()
        self.changes.append(event)
        return event

    def changed(self) -> None:
        """As after a handled sync batch."""
        for event in self.changes:
            event.set()

    async def run_job(self, room_id: str, job_key: str, action) -> int:
        queued = await self.in_worker(self.core.run_job, job_key, self.rooms[room_id], action)
        self.jobs.append(job_key)   # once done
        if queued:
            self.wake_outbox()
        return queued
