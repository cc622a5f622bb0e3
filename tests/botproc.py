"""Run the real bot (``maillage run``) as a subprocess against a test homeserver.

A subprocess, not a task, so tests can stop it, restart it and kill -9 it.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from bot.matrix.devclient import MatrixUser, notices_from, replies_to
from bot.ops.devserver import free_port

BOT_LOCALPART = "maillage"
BOT_PASSWORD = "bot-password-for-tests"


def write_config(directory: Path, homeserver: str, *, timeline_limit: int = 50,
                 extra: str = "", bot_localpart: str = BOT_LOCALPART,
                 database_url: str = "sqlite:///maillage.db") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    if "[http]" not in extra:  # each bot its own feed server port: tests run bots side by side
        port = free_port()
        extra += f'\n[http]\nport = {port}\npublic_url = "http://127.0.0.1:{port}"\n'
    config = directory / "config.toml"
    config.write_text(f"""
[matrix]
homeserver = "{homeserver}"
user_id = "@{bot_localpart}:localhost"
password = "{BOT_PASSWORD}"
store_path = "store"
sync_timeout_ms = 2000
sync_timeline_limit = {timeline_limit}

[bot]
allowed_inviters = ["@maita*:localhost", "@anabela*:localhost", "@quentin*:localhost", "@admin*:localhost"]

[database]
url = "{database_url}"
{extra}
""", encoding="utf-8")
    return config


# The bot's cross-signing keys per (homeserver, account), once a bot made them. Tests run
# many bots, each with a fresh store, on one account per Synapse: like an operator moving
# the bot, they carry its identity over (a fresh store with no keys would rightly be
# refused by an account that already has an identity).
_IDENTITIES: dict[tuple[str, str], Path] = {}


def _account_of(config: Path) -> tuple[str, str]:
    text = config.read_text(encoding="utf-8")
    homeserver = re.search(r'^homeserver = "([^"]+)"', text, re.M).group(1)
    user_id = re.search(r'^user_id = "([^"]+)"', text, re.M).group(1)
    return homeserver, user_id


class BotProcess:
    def __init__(self, config: Path):
        self.config = config
        self.log_path = config.parent / "bot.log"
        self.identity_file = config.parent / "store" / "cross_signing.json"
        self.process: subprocess.Popen | None = None

    def _carry_identity(self) -> None:
        account = _account_of(self.config)
        known = _IDENTITIES.get(account)
        if self.identity_file.exists():
            _IDENTITIES.setdefault(account, self.identity_file)
        elif known is not None and known.exists():
            self.identity_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            shutil.copy2(known, self.identity_file)

    def start(self) -> None:
        self._carry_identity()
        log = open(self.log_path, "ab")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen([sys.executable, "-m", "bot.ops.cli", "run", "-c", str(self.config)],
                                        stdout=log, stderr=subprocess.STDOUT, env=env,
                                        cwd=Path(__file__).resolve().parent.parent)
        log.close()

    def stop(self) -> int:
        """Graceful stop (SIGTERM); returns the exit code."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)

    def kill(self) -> None:
        self.process.kill()  # SIGKILL: no cleanup, no flush
        self.process.wait(timeout=10)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def _remember_identity(self) -> None:
        if self.identity_file.exists():
            _IDENTITIES.setdefault(_account_of(self.config), self.identity_file)

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_log(self, text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.log():
            if not self.alive():
                raise AssertionError(f"bot exited:\n{self.log()[-3000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not in bot log:\n{self.log()[-3000:]}")
            time.sleep(0.2)
        self._remember_identity()


BOT = f"@{BOT_LOCALPART}:localhost"


async def ensure_bot_account(synapse, localpart: str = BOT_LOCALPART) -> str:
    """Register the bot's account once per Synapse (tests of a session share it)."""
    try:
        return await synapse.register_user(localpart, BOT_PASSWORD, displayname="Maillage")
    except RuntimeError as error:
        if "M_USER_IN_USE" not in str(error):
            raise
        return f"@{localpart}:{synapse.server_name}"


async def ask(user: MatrixUser, room: str, text: str, bot_id: str = BOT) -> str:
    """Send a command and return the bot's single reply to it."""
    event_id = await user.say(room, text)
    replies = await user.wait_for(room, lambda ev: replies_to(ev, bot_id, event_id),
                                  what=f"reply to {text.splitlines()[0]!r}")
    assert len(replies) == 1
    return replies[0]["content"]["body"]


async def start_world(synapse, directory: Path, facilitator: tuple[str, str],
                      members: list[tuple[str, str]], *, extra: str = "",
                      ready_log: str = "logged in as", bot_localpart: str = BOT_LOCALPART,
                      database_url: str = "sqlite:///maillage.db",
                      member_type: type[MatrixUser] = MatrixUser):
    """The usual e2e set-up: the bot running, a facilitator's new v11 room with the bot
    and the members joined, the bot's welcome received. Returns (bot, room, users)."""
    bot_id = await ensure_bot_account(synapse, bot_localpart)
    lead = await MatrixUser.create(synapse, *facilitator)
    others = [await member_type.create(synapse, *member) for member in members]
    bot = BotProcess(write_config(directory, synapse.base_url, extra=extra, bot_localpart=bot_localpart,
                                  database_url=database_url))
    bot.start()
    bot.wait_log(ready_log)
    room = await lead.create_room(version="11", invite=[bot_id] + [u.user_id for u in others])
    for user in others:
        await user.join(room)
    await lead.wait_for(room, lambda ev: notices_from(ev, bot_id), what="welcome notice")
    return bot, room, [lead, *others]
