"""The bot's small web server: each room's calendar feed and its minutes archive.

    GET /calendar/<token>.ics                          the room's rencontres (iCalendar feed)
    GET /minutes/<token>/                              index of the published minutes
    GET /minutes/<token>/<séance n°>/<version>.<ext>   one version, ext = md | html | docx | pdf

The token is the room's secret (``CalendarFeed``); an unknown one gets a bare 404.
Responses carry an ETag (hash of the body) and Last-Modified and honour
If-None-Match / If-Modified-Since with 304, so calendar apps poll cheaply.
The server binds only to ``[http] host``; the access log is off because every
URL holds a secret token, and aiohttp's own error log goes through a filter that
masks the token of any feed or archive path and turns a malformed request (client
garbage: oversize request line, bad header…) into one line without traceback.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime

from aiohttp import web
from aiohttp.helpers import ETAG_ANY
from aiohttp.http_exceptions import HttpProcessingError
from markupsafe import Markup, escape
from sqlmodel import col, select

from bot.calendar.invites import Feed, feed_for_token, find_feed
from bot.domain.dates import format_date_fr
from bot.engine.host import ServiceHost
from bot.minutes.pdf import render_pdf
from bot.storage.models import Publication, Seance

log = logging.getLogger(__name__)

# aiohttp's server errors (bad requests, handler crashes) are logged here, filtered.
server_log = logging.getLogger(__name__ + ".server")
TOKEN_IN_PATH = re.compile(r"(/(?:calendar|minutes)/)[^/\s'\"\\]+")

HOST_KEY = web.AppKey("host", ServiceHost)
BIND_RETRY_SECONDS = 60
CALENDAR_TYPE = "text/calendar; charset=utf-8"
MINUTES_TYPES = {
    "md": "text/markdown; charset=utf-8",
    "html": "text/html; charset=utf-8",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "pdf": "application/pdf",
}
COMMON_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",      # links in the minutes must not leak the token
    "Cache-Control": "private, no-cache",  # revalidate (cheaply, with the ETag) each time
}
# The minutes are self-contained HTML with an inline style sheet and nothing to run.
HTML_HEADERS = {"Content-Security-Policy":
                "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'"}


# --------------------------------------------------------------------------- responses


def _not_modified(request: web.Request, etag: str, last_modified: datetime | None) -> bool:
    """RFC 9110 §13.2.2: If-None-Match wins; If-Modified-Since only without it."""
    tags = request.if_none_match
    if tags is not None:
        return any(tag.value in (etag, ETAG_ANY) for tag in tags)
    since = request.if_modified_since
    return since is not None and last_modified is not None \
        and last_modified.replace(microsecond=0) <= since


def respond(request: web.Request, body: bytes, content_type: str, last_modified: datetime | None,
            headers: dict[str, str] | None = None) -> web.Response:
    """200 with validators, or 304 when the client's copy is current."""
    etag = hashlib.sha256(body).hexdigest()[:32]
    all_headers = {**COMMON_HEADERS, **(headers or {}), "ETag": f'"{etag}"'}
    if last_modified is not None:
        all_headers["Last-Modified"] = format_datetime(last_modified, usegmt=True)
    if _not_modified(request, etag, last_modified):
        return web.Response(status=304, headers=all_headers)
    return web.Response(body=body, headers={**all_headers, "Content-Type": content_type})


def not_found() -> web.Response:
    """The same bare answer for every unknown token or file: it tells nothing."""
    return web.Response(status=404, body=b"", headers=COMMON_HEADERS)


@web.middleware
async def same_not_found(request: web.Request, handler) -> web.StreamResponse:
    """Unknown paths answer exactly like unknown tokens: no way to tell them apart."""
    try:
        return await handler(request)
    except web.HTTPNotFound:
        return not_found()


# --------------------------------------------------------------------------- queries (worker)


@dataclass(frozen=True)
class Listing:
    number: int
    title: str
    version: int
    published_at: datetime


def _feed(host: ServiceHost, token: str) -> Feed | None:
    with host.db.session() as session:
        return feed_for_token(session, host.config, token, host.bot_user_id, host.clock())


def _publications(room_id: str):
    return (select(Publication, Seance).join(Seance, col(Seance.id) == col(Publication.seance_id))
            .where(Seance.room_id == room_id))


def _listing(host: ServiceHost, token: str) -> list[Listing] | None:
    with host.db.session() as session:
        feed = find_feed(session, token)
        if feed is None:
            return None
        query = _publications(feed.room_id).order_by(
            col(Seance.number).desc(), col(Publication.version).desc())
        return [Listing(s.number, s.title, p.version, p.published_at) for p, s in session.exec(query)]


def _publication(host: ServiceHost, token: str, number: int, version: int) -> Publication | None:
    with host.db.session() as session:
        feed = find_feed(session, token)
        if feed is None:
            return None
        query = _publications(feed.room_id).where(
            Seance.number == number, Publication.version == version)
        found = session.exec(query).first()
        return found[0] if found else None


# --------------------------------------------------------------------------- handlers


def _host(request: web.Request) -> ServiceHost:
    return request.app[HOST_KEY]


async def calendar_feed(request: web.Request) -> web.Response:
    host = _host(request)
    feed = await host.in_worker(_feed, host, request.match_info["token"])
    if feed is None:
        return not_found()
    return respond(request, feed.body, CALENDAR_TYPE, feed.last_modified)


def _index_row(item: Listing, tz) -> Markup:
    base = f"{item.number}/{item.version}"
    links = Markup(" · ").join(Markup('<a href="{}.{}">{}</a>').format(base, ext, ext)
                               for ext in MINUTES_TYPES)
    day = format_date_fr(item.published_at.astimezone(tz).date())
    return Markup("<tr><td>n°{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>").format(
        item.number, item.title, item.version, day, links)


