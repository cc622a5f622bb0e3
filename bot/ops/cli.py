"""The ``maillage`` command line: run, check, demo, export, db upgrade.

Logging is configured here and only here (never as a side effect of an import),
with a filter that masks the configured secrets wherever they would appear.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from bot.matrix.crosssigning import CrossSigningError
from bot.support.config import Config, ConfigError, load_config
from bot.support.logs import setup_logging, url_password

if TYPE_CHECKING:   # imports SQLAlchemy: ``run`` loads it only during the login
    from bot.engine.registry import Registry

log = logging.getLogger("maillage")
EXIT_CONFIG, EXIT_DATABASE, EXIT_LOGIN, EXIT_STOP_TIMEOUT, EXIT_COMMANDS = 2, 3, 4, 5, 6
RATELIMIT_PATH = "/_synapse/admin/v1/users/{user}/override_ratelimit"
STOP_DEADLINE_SECONDS = 20   # a supervisor's stop never hangs longer than this
START_WITHOUT_GC_SECONDS = 60  # garbage collection comes back by then, ready or not


def config_secrets(config: Config) -> list[str]:
    secrets = [config.matrix.password, config.matrix.access_token,
               url_password(config.database.url) or ""]
    if config.email:
        secrets.append(config.email.password)
    return secrets


def _load(path: Path) -> Config:
    try:
        return load_config(path)
    except ConfigError as error:
        print(f"maillage: configuration error: {error}", file=sys.stderr)
        raise SystemExit(EXIT_CONFIG) from None


def _database_name(url: str) -> str:
    """What to name in an error: the SQLite file, else the URL without its password."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    if url.startswith("sqlite:///"):
        return f"the SQLite file {Path(url.removeprefix('sqlite:///')).resolve()}"
    try:
        return f"the database {make_url(url).render_as_string(hide_password=True)}"
    except ArgumentError:
        return "the database"


def _reason(error: Exception) -> str:
    """The driver's own words (``unable to open database file``), without SQLAlchemy's
    wrapping and link; an OSError already names the path it failed on."""
    text = str(getattr(error, "orig", None) or error)
    return text.splitlines()[0] if text else type(error).__name__


def prepare_database(config: Config) -> tuple[str | None, str]:
    """Create (SQLite: with its folder) and migrate the database, or exit with
    EXIT_DATABASE after naming it and the reason: no traceback for a wrong path."""
    from bot.storage.db import OPEN_ERRORS, Database

    database = None
    try:
        database = Database(config.database.url)
        return database.upgrade()
    except OPEN_ERRORS as error:
        failure = error
    finally:
        if database is not None:
            database.dispose()
    raise SystemExit(database_failure(config, failure))


def database_failure(config: Config, error: Exception) -> int:
    """Name the database and why it cannot be used (no traceback); EXIT_DATABASE."""
    from bot.storage.db import DatabaseTooNew

    problem = str(error) if isinstance(error, DatabaseTooNew) else _reason(error)
    print(f"maillage: database error: cannot use {_database_name(config.database.url)}: {problem}",
          file=sys.stderr)
    return EXIT_DATABASE


def command_registry() -> Registry:
    """The registry of every command module (``bot.app.wiring``), or exit with
    EXIT_COMMANDS naming the module that declares no command, or two commands that
    answer to one word: before any login (``check``; ``run`` builds it during the login,
    see ``Runtime.start``)."""
    from bot.app.wiring import build_registry
    from bot.engine.registry import CommandsError

    try:
        return build_registry()
    except CommandsError as error:
        print(f"maillage: commands error: {error}", file=sys.stderr)
        raise SystemExit(EXIT_COMMANDS) from None


def _force_exit() -> None:
    """Last resort when a stop hangs (e.g. a database call that never returns): every
    change is committed per event, so exiting now loses nothing a kill -9 would not."""
    log.error("stop still not finished after %ss: exiting now", STOP_DEADLINE_SECONDS)
    logging.shutdown()
    os._exit(EXIT_STOP_TIMEOUT)


class LoginRefused(RuntimeError):
    """The homeserver refused the bot's login (a bad password, a refused token)."""


