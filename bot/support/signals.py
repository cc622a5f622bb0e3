"""In-process signals between command groups, so modules stay decoupled.

Example: the rencontres module sends ``rencontre_changed`` after a create, change or
cancel; the calendar module listens and delivers the ``.ics`` invites. Receivers run
synchronously inside the same transaction (and Context) as the sender.
"""

from __future__ import annotations

from typing import Any, Callable


class Signal:
    def __init__(self, name: str):
        self.name = name
        self.receivers: list[Callable[..., None]] = []

    def connect(self, receiver: Callable[..., None]) -> Callable[..., None]:
        """Register a receiver (usable as a decorator); registering twice is a no-op."""
        if receiver not in self.receivers:
            self.receivers.append(receiver)
        return receiver

    def send(self, *args: Any, **kwargs: Any) -> None:
        for receiver in self.receivers:
            receiver(*args, **kwargs)


# send(ctx, rencontre: Rencontre, change: str) with change in
# "created" | "modified" | "cancelled" | "occurrence_cancelled" (kwargs: occurrence_start=datetime)
rencontre_changed = Signal("rencontre_changed")

# send(ctx, seance: Seance) after a séance was closed, by command or automatically.
seance_closed = Signal("seance_closed")

# send(session, tag_value: str, event_id: str): an outbox row tagged "<prefix>:<value>" was sent.
# Receivers are looked up by prefix in ``sent_hooks``.
sent_hooks: dict[str, Callable[..., None]] = {}
