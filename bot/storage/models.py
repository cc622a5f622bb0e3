"""Database models (SQLModel). The schema itself is owned by Alembic migrations.

Timestamps are real datetime columns holding UTC (``UTCDateTime``), never text:
SQLite has no time zone type, so values are stored naive-UTC and handed back aware.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from functools import cache, partial
from typing import Any, Callable, Optional, TypeVar

from sqlalchemy import JSON, Column, DateTime, LargeBinary, TypeDecorator, UniqueConstraint
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import configure_mappers
from sqlmodel import Field, SQLModel


class UTCDateTime(TypeDecorator):
    """Stores aware datetimes as UTC and returns them aware (UTC)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=timezone.utc)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


M = TypeVar("M", bound=SQLModel)


def new_row(model: type[M], **values: Any) -> M:
    """What ``model(**values)`` makes, for the rows every captured message adds (its item,
    its first version, its processed mark), about five times cheaper (issue 11). The
    instance is made as SQLAlchemy makes the rows it loads, and its fields are filled at
    once, where SQLModel's constructor assigns each of them through SQLAlchemy's and then
    pydantic's attribute machinery. Nothing is lost: SQLModel validates no table model,
    and a new row is inserted with every value its dict holds; later assignments are
    tracked as usual (tests/test_storage.py compares both ways)."""
    mapper = sa_inspect(model)
    if not mapper.configured:   # the constructor would configure the mappers first, too
        configure_mappers()
    row = mapper.class_manager.new_instance()
    defaults = _defaults(model)
    row.__dict__.update({name: make() for name, make in defaults.items() if name not in values})
    row.__dict__.update(values)
    return row


@cache
def _defaults(model: type[SQLModel]) -> dict[str, Callable[[], Any]]:
    """Each optional field of ``model`` with what makes its default (a new list each time
    for a ``default_factory``)."""
    return {name: partial(field.get_default, call_default_factory=True)
            for name, field in model.model_fields.items() if not field.is_required()}





class Room(SQLModel, table=True):
    """A room the bot has joined; history before ``joined_at`` is never captured."""

    __tablename__ = "room"
    room_id: str = Field(primary_key=True)
    joined_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    timezone: Optional[str] = Field(default=None)
    reminder_offsets: Optional[list] = Field(default=None, sa_column=Column(JSON, nullable=True))
    network_name: Optional[str] = Field(default=None)          # None: config's bot.network_name
    action_reminder_days: Optional[int] = Field(default=None)  # None: the default (2); 0: none
    action_reminder_minute: Optional[int] = Field(default=None)  # minutes after midnight; None: 9h


class ProcessedEvent(SQLModel, table=True):
    """An event already handled: handlers are idempotent on ``event_id``."""

    __tablename__ = "processed_event"
    event_id: str = Field(primary_key=True)
    room_id: str = Field(index=True)
    handled_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class UndecryptableEvent(SQLModel, table=True):
    """An encrypted event whose room key the bot does not have (yet).

    Kept with the sync batch that brought it, so moving the sync token on never loses
    it: it is decrypted and handled when its key arrives, and counted as unreadable in
    the séance summary and the minutes while it stays here.
    """

    __tablename__ = "undecryptable_event"
    event_id: str = Field(primary_key=True)
    room_id: str = Field(index=True)
    sender: str
    sent_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
    first_seen_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    event: dict = Field(sa_column=Column(JSON, nullable=False))


class Outbox(SQLModel, table=True):
    """Something to send to Matrix, recorded with its transaction id before sending.

    A resend after a crash reuses ``txn_id``; the homeserver deduplicates it
    (Client-Server API, "Transaction identifiers"), so a reply is never seen twice.
    """

    __tablename__ = "outbox"
    id: Optional[int] = Field(default=None, primary_key=True)
    room_id: str = Field(index=True)
    txn_id: str = Field(unique=True)
    event_type: str
    content: dict = Field(sa_column=Column(JSON, nullable=False))
    dm_user: Optional[str] = Field(default=None)
    file_data: Optional[bytes] = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    source_event_id: Optional[str] = Field(default=None, index=True)
    tag: str = Field(default="", index=True)    # e.g. "announce:<rencontre id>", resolved when sent
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    sent_at: Optional[datetime] = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    sent_event_id: Optional[str] = Field(default=None)
    attempts: int = Field(default=0)
    last_error: Optional[str] = Field(default=None)