async def _run(config: Config) -> None:
    from bot.app.runtime import Runtime
    from bot.matrix.client import MatrixError

    runtime = Runtime(config)
    task = asyncio.create_task(runtime.run())
    collector = asyncio.create_task(_collect_once_ready(runtime))
    loop = asyncio.get_running_loop()
    deadline = threading.Timer(STOP_DEADLINE_SECONDS, _force_exit)
    deadline.daemon = True

    def stop() -> None:
        task.cancel()
        if not deadline.is_alive():
            deadline.start()   # a thread: it fires even if the event loop is stuck

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop)
    try:
        await task
    except asyncio.CancelledError:
        log.info("stopped")
    except MatrixError as error:   # only refusals reach here: outages are waited out
        raise LoginRefused(f"{config.matrix.homeserver}: {error}") from None
    finally:
        collector.cancel()
        gc.enable()


async def _collect_once_ready(runtime) -> None:
    """Garbage collection back on (``cmd_run`` turns it off for the start-up) once the
    first sync batch is handled — a catch-up included — or after a minute anyway."""
    try:
        async with asyncio.timeout(START_WITHOUT_GC_SECONDS):
            await runtime.ready.wait()
    except TimeoutError:
        pass
    gc.enable()


def cmd_run(args: argparse.Namespace) -> int:
    config = _load(args.config)
    setup_logging(args.verbose, config_secrets(config))
    # The start-up's imports make some 225,000 objects that live as long as the bot: the
    # garbage collector going over them again and again costs ~10 % of the start-up.
    # Objects still go as soon as nothing refers to them; only cycles wait (_run).
    gc.disable()
    from bot.app.runtime import CommandsUnusable, DatabaseUnusable

    try:
        # The registry is built and the database opened during the login (Runtime.start):
        # a command module declaring nothing, or a wrong database path, is named as soon
        # as it is found, even while the homeserver cannot be reached.
        asyncio.run(_run(config))
    except CommandsUnusable as error:
        print(f"maillage: commands error: {error}", file=sys.stderr)
        return EXIT_COMMANDS
    except DatabaseUnusable as error:
        return database_failure(config, error.__cause__)
    except CrossSigningError as error:
        log.error("%s", error)
        return EXIT_LOGIN
    except LoginRefused as error:
        log.error("login refused by %s", error)
        return EXIT_LOGIN
    return 0


async def _reset_identity(config: Config) -> str:
    from bot.matrix.client import MatrixClient

    client = MatrixClient(config.matrix)
    try:
        await client.login()
        return await client.reset_identity()
    finally:
        await client.close()


def cmd_reset_identity(args: argparse.Namespace) -> int:
    """Replace the account's cross-signing identity by a new one held by the bot."""
    config = _load(args.config)
    setup_logging(args.verbose, config_secrets(config))
    if not args.yes:
        print("maillage: this replaces the cross-signing identity of "
              f"{config.matrix.user_id}; people who verified it will have to verify it again. "
              "Run again with --yes to confirm.", file=sys.stderr)
        return EXIT_CONFIG
    try:
        master = asyncio.run(_reset_identity(config))
    except Exception as error:  # report to the operator: refused upload, wrong password, …
        print(f"maillage: identity reset failed: {error}", file=sys.stderr)
        return EXIT_LOGIN
    print(f"new cross-signing identity for {config.matrix.user_id}: master key {master}; "
          "this device is signed by it")
    return 0


async def _check_login(config: Config) -> tuple[str, str, str]:
    """Log in; returns who we are, what Synapse says about the bot's rate limits and the
    state of its cross-signing identity."""
    from bot.matrix.client import MatrixClient

    client = MatrixClient(config.matrix)
    try:
        await client.login()
        limits = await _rate_limits(config.matrix.homeserver, client.user_id,
                                    client.client.access_token)
        identity = await client.describe_identity()
        return f"{client.user_id} (device {client.device_id})", limits, identity
    finally:
        await client.close()


async def _rate_limits(homeserver: str, user_id: str, token: str) -> str:
    """The bot's message rate-limit override, read with Synapse's admin API. Only an
    admin may read it: otherwise (or on another homeserver) say we cannot tell."""
    import aiohttp

    url = f"{homeserver.rstrip('/')}{RATELIMIT_PATH.format(user=quote(user_id))}"
    try:
        async with aiohttp.ClientSession() as session, session.get(
                url, headers={"Authorization": f"Bearer {token}"},
                timeout=aiohttp.ClientTimeout(total=10)) as response:
            body = await response.json(content_type=None) if response.status == 200 else None
    except (aiohttp.ClientError, TimeoutError, ValueError):
        body = None
    if body is None:
        return ("rate limits: UNKNOWN (only a Synapse admin may read them): unless done already, "
                "ask the homeserver admin to exempt the bot (README, 'Rate limits')")
    if body.get("messages_per_second") == 0 and body.get("burst_count") == 0:
        return "rate limits: OK (the bot is exempted)"
    return ("rate limits: WARNING the bot has no exemption: under Synapse's limits its replies "
            "queue during busy séances; exempt it (README, 'Rate limits')")


