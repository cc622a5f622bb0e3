"""The minutes as files (names, media types, bytes) and ``maillage export``.

`!cr publier` posts these files in the room; ``maillage export`` writes one of
them from the database alone, offline: no homeserver, so no display names (members
without a profile appear by user id) and no room aliases (give the room id).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import jinja2
from sqlmodel import Session

from bot.minutes.archive import latest_publication
from bot.minutes.build import Version
from bot.minutes.charts import Chart
from bot.minutes.docx import render_docx
from bot.minutes.load import build_view, seance_by_number, seance_of_rencontre
from bot.minutes.pdf import render_pdf
from bot.minutes.render import render_html, render_markdown, with_charts
from bot.minutes.view import MinutesView
from bot.storage.db import Database, current_revision, head_revision
from bot.storage.models import Seance, SeanceStatus, utcnow
from bot.support.config import Config
from bot.support.templating import template_env

FORMATS = ("md", "html", "docx", "pdf")
MEDIA_TYPES = {
    "md": "text/markdown",
    "html": "text/html",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "pdf": "application/pdf",
}


@dataclass(frozen=True)
class Documents:
    """One compte-rendu in every format (what a Publication stores)."""

    markdown: str
    html: str
    docx: bytes
    pdf: bytes | None  # None when not asked for (the archive prints it from the HTML then)
    charts: tuple[Chart, ...] = ()  # drawn from the second séance on (posted as images)

    def data(self, fmt: str) -> bytes:
        return {"md": self.markdown.encode("utf-8"), "html": self.html.encode("utf-8"),
                "docx": self.docx, "pdf": self.pdf}[fmt]


def minutes_env(config: Config) -> jinja2.Environment:
    """The templates, with the overrides of ``[minutes] templates_dir``."""
    return template_env(config.minutes.templates_dir)


def render_documents(view: MinutesView, env: jinja2.Environment, pdf: bool = True) -> Documents:
    """Every format (the archive keeps them), with the charts. Blocking: call it from the
    worker thread. The PDF is the slow one (about 11 s for 2,000 messages): without
    ``pdf`` it is left out."""
    view = with_charts(view)
    html = render_html(view, env)
    charts = tuple(c for c in (view.meteo_chart, view.participation_chart) if c is not None)
    return Documents(render_markdown(view, env), html, render_docx(view),
                     render_pdf(html) if pdf else None, charts)


def render_format(view: MinutesView, fmt: str, env: jinja2.Environment) -> bytes:
    """Only the format asked for (the others are not rendered)."""
    if fmt == "md":
        return render_markdown(view, env).encode("utf-8")
    view = with_charts(view)
    if fmt == "html":
        return render_html(view, env).encode("utf-8")
    if fmt == "pdf":
        return render_pdf(render_html(view, env))
    return render_docx(view)


def file_name(number: int, fmt: str, version: int | None = None) -> str:
    """ "compte-rendu-4-v2.docx" (as in the web archive); a draft has no version."""
    suffix = f"-v{version}" if version else "-projet"
    return f"compte-rendu-{number}{suffix}.{fmt}"


# --- maillage export ---------------------------------------------------------------------------


class ExportError(Exception):
    """Why nothing was written; the message is for the operator."""


def _open_database(config: Config) -> Database:
    """The configured database, which must exist and be at the current schema."""
    url = config.database.url
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file():
        raise ExportError(f"no database at {url.removeprefix('sqlite:///')} (database.url)")
    database = Database(url)
    revision = current_revision(database.engine)
    if revision != head_revision():
        database.dispose()
        raise ExportError(f"the database schema is {revision or 'empty'}, not {head_revision()}: "
                          "run `maillage db upgrade` first")
    return database


def find_seance(session: Session, room_id: str, rencontre: int | None, seance: int | None) -> Seance:
    """The séance of rencontre #n, or séance (compte rendu) n°N."""
    if not room_id.startswith("!"):
        raise ExportError(f"{room_id!r} is not a room id: aliases cannot be resolved offline; "
                          "give the id (!…:server, in Element: room settings, Advanced)")
    if rencontre is not None:
        found = seance_of_rencontre(session, room_id, rencontre)
        what = f"rencontre #{rencontre}"
    else:
        found = seance_by_number(session, room_id, seance) if seance is not None else None
        what = f"séance n°{seance}"
    if found is None:
        raise ExportError(f"no séance for {what} in room {room_id}")
    return found


def published_version(session: Session, seance: Seance) -> Version:
    """The export carries the number of the latest publication, if any."""
    last = latest_publication(session, seance)
    return Version(last.version, last.published_at) if last else Version(1)


def export_minutes(config: Config, room_id: str, fmt: str, *, rencontre: int | None = None,
                   seance: int | None = None, now: datetime | None = None) -> bytes:
    """The minutes of one séance in ``fmt``, built from the database; an open séance is a draft."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}: md, html, docx or pdf")
    database = _open_database(config)
    try:
        with database.session() as session:
            found = find_seance(session, room_id, rencontre, seance)
            view = build_view(session, found, config, None, now or utcnow(),
                              draft=found.status == SeanceStatus.OPEN,
                              version=published_version(session, found))
            return render_format(view, fmt, minutes_env(config))
    finally:
        database.dispose()


def format_for(path: Path, fmt: str | None) -> str:
    """The format asked for, else the output file's suffix, else Markdown."""
    if fmt:
        return fmt
    suffix = path.suffix.lower().lstrip(".")
    return suffix if suffix in FORMATS else "md"


def export_to_file(config: Config, room_id: str, fmt: str | None, output: Path, *,
                   rencontre: int | None = None, seance: int | None = None) -> Path:
    data = export_minutes(config, room_id, format_for(output, fmt), rencontre=rencontre, seance=seance)
    try:
        output.write_bytes(data)
    except OSError as error:
        raise ExportError(f"cannot write {output}: {error.strerror}") from None
    return output
