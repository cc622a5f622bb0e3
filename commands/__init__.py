"""Chat commands: one module per group, each declaring its commands in the registry.

Importing this package registers every command (see :mod:`commands.registry`).
"""

from commands import aide, profil  # noqa: F401
from commands import items, seance  # noqa: F401
from commands import rencontres  # noqa: F401
from commands import calendrier  # noqa: F401
from commands import cr  # noqa: F401
from commands import bilan  # noqa: F401
from commands import salon  # noqa: F401
from commands import actions  # noqa: F401
from commands import sondage  # noqa: F401
from commands import fiche  # noqa: F401
from commands.registry import REGISTRY, PermissionDenied, UsageError  # noqa: F401
