"""What the minutes of one séance are made from, read once from the database.

`bot.minutes.load` fills a `SeanceRecord` (the séance, its items, the people, the
attendance, the météo figures, its rencontre and the next ones…); `bot.minutes.build`
turns it into the view-model without touching the database. Everything here is
frozen plain data — no ORM object, no session — so a test writes a record by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from bot.domain.dates import When
from bot.domain.meteo import MeteoSummary
from bot.minutes.charts import SeancePoint

Fiche = tuple[tuple[str, str], ...]   # (label, value) in the minutes' order


@dataclass(frozen=True)
class PersonRecord:
    """Someone the minutes name: by their profile, else their display name, else user id."""

    user_id: str
    name: str
    details: str = ""     # "fonction ; structure" (either may be missing)
    structure: str = ""   # the profile's structure ("CE Arras"), "" without one


@dataclass(frozen=True)
class ItemRecord:
    """A captured item as stored (its latest accepted version)."""

    id: int
    event_id: str
    kind: str                       # a bot.storage.models.ItemKind value
    sender: str
    created_at: datetime
    text: str = ""
    title: str = ""
    url: str = ""
    formatted: str = ""             # the author's HTML, "" without formatting
    mood: int | None = None
    owner: str = ""                 # an action's owner: a user id or a typed name
    due_date: date | None = None
    done_at: datetime | None = None
    action_number: int | None = None
    parent_event_id: str | None = None
    topic_id: int | None = None
    structure: str = ""             # the sender's structure when captured


@dataclass(frozen=True)
class CarriedAction:
    """An action of an earlier séance of the room (kept open or done, the builder decides)."""

    item: ItemRecord
    origin: int                     # the compte rendu n° it was opened in


@dataclass(frozen=True)
class TopicRecord:
    id: int
    title: str


@dataclass(frozen=True)
class RencontreRecord:
    """The rencontre the séance was held for."""

    title: str = ""
    mode: str = ""                  # "distanciel", "presentiel", "hybride" (or as typed)
    place: str = ""
    objective: str = ""
    agenda: tuple[str, ...] = ()


@dataclass(frozen=True)
class NextRencontre:
    """One of the room's next planned dates."""

    when: When
    number: int
    title: str = ""
    mode: str = ""


@dataclass(frozen=True)
class AttendanceRecord:
    """User ids in the order of `bot.domain.attendance.attendance`; facilitators apart."""

    present: tuple[str, ...] = ()
    excused: tuple[str, ...] = ()
    facilitators: tuple[str, ...] = ()
    reasons: tuple[tuple[str, str], ...] = ()   # (user id, reason) of excused registrations


@dataclass(frozen=True)
class SeanceRecord:
    """Everything `bot.minutes.build.build` needs for one séance's minutes."""

    room_id: str
    number: int                     # compte rendu n°
    title: str
    opened_at: datetime
    closed_at: datetime | None
    timezone: str                   # the rencontre's, else the room's, else the configured one
    network_name: str = ""
    rencontre: RencontreRecord | None = None
    planned: When | None = None     # the rencontre's occurrence on the day the séance opened
    topics: tuple[TopicRecord, ...] = ()
    items: tuple[ItemRecord, ...] = ()
    carried: tuple[CarriedAction, ...] = ()
    people: tuple[PersonRecord, ...] = ()
    attendance: AttendanceRecord = AttendanceRecord()
    meteo: MeteoSummary | None = None
    next_rencontres: tuple[NextRencontre, ...] = ()   # sorted, at most MAX_NEXT_MEETINGS
    first_fiches: tuple[tuple[str, Fiche], ...] = ()  # structures speaking for the first time
    calendar_url: str = ""
    last_version: int = 0           # the latest publication's version, 0 when unpublished
    unreadable: int = 0             # encrypted messages of the séance never decrypted
    history: tuple[SeancePoint, ...] = ()             # the charts' séances, this one last


@dataclass(frozen=True)
class PeriodRecord:
    """The room's closed séances of a period, for ``!bilan``."""

    numbers: tuple[int, ...]        # compte rendu n°, in order
    points: tuple[SeancePoint, ...]
    cites: int                      # cités éducatives represented over the whole period
    actions: int                    # actions opened in these séances
    done: int                       # of which done since
