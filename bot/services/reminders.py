"""The reminders' scheduler: keeps APScheduler's wake-ups in line with the database and
sends what is due (see :mod:`bot.domain.reminders` for what is due and why exactly once).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC
from functools import partial

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger

from bot.domain.reminders import (
    DEBOUNCE_SECONDS,
    FIRST_SYNC_TIMEOUT,
    JOB_PREFIX,
    RESCAN_SECONDS,
    StaleReminder,
    load_due,
    record_skipped,
    send_reminder,
)
from bot.engine.host import Changes, ServiceHost

log = logging.getLogger(__name__)

class ReminderService:
    """Keeps the scheduler's wake-ups in line with the database and sends what is due.

    The rencontres' reminders; a subclass names other reminders by its class attributes
    (how to load what is due, record what was skipped, send one; its job-id prefix)."""

    what = "reminder"
    job_prefix = JOB_PREFIX
    load_due = staticmethod(load_due)
    record_skipped = staticmethod(record_skipped)
    send_one = staticmethod(send_reminder)
    stale = StaleReminder

    def __init__(self, host: ServiceHost, scheduler: AsyncIOScheduler | None = None):
        self.host = host
        self.scheduler = scheduler or AsyncIOScheduler(timezone=UTC)
        self.lock = asyncio.Lock()

    async def run(self) -> None:
        changes = Changes(self.host, debounce=DEBOUNCE_SECONDS)
        self.scheduler.start()
        try:
            await changes.wait(FIRST_SYNC_TIMEOUT)
            while True:
                await self._rebuild()
                await changes.wait(RESCAN_SECONDS)
        finally:
            self.scheduler.shutdown(wait=False)

    async def _rebuild(self) -> None:
        """One rebuild; a failure is logged and retried at the next one, the bot keeps running
        (the database stays the source of truth, nothing is lost)."""
        try:
            await self.sync()
        except Exception:
            log.exception("rebuilding the reminders failed; retrying at the next change")

    async def sync(self) -> None:
        """Send what is due, record what is superseded, (re)schedule the rest."""
        async with self.lock:
            now = self.host.clock()
            due = await self.host.in_worker(self.load_due, self.host.db, self.host.config, now)
            if due.skip:
                await self.host.in_worker(self.record_skipped, self.host.db, due.skip, now)
                log.info("skipped %d stale %s(s) missed while down", len(due.skip), self.what)
            for reminder in due.send:
                await self._send(reminder)
            self._schedule(due.future)

    async def _send(self, reminder) -> None:
        try:
            queued = await self.host.run_job(reminder.room_id, reminder.job_id,
                                             partial(self.send_one, reminder=reminder))
        except self.stale:
            log.info("%s %s no longer due", self.what, reminder.job_id)
            return
        if queued:
            log.info("%s %s sent", self.what, reminder.job_id)

    def _schedule(self, future: list) -> None:
        wanted = {r.job_id: r for r in future}
        for job in self.scheduler.get_jobs():
            if job.id.startswith(self.job_prefix) and job.id not in wanted:
                job.remove()
        for job_id, reminder in wanted.items():
            job = self.scheduler.get_job(job_id)
            if job is None or job.next_run_time != reminder.at:
                self.scheduler.add_job(self.sync, DateTrigger(reminder.at, timezone=UTC), id=job_id,
                                       replace_existing=True, misfire_grace_time=None)

    def job_ids(self) -> set[str]:
        return {job.id for job in self.scheduler.get_jobs() if job.id.startswith(self.job_prefix)}


async def run(host: ServiceHost) -> None:
    await ReminderService(host).run()
