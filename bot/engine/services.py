"""Background services run next to the sync loop (reminders, HTTP feed, e-mail, …).

A service is an ``async def run(host: ServiceHost)``; the application's wiring
(:mod:`bot.app.wiring`) lists them, the runtime starts each after login and cancels
them on stop. Services
talk to the database only through ``host.in_worker`` and send Matrix messages only
by adding outbox rows, then ``host.wake_outbox()``.
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

