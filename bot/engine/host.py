"""What a background service sees of the runtime: its host, and how it waits.

A service (reminders, HTTP feed, e-mail, … in ``bot/services/`` and the mailer in
``bot/calendar/``) is an ``async def run(host: ServiceHost)``; the application's wiring
(:mod:`bot.app.wiring`) lists them, the runtime starts each after login and cancels
them on stop. Services talk to the database only through ``host.in_worker`` and send
Matrix messages only by adding outbox rows, then ``host.wake_outbox()``; they wait for
a change or a timeout with :class:`Changes`.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Protocol, TypeVar

from bot.support.config import Config

if TYPE_CHECKING:   # the runtime imports this module before the database stack (bot.app.runtime)
    from bot.storage.db import Database

T = TypeVar("T")


class ServiceHost(Protocol):
    config: Config
    db: Database
    bot_user_id: str

    def clock(self) -> datetime: ...
    async def in_worker(self, function: Callable[..., T], *args: Any) -> T: ...
    def wake_outbox(self) -> None: ...
    def subscribe_changes(self) -> asyncio.Event: ...
    async def run_job(self, room_id: str, job_key: str, action: Callable[..., None]) -> int: ...


Service = Callable[[ServiceHost], Awaitable[None]]


async def wait_event(event: asyncio.Event, timeout: float) -> bool:
    """Wait until ``event`` is set (True) or ``timeout`` seconds pass (False).

    Every service loop waits with this, never with ``asyncio.wait_for(event.wait())``:
    on Python 3.11 that one returns normally when a cancellation arrives in the same loop
    turn as the event (CPython gh-86296, fixed in 3.12), so a stop request could be swallowed and the loop
    run on. ``asyncio.timeout`` counts cancellations and always lets ours through."""
    try:
        async with asyncio.timeout(timeout):
            await event.wait()
        return True
    except TimeoutError:
        return False



class Changes:
    """A service's view of the runtime's changes (``host.subscribe_changes``): every
    service loop is "work, then wait for a change or a timeout" with this.

    :meth:`wait` forgets what was signalled before it returns, so a change made while
    the service then works wakes the next wait at once (nothing is missed); ``debounce``
    lets a burst of changes (a command, then its edit…) settle into one wake-up."""

    def __init__(self, host: ServiceHost, debounce: float = 0.0):
        self.event = host.subscribe_changes()
        self.debounce = debounce

    async def wait(self, timeout: float | None = None) -> bool:
        """Until a change (True) or ``timeout`` seconds (False; None: no limit)."""
        if timeout is None:
            await self.event.wait()
            changed = True
        else:
            changed = await wait_event(self.event, timeout)
        if changed and self.debounce:
            await asyncio.sleep(self.debounce)
        self.event.clear()
        return changed