class Profile(SQLModel, table=True):
    """How a member appears in the minutes: ``Mme Nom Prénom (Fonction ; Structure)``."""

    __tablename__ = "profile"
    user_id: str = Field(primary_key=True)
    full_name: str = Field(default="")
    role: str = Field(default="")              # what the person does: "Cheffe de projet"
    structure: str = Field(default="")
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class DirectRoom(SQLModel, table=True):
    """The DM room the bot uses for a user (opened once, then reused)."""

    __tablename__ = "direct_room"
    user_id: str = Field(primary_key=True)
    room_id: str


# --- rencontres (issue: scheduling, registration, reminders) ----------------------

class RencontreStatus:
    PLANNED = "planned"
    CANCELLED = "cancelled"


class Rencontre(SQLModel, table=True):
    """A scheduled meeting of the network, numbered per room (``#4``), never reused."""

    __tablename__ = "rencontre"
    __table_args__ = (UniqueConstraint("room_id", "number"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    room_id: str = Field(index=True)
    number: int
    uid: str = Field(unique=True)               # stable iCalendar UID
    title: str = Field(default="")
    mode: str = Field(default="distanciel")     # distanciel | presentiel | hybride
    place: str = Field(default="")
    link: str = Field(default="")
    objective: str = Field(default="")
    agenda: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    speakers: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    start_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    end_at: Optional[datetime] = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    all_day: bool = Field(default=False)
    timezone: str = Field(default="Europe/Paris")
    recurrence: Optional[dict] = Field(default=None, sa_column=Column(JSON, nullable=True))
    status: str = Field(default=RencontreStatus.PLANNED)
    cancel_reason: str = Field(default="")
    sequence: int = Field(default=0)            # grows with every change (iCalendar SEQUENCE)
    created_by: str = Field(default="")
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class CancelledOccurrence(SQLModel, table=True):
    """One occurrence of a repeated rencontre cancelled on its own (EXDATE)."""

    __tablename__ = "cancelled_occurrence"
    rencontre_id: int = Field(foreign_key="rencontre.id", primary_key=True)
    occurrence_start: datetime = Field(sa_column=Column(UTCDateTime(), primary_key=True))
    reason: str = Field(default="")


class RsvpStatus:
    REGISTERED = "registered"
    EXCUSED = "excused"


class Registration(SQLModel, table=True):
    """A member's answer to a rencontre: registered or excused (with a reason)."""

    __tablename__ = "registration"
    __table_args__ = (UniqueConstraint("rencontre_id", "user_id"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    rencontre_id: int = Field(foreign_key="rencontre.id", index=True)
    user_id: str
    status: str
    reason: str = Field(default="")
    reaction_event_id: Optional[str] = Field(default=None, index=True)  # set when given by reaction
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class Announcement(SQLModel, table=True):
    """A bot message announcing a rencontre: reactions on it register or excuse."""

    __tablename__ = "announcement"
    event_id: str = Field(primary_key=True)
    rencontre_id: int = Field(foreign_key="rencontre.id", index=True)


class ReminderSent(SQLModel, table=True):
    """A reminder already queued: never twice for one (rencontre, occurrence, offset)."""

    __tablename__ = "reminder_sent"
    rencontre_id: int = Field(foreign_key="rencontre.id", primary_key=True)
    occurrence_start: datetime = Field(sa_column=Column(UTCDateTime(), primary_key=True))
    offset_minutes: int = Field(primary_key=True)
    sent_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    skipped: bool = Field(default=False)        # superseded by a later reminder after downtime


# --- calendar (issue: .ics invites and feed) ---------------------------------------

class Subscriber(SQLModel, table=True):
    """Someone who receives the room's .ics invites by DM (and e-mail if given)."""

    __tablename__ = "subscriber"
    room_id: str = Field(primary_key=True)
    user_id: str = Field(primary_key=True)
    email: str = Field(default="")
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class CalendarFeed(SQLModel, table=True):
    """The room's secret feed token (≥128 bits); regenerating revokes the old one."""

    __tablename__ = "calendar_feed"
    room_id: str = Field(primary_key=True)
    token: str = Field(unique=True)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class EmailOutbox(SQLModel, table=True):
    """An e-mail to send (iTIP invite); retried later on SMTP failure, never blocking."""

    __tablename__ = "email_outbox"
    id: Optional[int] = Field(default=None, primary_key=True)
    dedup_key: str = Field(unique=True)
    recipient: str
    subject: str
    text: str
    ics: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    method: str
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    sent_at: Optional[datetime] = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    attempts: int = Field(default=0)
    next_attempt_at: Optional[datetime] = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    last_error: Optional[str] = Field(default=None)


# --- séance (issue: capture) --------------------------------------------------------

class SeanceStatus:
    OPEN = "open"
    CLOSED = "closed"


class Seance(SQLModel, table=True):
    """A meeting being captured (or captured) in a room; ``number`` is its CR number."""

    __tablename__ = "seance"
    id: Optional[int] = Field(default=None, primary_key=True)
    room_id: str = Field(index=True)
    number: int                                 # "Compte rendu n°N", per room
    rencontre_id: Optional[int] = Field(default=None, foreign_key="rencontre.id")
    title: str = Field(default="")
    status: str = Field(default=SeanceStatus.OPEN)
    opened_by: str = Field(default="")
    opened_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    closed_at: Optional[datetime] = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    current_topic_id: Optional[int] = Field(default=None)


class Topic(SQLModel, table=True):
    """An agenda item (point) of a séance, in order."""

    __tablename__ = "topic"
    id: Optional[int] = Field(default=None, primary_key=True)
    seance_id: int = Field(foreign_key="seance.id", index=True)
    position: int
    title: str
    started_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class ItemKind:
    """What a captured item is. The names are English; the values are stored in the
    database (and in exported data) and keep the words the network types."""
    METEO = "meteo"
    LOCAL_NEWS = "actu_locale"
    NATIONAL_NEWS = "actu_nationale"
    REGIONAL_NEWS = "actu_regionale"
    INFO = "info"
    SHARED_EXPERIENCE = "partage"
    ACTION = "action"
    RESOURCE = "ressource"
    QUESTION = "question"
    DECISION = "decision"
    DISCUSSION = "discussion"


class Item(SQLModel, table=True):
    """One captured thing of a séance, tied to the Matrix event that created it."""

    __tablename__ = "item"
    id: Optional[int] = Field(default=None, primary_key=True)
    seance_id: int = Field(foreign_key="seance.id", index=True)
    topic_id: Optional[int] = Field(default=None)
    kind: str = Field(index=True)
    event_id: str = Field(unique=True)          # the message that created it
    sender: str
    text: str = Field(default="")
    # Element's formatted_body (org.matrix.custom.html) of a plain message, "" without one;
    # read by bot.support.richtext, which keeps only safe formatting.
    formatted: str = Field(default="")
    title: str = Field(default="")              # partage title
    url: str = Field(default="")                # partage / ressource link
    mood: Optional[int] = Field(default=None)   # météo 1..5
    structure: str = Field(default="")          # sender's structure when captured (actu locale)
    owner: str = Field(default="")              # action: user id, or a free name
    due_date: Optional[date] = Field(default=None)
    parent_event_id: Optional[str] = Field(default=None, index=True)  # reply/thread root
    action_number: Optional[int] = Field(default=None)   # per room, for "!action fait <k>"
    done_at: Optional[datetime] = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    edited_at: Optional[datetime] = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))


class ItemEdit(SQLModel, table=True):
    """Edit history: the item's first version and every accepted ``m.replace`` of it."""

    __tablename__ = "item_edit"
    event_id: str = Field(primary_key=True)     # the edit event
    item_event_id: str = Field(index=True)      # the original message
    text: str
    edited_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    # Who the version mentions (m.mentions.user_ids) and its HTML: an Element pill leaves
    # only a name in ``text``, so re-reading a version needs both to find an action's owner.
    mentions: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    formatted_body: str = ""


class Attendance(SQLModel, table=True):
    """A séance participant: who took part, and facilitators' corrections."""

    __tablename__ = "attendance"
    seance_id: int = Field(foreign_key="seance.id", primary_key=True)
    user_id: str = Field(primary_key=True)
    present: bool = Field(default=True)
    corrected: bool = Field(default=False)      # set by !presence: wins over activity
    first_seen_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


# --- compte-rendu (issue: minutes) ---------------------------------------------------

class Publication(SQLModel, table=True):
    """A published version of a séance's minutes (kept for the web archive)."""

    __tablename__ = "publication"
    __table_args__ = (UniqueConstraint("seance_id", "version"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    seance_id: int = Field(foreign_key="seance.id", index=True)
    version: int
    published_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    published_by: str = Field(default="")
    markdown: str
    html: str
    docx: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    # None for versions published before PDF existed: the archive renders those from `html`.
    pdf: Optional[bytes] = Field(default=None, sa_column=Column(LargeBinary, nullable=True))


class SetAsideEvent(SQLModel, table=True):
    """An event whose handling failed the same way several times in a row (a bug, not an
    outage), set aside so it cannot block the events after it. Kept with its text to be
    reported (log, and the séance summary when it was said during a séance), never
    silently dropped."""

    __tablename__ = "set_aside_event"
    event_id: str = Field(primary_key=True)
    room_id: str = Field(index=True)
    seance_id: Optional[int] = Field(default=None, index=True)
    sender: str
    body: str = Field(default="")
    error: str = Field(default="")
    set_aside_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


# --- network (issue #12: actions follow-up, date polls, fiches) ----------------------

class ActionReminderSent(SQLModel, table=True):
    """An action reminder already handled: never twice for one (action, due date, kind).

    ``kind`` is "before" (N days before the due date) or "day" (on the day); the due
    date is part of the key, so moving the due date re-arms both reminders."""

    __tablename__ = "action_reminder_sent"
    item_id: int = Field(foreign_key="item.id", primary_key=True)
    due_date: date = Field(primary_key=True)
    kind: str = Field(primary_key=True)
    sent_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    skipped: bool = Field(default=False)        # superseded by a later reminder after downtime


class PollStatus:
    OPEN = "open"
    CLOSED = "closed"


class Poll(SQLModel, table=True):
    """A date poll posted as a native Matrix poll (MSC3381); ``options`` are its
    candidate dates: ``{"id", "start", "end", "all_day"}`` (instants in UTC, ISO)."""

    __tablename__ = "poll"
    id: Optional[int] = Field(default=None, primary_key=True)
    room_id: str = Field(index=True)
    question: str
    timezone: str
    options: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    start_event_id: Optional[str] = Field(default=None, index=True)   # learnt when sent
    status: str = Field(default=PollStatus.OPEN)
    created_by: str = Field(default="")
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    closed_at: Optional[datetime] = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    rencontre_id: Optional[int] = Field(default=None)   # planned from it


class PollVote(SQLModel, table=True):
    """One poll response event; the latest per person (by server time) counts."""

    __tablename__ = "poll_vote"
    event_id: str = Field(primary_key=True)
    poll_event_id: str = Field(index=True)
    sender: str
    answers: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    sent_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class Fiche(SQLModel, table=True):
    """One version of a cité éducative's fiche; the latest per ``key`` is current
    (every version is kept: the history)."""

    __tablename__ = "fiche"
    id: Optional[int] = Field(default=None, primary_key=True)
    key: str = Field(index=True)                # normalised structure name
    structure: str                              # as typed the last time
    fields: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    edited_by: str = Field(default="")
    edited_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