def index_html(network: str, items: list[Listing], tz) -> bytes:
    """The archive's index page; every value is escaped by Markup.format."""
    rows = Markup("\n").join(_index_row(item, tz) for item in items)
    empty = Markup("<p>Aucun compte rendu publié pour l'instant.</p>") if not items else ""
    page = Markup(
        '<!DOCTYPE html>\n<html lang="fr">\n<head><meta charset="utf-8">'
        "<title>Comptes rendus — {network}</title>"
        "<style>body{{font-family:sans-serif;margin:2em}}td,th{{padding:.3em .8em;"
        "text-align:left}}</style></head>\n<body>\n<h1>Comptes rendus — {network}</h1>\n{empty}"
        "<table>\n<tr><th>Compte rendu</th><th>Rencontre</th><th>Version</th><th>Publié le</th>"
        "<th>Fichiers</th></tr>\n{rows}\n</table>\n</body>\n</html>\n"
    ).format(network=escape(network), empty=empty, rows=rows)
    return str(page).encode("utf-8")


async def minutes_index(request: web.Request) -> web.Response:
    host = _host(request)
    items = await host.in_worker(_listing, host, request.match_info["token"])
    if items is None:
        return not_found()
    body = index_html(host.config.bot.network_name, items, host.config.bot.tz)
    last = max((item.published_at for item in items), default=None)
    return respond(request, body, MINUTES_TYPES["html"], last, HTML_HEADERS)


async def minutes_slash(request: web.Request) -> web.Response:
    raise web.HTTPMovedPermanently(f"{request.match_info['token']}/", headers=COMMON_HEADERS)


async def minutes_file(request: web.Request) -> web.Response:
    host = _host(request)
    info = request.match_info
    number, version, ext = int(info["number"]), int(info["version"]), info["ext"]
    found = await host.in_worker(_publication, host, info["token"], number, version)
    if found is None:
        return not_found()
    if ext == "pdf":  # versions published before PDF existed: printed from their HTML
        body = found.pdf if found.pdf is not None else await host.in_worker(render_pdf, found.html)
    else:
        body = {"md": found.markdown.encode("utf-8"), "html": found.html.encode("utf-8"),
                "docx": found.docx}[ext]
    disposition = "attachment" if ext == "docx" else "inline"
    headers = {"Content-Disposition":
               f'{disposition}; filename="compte-rendu-{number}-v{version}.{ext}"'}
    if ext == "html":
        headers.update(HTML_HEADERS)
    return respond(request, body, MINUTES_TYPES[ext], found.published_at, headers)


# --------------------------------------------------------------------------- server


def mask_tokens(text: str) -> str:
    """``/calendar/<token>.ics`` → ``/calendar/***`` (and the same for ``/minutes/``)."""
    return TOKEN_IN_PATH.sub(r"\1***", text)


class ServerLogFilter(logging.Filter):
    """For aiohttp's server log: no secret token, no traceback for client garbage.

    aiohttp logs a malformed request with the raw bytes it read (the request line, so
    the token) and a traceback; that is the client's problem, worth one line at most."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        message = record.getMessage()
        if isinstance(error, HttpProcessingError):
            detail = " ".join(str(error).split())   # aiohttp's text spans lines
            message = f"{message}: bad request ({type(error).__name__}: {detail})"
            record.exc_info, record.exc_text = None, None
            record.levelno, record.levelname = logging.INFO, "INFO"
        elif record.exc_info:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_text = mask_tokens(record.exc_text)
            record.exc_info = None
        record.msg, record.args = mask_tokens(message), None
        return True




def make_app(host: ServiceHost) -> web.Application:
    app = web.Application(middlewares=[same_not_found])
    app[HOST_KEY] = host
    app.router.add_get("/calendar/{token}.ics", calendar_feed)
    app.router.add_get("/minutes/{token}", minutes_slash)
    app.router.add_get("/minutes/{token}/", minutes_index)
    app.router.add_get(r"/minutes/{token}/{number:\d{1,9}}/{version:\d{1,9}}.{ext:md|html|docx|pdf}",
                       minutes_file)
    return app


async def start(host: ServiceHost) -> web.AppRunner:
    """Bind ``[http] host:port`` (port 0: any free port, see :func:`bound_port`)."""
    if not any(isinstance(f, ServerLogFilter) for f in server_log.filters):
        server_log.addFilter(ServerLogFilter())   # before the first request can be logged
    runner = web.AppRunner(make_app(host), access_log=None, logger=server_log)
    await runner.setup()
    site = web.TCPSite(runner, host.config.http.host, host.config.http.port)
    try:
        await site.start()
    except OSError:
        await runner.cleanup()
        raise
    return runner


def bound_port(runner: web.AppRunner) -> int:
    return runner.addresses[0][1]


async def _bind(host: ServiceHost) -> web.AppRunner:
    """Start listening; while the address is unavailable (port in use…), say so and retry:
    the chat side of the bot keeps working without its feed."""
    http = host.config.http
    while True:
        try:
            return await start(host)
        except OSError as error:
            log.error("HTTP server cannot listen on %s:%d (%s): calendar feeds and minutes "
                      "archive unavailable; retrying in %ss", http.host, http.port, error,
                      BIND_RETRY_SECONDS)
            await asyncio.sleep(BIND_RETRY_SECONDS)


async def run(host: ServiceHost) -> None:
    """Serve the feeds and the archive until cancelled."""
    runner = await _bind(host)
    log.info("HTTP server on %s:%d (public URL %s)", host.config.http.host, bound_port(runner),
             host.config.http.public_url)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
