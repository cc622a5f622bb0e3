"""Chat commands: one module per group, each declaring its commands in the registry.

Importing this package registers every command (see :mod:`bot.engine.registry`).
"""

from bot.engine.registry import REGISTRY, PermissionDenied, UsageError  # noqa: F401
from commands import (  # noqa: F401  # noqa: F401
    actions,  # noqa: F401
    aide,
    bilan,  # noqa: F401
    calendrier,  # noqa: F401
    cr,  # noqa: F401
    fiche,  # noqa: F401
    items,
    profil,
    rencontres,  # noqa: F401
    salon,  # noqa: F401
    seance,
    sondage,  # noqa: F401
)
