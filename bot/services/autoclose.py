"""The séance that closes itself: checks every minute and after every sync batch which
open séances are past their closing time (:func:`bot.domain.seance.autoclose_at`) and
closes each through a job keyed ``autoclose:<séance id>``, so exactly once.
"""

from __future__ import annotations

import logging
from functools import partial

from bot.domain.seance import AUTOCLOSE_JOB, CHECK_SECONDS, close_by_itself, due_for_closing
from bot.engine.host import Changes, ServiceHost

log = logging.getLogger(__name__)


async def autoclose(host: ServiceHost) -> None:
    changes = Changes(host)
    # Room state (display names, power levels) is only known after the first sync:
    # closing before it would post a summary with bare user ids.
    await changes.wait()
    while True:
        try:
            due = await host.in_worker(due_for_closing, host.db, host.config, host.clock())
        except Exception as error:  # the database away: the bot goes on, retried next check
            log.warning("checking séances to auto-close failed, retrying later: %s", error)
            due = []
        for room_id, seance_id in due:
            try:
                await host.run_job(room_id, f"{AUTOCLOSE_JOB}:{seance_id}",
                                   partial(close_by_itself, seance_id))
            except Exception:  # one bad séance must not stop the bot: retried next check
                log.exception("auto-closing séance %s failed", seance_id)
        await changes.wait(CHECK_SECONDS)

