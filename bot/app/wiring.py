"""Where the application is assembled: the background services the runtime starts.

Nothing registers itself by being imported: a service that is not listed here does
not run, and one listed here always does.
"""

from __future__ import annotations

from bot.calendar import mailer
from bot.engine.services import Service
from bot.services import action_reminders, autoclose, http, reminders

SERVICES: tuple[Service, ...] = (
    reminders.run,
    action_reminders.run,
    autoclose.autoclose,
    http.run,
    mailer.run,
)
