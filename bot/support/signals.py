"""In-process signals between command groups, so modules stay decoupled.

Example: the rencontres module sends ``rencontre_changed`` after a create, change or
cancel; its receiver in ``commands/calendrier.py`` has ``bot.calendar.invites`` deliver
the ``.ics`` invites. Likewise ``seance_closed`` (sent by the séance's domain, whatever
closed it) has ``bot.minutes.draft`` post the draft minutes. Receivers run synchronously
inside the same transaction (and Context) as the sender.

A signal holds no receivers: they are declared with ``@receives(signal)``
(:mod:`bot.engine.registry`) and held by the registry the application's wiring builds;
``send`` runs those of the registry its Context carries. Nothing connects by being imported.
"""

from __future__ import annotations

from typing import Any


class Signal:
    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return f"Signal({self.name!r})"

    def send(self, ctx: Any, *args: Any, **kwargs: Any) -> None:
        """Run ``receiver(ctx, *args, **kwargs)`` for each receiver of this signal in
        ``ctx.registry``, in the order they were declared."""
        for receiver in ctx.registry.receivers_of(self):
            receiver(ctx, *args, **kwargs)


# send(ctx, rencontre: Rencontre, change: str) with change in
# "created" | "modified" | "cancelled" | "occurrence_cancelled" (kwargs: occurrence_start=datetime)
rencontre_changed = Signal("rencontre_changed")

# send(ctx, seance: Seance) after a séance was closed, by command or automatically.
seance_closed = Signal("seance_closed")
