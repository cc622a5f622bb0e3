"""Typed, validated configuration loaded from TOML (DESIGN §6).

Every error names the key path (``matrix.user_id is required``) so an operator can
fix the file without reading code. Values left from ``config.example.toml``
(``example.org``, ``change-me``) are refused: a bot must never start half-configured.
Secrets may come from the environment (``MAILLAGE_MATRIX_PASSWORD``,
``MAILLAGE_MATRIX_ACCESS_TOKEN``), which override the file.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

PLACEHOLDER_MARKERS = ("example.org", "example.com", "change-me", "changeme", "…")
ENV_PASSWORD = "MAILLAGE_MATRIX_PASSWORD"
ENV_ACCESS_TOKEN = "MAILLAGE_MATRIX_ACCESS_TOKEN"
OFFSET_PATTERN = re.compile(r"^\s*(?P<amount>\d+)\s*(?P<unit>[mhdw])\s*$")
OFFSET_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class ConfigError(ValueError):
    """A configuration problem; the message names the offending key."""


@dataclass(frozen=True)
class MatrixConfig:
    homeserver: str
    user_id: str
    password: str = ""
    access_token: str = ""
    device_name: str = "maillage"
    store_path: Path = Path("data/store")
    sync_timeout_ms: int = 30_000
    sync_timeline_limit: int = 50

    def __repr__(self) -> str:  # secrets must never reach logs
        return (
            f"MatrixConfig(homeserver={self.homeserver!r}, user_id={self.user_id!r}, "
            f"password={'***' if self.password else ''!r}, "
            f"access_token={'***' if self.access_token else ''!r})"
        )


@dataclass(frozen=True)
class BotConfig:
    command_prefix: str = "!"
    timezone: str = "Europe/Paris"
    network_name: str = "Cités éducatives des Hauts-de-France"
    facilitator_power_level: int = 50
    facilitators: tuple[str, ...] = ()
    allowed_inviters: tuple[str, ...] = ()
    off_record_marker: str = "(hors cr)"
    max_message_length: int = 20_000
    seance_auto_close_hours: int = 4   # an open séance closes itself this long after the rencontre's end

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True)
class DatabaseConfig:
    url: str = "sqlite:///data/maillage.db"

    def __repr__(self) -> str:  # a PostgreSQL URL may carry a password
        return f"DatabaseConfig(url={re.sub(r':[^:@/]+@', ':***@', self.url)!r})"


@dataclass(frozen=True)
class RemindersConfig:
    offsets: tuple[timedelta, ...] = (timedelta(days=7), timedelta(days=1), timedelta(hours=1))


@dataclass(frozen=True)
class HttpConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str = "http://127.0.0.1:8080"


@dataclass(frozen=True)
class EmailConfig:
    host: str
    port: int = 587
    starttls: bool = True
    username: str = ""
    password: str = ""
    sender: str = "Maillage <maillage@localhost>"

    def __repr__(self) -> str:
        return f"EmailConfig(host={self.host!r}, port={self.port}, username={self.username!r})"


@dataclass(frozen=True)
class MinutesConfig:
    formats: tuple[str, ...] = ("md", "html", "docx", "pdf")
    templates_dir: Path | None = None


@dataclass(frozen=True)
class Config:
    matrix: MatrixConfig
    bot: BotConfig = field(default_factory=BotConfig)
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    reminders: RemindersConfig = field(default_factory=RemindersConfig)
    http: HttpConfig = field(default_factory=HttpConfig)
    email: EmailConfig | None = None
    minutes: MinutesConfig = field(default_factory=MinutesConfig)


# --- reading helpers -------------------------------------------------------------


class _Table:
    """A TOML table that remembers its path, so errors can name the key."""

    def __init__(self, data: Mapping[str, Any], path: str, known: set[str]):
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"{path}.{unknown[0]} is not a known option")
        self.data = data
        self.path = path

    def key(self, name: str) -> str:
        return f"{self.path}.{name}"

    def get(self, name: str, kind: type | tuple[type, ...], default: Any = None) -> Any:
        if name not in self.data:
            return default
        value = self.data[name]
        if kind is int and isinstance(value, bool) or not isinstance(value, kind):
            expected = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            raise ConfigError(f"{self.key(name)} must be a {expected}")
        return value

    def text(self, name: str, default: str | None = None, *, secret: bool = False) -> str:
        value = self.get(name, str, default)
        if value is None:
            raise ConfigError(f"{self.key(name)} is required")
        _refuse_placeholder(self.key(name), value, secret=secret)
        return value

    def strings(self, name: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
        values = self.get(name, list, list(default))
        if not all(isinstance(v, str) for v in values):
            raise ConfigError(f"{self.key(name)} must be a list of strings")
        for value in values:
            _refuse_placeholder(self.key(name), value)
        return tuple(values)


def _refuse_placeholder(key: str, value: str, *, secret: bool = False) -> None:
    lowered = value.lower()
    for marker in PLACEHOLDER_MARKERS:
        if marker in lowered:
            shown = "the example value" if secret else repr(value)
            raise ConfigError(f"{key} still holds {shown} from config.example.toml: set a real value")


def _table(raw: Mapping[str, Any], name: str, known: set[str], required: bool = False) -> _Table | None:
    if name not in raw:
        if required:
            raise ConfigError(f"[{name}] table is required")
        return None
    if not isinstance(raw[name], dict):
        raise ConfigError(f"{name} must be a table")
    return _Table(raw[name], name, known)


def parse_offset(key: str, text: str) -> timedelta:
    """Parse a reminder offset such as ``7d``, ``1h`` or ``30m``."""
    match = OFFSET_PATTERN.match(text)
    if not match or int(match["amount"]) == 0:
        raise ConfigError(f"{key} must hold offsets such as \"7d\", \"1h\" or \"30m\", got {text!r}")
    return timedelta(**{OFFSET_UNITS[match["unit"]]: int(match["amount"])})


# --- sections --------------------------------------------------------------------


def _matrix(raw: Mapping[str, Any], env: Mapping[str, str], base: Path) -> MatrixConfig:
    t = _table(raw, "matrix", {"homeserver", "user_id", "password", "access_token", "device_name",
                               "store_path", "sync_timeout_ms", "sync_timeline_limit"}, required=True)
    homeserver = t.text("homeserver")
    if not homeserver.startswith(("http://", "https://")):
        raise ConfigError("matrix.homeserver must start with https:// (or http:// on loopback)")
    user_id = t.text("user_id")
    if not re.fullmatch(r"@[^:\s]+:\S+", user_id):
        raise ConfigError("matrix.user_id must look like @name:server")
    password = env.get(ENV_PASSWORD) or t.text("password", "", secret=True)
    token = env.get(ENV_ACCESS_TOKEN) or t.text("access_token", "", secret=True)
    if not password and not token:
        raise ConfigError(
            f"matrix.password or matrix.access_token is required (or {ENV_PASSWORD} / {ENV_ACCESS_TOKEN})"
        )
    timeline_limit = t.get("sync_timeline_limit", int, 50)
    if timeline_limit < 1:
        raise ConfigError("matrix.sync_timeline_limit must be at least 1")
    return MatrixConfig(
        homeserver=homeserver.rstrip("/"),
        user_id=user_id,
        password=password,
        access_token=token,
        device_name=t.text("device_name", "maillage"),
        store_path=base / t.text("store_path", "data/store"),
        sync_timeout_ms=t.get("sync_timeout_ms", int, 30_000),
        sync_timeline_limit=timeline_limit,
    )


def _bot(raw: Mapping[str, Any]) -> BotConfig:
    t = _table(raw, "bot", {"command_prefix", "timezone", "network_name", "facilitator_power_level",
                            "facilitators", "allowed_inviters", "off_record_marker", "max_message_length",
                            "seance_auto_close_hours"})
    if t is None:
        return BotConfig()
    prefix = t.text("command_prefix", "!")
    if not prefix or any(c.isspace() or c.isalnum() for c in prefix):
        raise ConfigError("bot.command_prefix must be one or more symbols, such as \"!\"")
    timezone = t.text("timezone", "Europe/Paris")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"bot.timezone: unknown time zone {timezone!r}") from None
    facilitators = t.strings("facilitators")
    for user in facilitators:
        if not user.startswith("@") or ":" not in user:
            raise ConfigError(f"bot.facilitators: {user!r} is not a Matrix user id")
    return BotConfig(
        command_prefix=prefix,
        timezone=timezone,
        network_name=t.text("network_name", BotConfig.network_name),
        facilitator_power_level=t.get("facilitator_power_level", int, 50),
        facilitators=facilitators,
        allowed_inviters=t.strings("allowed_inviters"),
        off_record_marker=t.text("off_record_marker", "(hors cr)"),
        max_message_length=t.get("max_message_length", int, 20_000),
        seance_auto_close_hours=t.get("seance_auto_close_hours", int, 4),
    )


def _database(raw: Mapping[str, Any], base: Path) -> DatabaseConfig:
    t = _table(raw, "database", {"url"})
    url = t.text("url", DatabaseConfig.url) if t else DatabaseConfig.url
    if not url.startswith(("sqlite:///", "postgresql")):
        raise ConfigError("database.url must be sqlite:///PATH or postgresql+psycopg://…")
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////") and url != "sqlite:///:memory:":
        url = "sqlite:///" + str(base / url.removeprefix("sqlite:///"))
    return DatabaseConfig(url=url)


def _reminders(raw: Mapping[str, Any]) -> RemindersConfig:
    t = _table(raw, "reminders", {"offsets"})
    if t is None:
        return RemindersConfig()
    offsets = tuple(parse_offset("reminders.offsets", o) for o in t.strings("offsets", ("7d", "1d", "1h")))
    return RemindersConfig(offsets=tuple(sorted(set(offsets), reverse=True)))


def _http(raw: Mapping[str, Any]) -> HttpConfig:
    t = _table(raw, "http", {"host", "port", "public_url"})
    if t is None:
        return HttpConfig()
    port = t.get("port", int, 8080)
    if not 0 <= port <= 65535:
        raise ConfigError("http.port must be between 0 and 65535")
    host = t.text("host", "127.0.0.1")
    public_url = t.text("public_url", f"http://{host}:{port}").rstrip("/")
    if not public_url.startswith(("http://", "https://")):
        raise ConfigError("http.public_url must start with https://")
    return HttpConfig(host=host, port=port, public_url=public_url)


def _email(raw: Mapping[str, Any]) -> EmailConfig | None:
    t = _table(raw, "email", {"host", "port", "starttls", "username", "password", "from"})
    if t is None:
        return None
    return EmailConfig(
        host=t.text("host"),
        port=t.get("port", int, 587),
        starttls=t.get("starttls", bool, True),
        username=t.text("username", ""),
        password=t.text("password", "", secret=True),
        sender=t.text("from"),
    )


def _minutes(raw: Mapping[str, Any], base: Path) -> MinutesConfig:
    t = _table(raw, "minutes", {"formats", "templates_dir"})
    if t is None:
        return MinutesConfig()
    formats = t.strings("formats", MinutesConfig.formats)
    for fmt in formats:
        if fmt not in MinutesConfig.formats:
            raise ConfigError(f"minutes.formats: {fmt!r} is not one of md, html, docx, pdf")
    templates_dir = t.text("templates_dir", "")
    directory = base / templates_dir if templates_dir else None
    if directory is not None and not directory.is_dir():
        raise ConfigError(f"minutes.templates_dir: {directory} is not a directory")
    return MinutesConfig(formats=formats, templates_dir=directory)


KNOWN_TABLES = {"matrix", "bot", "database", "reminders", "http", "email", "minutes"}


def parse_config(raw: Mapping[str, Any], env: Mapping[str, str] | None = None,
                 base: Path = Path(".")) -> Config:
    """Build a validated Config from parsed TOML; relative paths resolve against ``base``."""
    env = os.environ if env is None else env
    unknown = sorted(set(raw) - KNOWN_TABLES)
    if unknown:
        raise ConfigError(f"[{unknown[0]}] is not a known table")
    return Config(
        matrix=_matrix(raw, env, base),
        bot=_bot(raw),
        database=_database(raw, base),
        reminders=_reminders(raw),
        http=_http(raw),
        email=_email(raw),
        minutes=_minutes(raw, base),
    )


def load_config(path: Path, env: Mapping[str, str] | None = None) -> Config:
    """Read and validate a TOML file; relative paths are taken from the file's folder."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"configuration file {path} not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    return parse_config(raw, env, base=path.resolve().parent)