def cmd_check(args: argparse.Namespace) -> int:
    config = _load(args.config)
    setup_logging(args.verbose, config_secrets(config))
    print(f"configuration {args.config}: OK")
    registry = command_registry()
    print(f"commands: OK ({len([c for c in registry.commands if not c.hidden])} commands)")
    _before, after = prepare_database(config)
    print(f"database: OK (schema {after})")
    try:
        who, limits, identity = asyncio.run(_check_login(config))
    except CrossSigningError as error:
        print(f"maillage: {error}", file=sys.stderr)
        return EXIT_LOGIN
    except Exception as error:  # idem: connection refused, bad password, …
        print(f"maillage: login to {config.matrix.homeserver} failed: {error}", file=sys.stderr)
        return EXIT_LOGIN
    print(f"login: OK as {who}")
    print(limits)
    print(identity)
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    config = _load(args.config)
    setup_logging(args.verbose, config_secrets(config))
    before, after = prepare_database(config)
    print(f"database upgraded: {before or 'empty'} -> {after}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from bot.ops.demo import run_demo

    setup_logging(args.verbose)
    return asyncio.run(run_demo(args.output))


def cmd_export(args: argparse.Namespace) -> int:
    from bot.minutes.export import ExportError, export_to_file

    config = _load(args.config)
    setup_logging(args.verbose, config_secrets(config))
    try:
        path = export_to_file(config, args.room, args.format, args.output,
                              rencontre=args.rencontre, seance=args.seance)
    except ExportError as error:
        print(f"maillage: {error}", file=sys.stderr)
        return 1
    print(f"minutes written to {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="maillage", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true")
    commands = parser.add_subparsers(dest="command", required=True)

    def with_config(name: str, help: str):
        sub = commands.add_parser(name, help=help)
        sub.add_argument("-c", "--config", type=Path, default=Path("config.toml"))
        sub.add_argument("-v", "--verbose", action="store_true")
        return sub

    with_config("run", "run the bot").set_defaults(func=cmd_run)
    with_config("check", "validate the configuration, the database and the login").set_defaults(
        func=cmd_check)
    reset = with_config("reset-identity", "give the bot account a new cross-signing identity "
                                          "(replaces one made elsewhere, e.g. in Element)")
    reset.add_argument("--yes", action="store_true", help="confirm the replacement")
    reset.set_defaults(func=cmd_reset_identity)
    demo = commands.add_parser("demo", help="throwaway homeserver + bot + scripted séance")
    demo.add_argument("-o", "--output", type=Path, default=None)
    demo.add_argument("-v", "--verbose", action="store_true")
    demo.set_defaults(func=cmd_demo)
    export = with_config("export", "write the minutes of a séance to a file, offline (from the database)")
    export.description = ("Write the compte-rendu of one séance to FILE, from the database alone (the bot "
                          "may be running). Offline, room aliases cannot be resolved: give the room id.")
    export.add_argument("--room", required=True, metavar="ROOM_ID",
                        help="the room id (!abc:server); aliases (#room:server) cannot be resolved offline")
    which = export.add_mutually_exclusive_group(required=True)
    which.add_argument("--rencontre", type=int, metavar="N", help="the séance of rencontre #N")
    which.add_argument("--seance", type=int, metavar="N",
                       help="séance n°N, the number of its compte rendu (also for séances without rencontre)")
    export.add_argument("--format", choices=("md", "html", "docx", "pdf"),
                        help="default: from the output file's suffix, else md")
    export.add_argument("-o", "--output", type=Path, required=True, metavar="FILE")
    export.set_defaults(func=cmd_export)
    db = commands.add_parser("db", help="database maintenance")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    upgrade = db_commands.add_parser("upgrade", help="apply migrations")
    upgrade.add_argument("-c", "--config", type=Path, default=Path("config.toml"))
    upgrade.add_argument("-v", "--verbose", action="store_true")
    upgrade.set_defaults(func=cmd_db_upgrade)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
