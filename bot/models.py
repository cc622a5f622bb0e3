"""Database models (SQLModel). The schema itself is owned by Alembic migrations.

Timestamps are real datetime columns holding UTC (``UTCDateTime``), never text:
SQLite has no time zone type, so values are stored naive-UTC and handed back aware.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Optional

from sqlalchemy import JSON, Column, DateTime, LargeBinary, TypeDecorator
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





class Room(SQLModel, table=True):
    """A room the bot has joined; history before ``joined_at`` is never captured."""

    __tablename__ = "room"
    room_id: str = Field(primary_key=True)
    joined_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    encrypted_notice_sent: bool = Field(default=False)
    timezone: Optional[str] = Field(default=None)


class ProcessedEvent(SQLModel, table=True):
    """An event already handled: handlers are idempotent on ``event_id``."""

    __tablename__ = "processed_event"
    event_id: str = Field(primary_key=True)
    room_id: str = Field(index=True)
    handled_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


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
    fonction: str = Field(default="")
    structure: str = Field(default="")
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class DirectRoom(SQLModel, table=True):
    """The DM room the bot uses for a user (opened once, then reused)."""

    __tablename__ = "direct_room"
    user_id: str = Field(primary_key=True)
    room_id: str
