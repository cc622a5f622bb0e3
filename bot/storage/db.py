"""Database access: engine, sessions and Alembic migrations.

SQLite by default, PostgreSQL by URL. Migrations run one transaction per step and
a database stamped by a newer Maillage is refused rather than silently used. Alembic
(0.1–0.7 s to import) is imported only when a migration is actually pending: the
stored revision is read with one query and the head from the migration files' own
``revision``/``down_revision`` lines.
All calls here are blocking: the runtime calls them from its single worker thread
(``bot.app.runtime``), never from the event loop itself.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

from sqlalchemy import event, inspect, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import (DBAPIError, DisconnectionError, InterfaceError, OperationalError,
                            SQLAlchemyError)
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlmodel import Session, create_engine

from bot.storage.models import Attendance, Profile, Room, Seance

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# Key of ``Session.info`` holding the lookups cached for a batched run (``bot.engine.core``):
# present only in those sessions, emptied whenever a flush writes a cached kind of row.
BATCH_CACHE = "maillage.batch_cache"
# The rows that may be cached, by the first element of their cache keys.
CACHED_KINDS = {Seance: "open_seance", Room: "room", Profile: "profile", Attendance: "attendance"}
_MISSING = object()


def batch_cached(session: Session, key: tuple, load: Callable[[], Any],
                 keep_none: bool = True) -> Any:
    """``load()``, remembered in the session's cache (``None`` too, unless ``keep_none``
    is false) when it has one: a batched run's, or the one the core keeps across routine
    events (``bot.engine.core.Core._transaction``); else always ``load()``. Only for rows of
    the kinds that empty the cache when written (``_forget_cached_lookups``). A row
    remembered from an earlier transaction is attached to this session again without a
    query (``merge(load=False)``): changes made to it are saved like any other."""
    cache = session.info.get(BATCH_CACHE)
    if cache is None:
        return load()
    value = cache.get(key, _MISSING)
    if value is _MISSING:
        value = load()
        if value is not None or keep_none:
            cache[key] = value
    elif value is not None and value not in session:
        value = cache[key] = session.merge(value, load=False)
    return value


def _forget_cached_lookups(session: Session, _context, _instances) -> None:
    """Before a flush that writes a séance, a room, a profile or an attendance, the cached
    lookups of that kind may be stale: forget them (the next read queries again). The
    cache keys start with the kind's name (``CACHED_KINDS``)."""
    cache = session.info.get(BATCH_CACHE)
    if not cache:
        return
    written = {CACHED_KINDS[type(row)] for row in (*session.new, *session.dirty, *session.deleted)
               if type(row) in CACHED_KINDS}
    for key in [key for key in cache if key[0] in written]:
        del cache[key]


class CachingSession(Session):
    """The sessions of :class:`Database`: only they forget their cached lookups before a
    flush (the listener is on this class, not on every SQLModel session of the process)."""


event.listen(CachingSession, "before_flush", _forget_cached_lookups)


class DatabaseTooNew(RuntimeError):
    """The database was migrated by a newer Maillage than this one."""


# What opening or migrating a database raises when it cannot be used (a wrong path, a
# server that refuses us, a schema from a newer Maillage): named to the operator.
OPEN_ERRORS = (DatabaseTooNew, OSError, SQLAlchemyError)


# PostgreSQL SQLSTATE classes that say "try again": 08 connection exception,
# 40 transaction rollback (serialization failure, deadlock), 53 insufficient
# resources, 57P admin shutdown / crash / cannot connect now.
TRANSIENT_SQLSTATE_PREFIXES = ("08", "40", "53", "57P")


def is_transient(error: BaseException) -> bool:
    """True when ``error`` says the database is unavailable right now, not that this
    event is bad: locked/busy, connection lost or refused, serialization failure,
    disk I/O or read-only trouble (SQLAlchemy's OperationalError is exactly "related
    to the database's operation"), a pool timeout. Such an error must never cost an
    event: the caller leaves it unprocessed and retries later. Anything else
    (IntegrityError, a bug in a handler…) may repeat deterministically."""
    if isinstance(error, (OperationalError, InterfaceError, DisconnectionError, PoolTimeout)):
        return True
    if isinstance(error, DBAPIError):
        if error.connection_invalidated:
            return True
        sqlstate = getattr(error.orig, "sqlstate", None) or ""
        return sqlstate.startswith(TRANSIENT_SQLSTATE_PREFIXES)
    return False


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    # WAL + synchronous=FULL: a commit survives kill -9 and power loss.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def make_engine(url: str) -> Engine:
    """Create an engine; a relative SQLite file gets its folder created."""
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


REVISION_RE = re.compile(r"""^(down_revision|revision)\s*(?::[^=]*)?=\s*['"]?([^'"\s]+)['"]?""",
                         re.MULTILINE)


def _alembic_config(connection):
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection"] = connection
    return cfg


def known_revisions() -> dict[str, str | None]:
    """Each migration's revision → its parent, read from the files without Alembic."""
    chain: dict[str, str | None] = {}
    for path in sorted((MIGRATIONS_DIR / "versions").glob("[0-9]*.py")):
        found = dict(REVISION_RE.findall(path.read_text(encoding="utf-8")))
        parent = found.get("down_revision")
        chain[found["revision"]] = None if parent in (None, "None") else parent
    return chain


def head_revision() -> str:
    """The newest revision: the one no other migration builds on (the chain is linear)."""
    chain = known_revisions()
    [head] = set(chain) - set(chain.values())
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is stamped with (Alembic's table), None when empty."""
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Migrate to the newest schema; returns (revision before, revision after)."""
    before, head = current_revision(engine), head_revision()
    if before is not None and before not in known_revisions():
        raise DatabaseTooNew(
            f"the database is at revision {before}, unknown to this Maillage: "
            "it was upgraded by a newer version; refusing to use it"
        )
    if before == head:
        return before, head   # the usual start: nothing to migrate, Alembic not imported
    from alembic import command

    with engine.begin() as connection:
        command.upgrade(_alembic_config(connection), "head")
    return before, head


class Database:
    """The bot's storage: one engine, short sessions."""

    def __init__(self, url: str):
        self.url = url
        self.engine = make_engine(url)

    def upgrade(self) -> tuple[str | None, str]:
        return upgrade(self.engine)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: committed on success, rolled back on any error."""
        with CachingSession(self.engine, expire_on_commit=False) as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def dispose(self) -> None:
        self.engine.dispose()
