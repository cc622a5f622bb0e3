"""Where the application is assembled: the commands, the core and the background services.

Nothing registers itself by being imported. Every module of the ``commands`` package is
discovered here and its marked functions (``@command``, ``@subcommand``, ``@listen``,
``@receives``: see :mod:`bot.engine.registry`) make the registry the core is given; a
module that declares no command stops the start-up, naming it. A service that is not
listed here does not run, and one listed here always does; so for the hooks that learn
the event id of a sent outbox row. The runtime and the tests
build the core with the same :func:`build_core`.
"""

from __future__ import annotations

import importlib
import pkgutil
from datetime import datetime
from types import ModuleType
from typing import Callable

import commands
from bot.calendar import mailer
from bot.domain import polls, rencontres
from bot.domain.seance import set_aside
from bot.engine.core import Core
from bot.engine.outbox import SentHook
from bot.engine.registry import Registry
from bot.engine.host import Service
from bot.services import action_reminders, autoclose, http, reminders
from bot.storage.db import Database
from bot.storage.models import utcnow
from bot.support.config import Config

SERVICES: tuple[Service, ...] = (
    reminders.run,
    action_reminders.run,
    autoclose.autoclose,
    http.run,
    mailer.run,
)

# What learns the event id of a tagged outbox row once sent, by tag prefix.
SENT_HOOKS: dict[str, SentHook] = {
    rencontres.ANNOUNCE_TAG: rencontres.remember_announcement,
    polls.POLL_TAG: polls.remember_start,
}


def command_modules() -> list[ModuleType]:
    """Every module of the ``commands`` package (a new file is found without any other
    edit), each after the command modules it uses: the order ``!aide`` lists them in."""
    names = sorted(f"{commands.__name__}.{found.name}"
                   for found in pkgutil.iter_modules(commands.__path__))
    return _dependencies_first([importlib.import_module(name) for name in names])


def _dependencies_first(modules: list[ModuleType]) -> list[ModuleType]:
    """``modules`` in order, each moved after the ones it imports (as Python imported them)."""
    by_name = {module.__name__: module for module in modules}
    ordered: dict[str, ModuleType] = {}
    seen: set[str] = set()

    def visit(module: ModuleType) -> None:
        if module.__name__ in seen:
            return
        seen.add(module.__name__)
        for name in _uses(module, by_name):
            visit(by_name[name])
        ordered[module.__name__] = module

    for module in modules:
        visit(module)
    return list(ordered.values())


def _uses(module: ModuleType, names: dict[str, ModuleType]) -> list[str]:
    """The other modules among ``names`` that ``module`` imports, or imports from."""
    used: list[str] = []
    for value in vars(module).values():
        name = value.__name__ if isinstance(value, ModuleType) else getattr(value, "__module__", None)
        if isinstance(name, str) and name in names and name != module.__name__ and name not in used:
            used.append(name)
    return used


def build_registry() -> Registry:
    """The registry of every command module; raises ``NoCommandDeclared`` (naming the
    module) when one declares no command."""
    return Registry.from_modules(command_modules())


def build_core(config: Config, db: Database, bot_user_id: str, registry: Registry | None = None,
               clock: Callable[[], datetime] = utcnow) -> Core:
    """The core with the commands (``registry``, else a new one of every command module)
    and the domain's bookkeeping of the events it sets aside."""
    return Core(config, db, bot_user_id, registry or build_registry(), set_aside, clock=clock)
