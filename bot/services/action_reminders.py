"""The action reminders' scheduler: the rencontres' reminder service
(:class:`bot.services.reminders.ReminderService`) over actions; what is due and why
exactly once is :mod:`bot.domain.action_reminders`.
"""

from __future__ import annotations

from bot.domain.action_reminders import (
    JOB_PREFIX,
    StaleActionReminder,
    load_due,
    record_skipped,
    send_action_reminder,
)
from bot.engine.host import ServiceHost
from bot.services.reminders import ReminderService


class ActionReminderService(ReminderService):
    """The rencontres' reminder service (its wait loop, rebuild and scheduling rules), over
    actions."""

    what = "action reminder"
    job_prefix = JOB_PREFIX
    load_due = staticmethod(load_due)
    record_skipped = staticmethod(record_skipped)
    send_one = staticmethod(send_action_reminder)
    stale = StaleActionReminder


async def run(host: ServiceHost) -> None:
    await ActionReminderService(host).run()
