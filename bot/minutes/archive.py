"""The published versions of a séance's minutes (table ``publication``, served by the web
archive, ``bot.services.http``): their numbers, storing a new one, its address.

Blocking (database): call it from the worker thread.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlmodel import Session, col, select

from bot.minutes.build import Version, following_version
from bot.storage.models import CalendarFeed, Publication, Seance
from bot.support.config import Config

if TYPE_CHECKING:   # bot.minutes.export reads the publications: no import cycle
    from bot.minutes.export import Documents


def latest_publication(session: Session, seance: Seance) -> Publication | None:
    return session.exec(select(Publication).where(Publication.seance_id == seance.id)
                        .order_by(col(Publication.version).desc())).first()


def next_version(session: Session, seance: Seance, now: datetime) -> Version:
    """The version a publication made ``now`` would get."""
    last = latest_publication(session, seance)
    return following_version(last.version if last else 0, now)


def store_publication(session: Session, seance: Seance, version: Version, documents: Documents,
                      published_by: str, now: datetime) -> None:
    """Keep this version of the minutes, every format, for the web archive."""
    session.add(Publication(seance_id=seance.id, version=version.number, published_at=now,
                            published_by=published_by, markdown=documents.markdown,
                            html=documents.html, docx=documents.docx, pdf=documents.pdf))
    session.flush()


def archive_url(session: Session, config: Config, room_id: str, number: int, version: int) -> str:
    """The publication in the web archive, when the room has a feed token."""
    feed = session.get(CalendarFeed, room_id)
    if feed is None:
        return ""
    return f"{config.http.public_url}/minutes/{feed.token}/{number}/{version}.html"
