"""A throwaway Synapse homeserver for the demo and the test suite.

``SynapseServer`` writes a minimal configuration into a working directory
(SQLite database, signing key, log config, media store), starts
``python -m synapse.app.homeserver`` as a subprocess bound to a free
loopback port and waits until the Client-Server API answers.  It never
opens a federation listener and never binds anything but 127.0.0.1.

Users are created with the shared-secret admin registration API, so public
registration stays disabled.

Example::

    async with SynapseServer(tmp_path) as hs:
        user_id = await hs.register_user("alice", "secret")
        token, device_id = await hs.login("alice", "secret")

The configuration is written as JSON, which Synapse's YAML loader accepts,
so this module has no dependency beyond the standard library and aiohttp;
only the subprocess needs ``matrix-synapse`` installed (``pip install
maillage[demo]``).

Notes:

* All HTTP helpers open a fresh ``aiohttp`` session per call, so they can be
  awaited from any event loop (e.g. a function-scoped pytest loop while the
  server itself was started from another loop).
* ``stop()``/``kill()`` also work from a loop other than the one that
  started the server: they then signal the process and poll for its exit.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import os
import pathlib
import secrets
import signal
import socket
import sys
import time
from typing import Any, Self

import aiohttp

__all__ = ["SynapseServer", "free_port", "port_is_free"]

#: Rate limit applied to every known limiter when ``relax_rate_limits`` is on.
_RELAXED = {"per_second": 1000, "burst_count": 1000}

#: Limiters of Synapse 1.163 (``synapse/config/ratelimiting.py``), by config
#: key; nested keys (``rc_login.address``...) are expanded below.
_FLAT_LIMITERS = (
    "rc_message",
    "rc_registration",
    "rc_registration_token_validity",
    "rc_admin_redaction",
    "rc_joins_per_room",
    "rc_key_requests",
    "rc_3pid_validation",
    "rc_third_party_invite",
    "rc_media_create",
    "rc_delayed_event_mgmt",
    "rc_room_creation",
    "rc_reports",
    "rc_user_directory",
    "rc_profile",
)
_NESTED_LIMITERS = {
    "rc_login": ("address", "account", "failed_attempts"),
    "rc_joins": ("local", "remote"),
    "rc_invites": ("per_room", "per_user", "per_issuer"),
    "rc_presence": ("per_user",),
}

#: Strict mode: Synapse's defaults, except a message limiter that trips fast.
_STRICT_MESSAGE_LIMIT = {"per_second": 0.5, "burst_count": 3}

_LOG_CONFIG = """\
version: 1
formatters:
  precise:
    format: '%(asctime)s - %(name)s - %(lineno)d - %(levelname)s - %(request)s - %(message)s'
handlers:
  console:
    class: logging.StreamHandler
    formatter: precise
    stream: ext://sys.stderr
loggers:
  synapse.storage.SQL:
    level: WARNING
  twisted:
    level: WARNING
root:
  level: INFO
  handlers: [console]
disable_existing_loggers: false
"""

_LOG_NAME = "homeserver.log"
_START_ATTEMPTS = 3  # retries when the chosen port was taken in the meantime


def free_port() -> int:
    """Return a TCP port that is currently free on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_is_free(port: int) -> bool:
    """True if ``port`` can be bound on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def rate_limit_config(relax: bool) -> dict[str, Any]:
    """Return the ``rc_*`` settings for relaxed or strict mode."""
    if not relax:
        return {"rc_message": dict(_STRICT_MESSAGE_LIMIT)}
    config: dict[str, Any] = {key: dict(_RELAXED) for key in _FLAT_LIMITERS}
    for key, subkeys in _NESTED_LIMITERS.items():
        config[key] = {sub: dict(_RELAXED) for sub in subkeys}
    return config


def signing_key_line() -> str:
    """Return a fresh ed25519 signing key in Synapse's key-file format.

    The file holds ``ed25519 <key id> <unpadded base64 of the 32-byte seed>``,
    exactly what ``signedjson.key.write_signing_keys`` produces.
    """
    seed = base64.b64encode(secrets.token_bytes(32)).decode().rstrip("=")
    return f"ed25519 a_{secrets.token_hex(2)} {seed}\n"


def registration_mac(shared_secret: str, nonce: str, user: str, password: str, admin: bool) -> str:
    """HMAC-SHA1 expected by ``/_synapse/admin/v1/register``."""
    mac = hmac.new(shared_secret.encode(), digestmod=hashlib.sha1)
    for part in (nonce, user, password):
        mac.update(part.encode())
        mac.update(b"\x00")
    mac.update(b"admin" if admin else b"notadmin")
    return mac.hexdigest()


def log_tail(path: pathlib.Path, lines: int = 40, offset: int = 0) -> str:
    """Return the last ``lines`` lines of a log file after byte ``offset``."""
    try:
        with path.open("rb") as log:
            log.seek(offset)
            text = log.read().decode(errors="replace")
    except FileNotFoundError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


class SynapseServer:
    """A Synapse homeserver running as a subprocess for tests and demos."""

    def __init__(
        self,
        workdir: pathlib.Path,
        *,
        relax_rate_limits: bool = True,
        server_name: str = "localhost",
    ) -> None:
        self.workdir = pathlib.Path(workdir)
        self.relax_rate_limits = relax_rate_limits
        self.server_name = server_name
        self.shared_secret = secrets.token_urlsafe(32)
        self._macaroon_secret = secrets.token_urlsafe(32)
        self._form_secret = secrets.token_urlsafe(32)
        self.port: int | None = None
        self.base_url = ""
        self.startup_seconds: float | None = None
        self._proc: asyncio.subprocess.Process | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._exited = False  # exit seen by polling from a foreign loop
        self._log_offset = 0  # size of the log before the current run

    # -- paths ---------------------------------------------------------

    @property
    def config_path(self) -> pathlib.Path:
        return self.workdir / "homeserver.yaml"

    @property
    def log_path(self) -> pathlib.Path:
        """Where the server's stdout and stderr go."""
        return self.workdir / _LOG_NAME

    @property
    def running(self) -> bool:
        """True while the subprocess has not exited."""
        proc = self._proc
        return proc is not None and proc.returncode is None and not self._exited

    # -- configuration ---------------------------------------------------

    def homeserver_config(self) -> dict[str, Any]:
        """Build the homeserver configuration for the current port."""
        work = self.workdir
        config: dict[str, Any] = {
            "server_name": self.server_name,
            "public_baseurl": f"{self.base_url}/",
            "pid_file": str(work / "homeserver.pid"),
            "listeners": [
                {
                    "port": self.port,
                    "bind_addresses": ["127.0.0.1"],
                    "type": "http",
                    "tls": False,
                    "x_forwarded": False,
                    "resources": [{"names": ["client"], "compress": False}],
                }
            ],
            "database": {
                "name": "sqlite3",
                "args": {"database": str(work / "homeserver.db")},
            },
            "log_config": str(work / "log.config"),
            "signing_key_path": str(work / "signing.key"),
            "media_store_path": str(work / "media_store"),
            "enable_media_repo": True,
            "max_upload_size": "100M",
            "url_preview_enabled": False,
            "enable_registration": False,
            "registration_shared_secret": self.shared_secret,
            "macaroon_secret_key": self._macaroon_secret,
            "form_secret": self._form_secret,
            "report_stats": False,
            "enable_metrics": False,
            "trusted_key_servers": [],
            "suppress_key_server_warning": True,
            # Throwaway accounts: cheap password hashing keeps tests fast.
            "bcrypt_rounds": 4,
        }
        config.update(rate_limit_config(self.relax_rate_limits))
        return config

    def write_files(self) -> None:
        """Write config, log config and (once) the signing key into workdir."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "media_store").mkdir(exist_ok=True)
        key_path = self.workdir / "signing.key"
        if not key_path.exists():
            key_path.write_text(signing_key_line())
        (self.workdir / "log.config").write_text(_LOG_CONFIG)
        self.config_path.write_text(json.dumps(self.homeserver_config(), indent=2))

    # -- lifecycle ---------------------------------------------------------

    async def start(self, timeout: float = 120) -> None:
        """Start the homeserver and wait until its client API answers."""
        if self.running:
            raise RuntimeError("Synapse is already running")
        began = time.monotonic()
        deadline = began + timeout
        for attempt in range(_START_ATTEMPTS):
            await self._spawn(self._pick_port(reuse=attempt == 0))
            try:
                await self._wait_ready(deadline)
                break
            except RuntimeError:
                last_try = attempt == _START_ATTEMPTS - 1
                if last_try or not self._port_was_taken():
                    raise
        self.startup_seconds = time.monotonic() - began

    def _pick_port(self, reuse: bool) -> int:
        """Keep the previous port on a restart when possible, so clients
        configured with ``base_url`` find the homeserver again."""
        if reuse and self.port is not None and port_is_free(self.port):
            return self.port
        return free_port()

    async def _spawn(self, port: int) -> None:
        """Write the files for ``port`` and launch the subprocess."""
        self.port = port
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.write_files()
        log = await asyncio.to_thread(self.log_path.open, "ab")
        self._log_offset = log.tell()
        with log:
            self._proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "synapse.app.homeserver",
                "-c",
                str(self.config_path),
                cwd=self.workdir,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
            )
        self._loop = asyncio.get_running_loop()
        self._exited = False

    async def _wait_ready(self, deadline: float) -> None:
        """Poll ``/_matrix/client/versions`` until 200, exit or deadline."""
        url = f"{self.base_url}/_matrix/client/versions"
        probe = aiohttp.ClientTimeout(total=2)
        async with aiohttp.ClientSession(timeout=probe) as session:
            while True:
                if not self.running:
                    raise self._failure("Synapse exited during start-up")
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    async with session.get(url) as resp:
                        if resp.status == 200:
                            return
                if time.monotonic() > deadline:
                    await self.kill()
                    raise self._failure("Synapse did not answer in time")
                await asyncio.sleep(0.1)

    def _port_was_taken(self) -> bool:
        return "Address already in use" in log_tail(self.log_path, 80, self._log_offset)

    def _failure(self, message: str) -> RuntimeError:
        tail = log_tail(self.log_path, 40, self._log_offset)
        return RuntimeError(f"{message} (log: {self.log_path}):\n{tail}")

    async def stop(self) -> None:
        """Terminate gracefully (SIGTERM), then SIGKILL after 10 seconds."""
        if not self.running:
            return
        self._signal(signal.SIGTERM)
        if not await self._wait_exit(10):
            await self.kill()

    async def kill(self) -> None:
        """SIGKILL the server at once, as if the homeserver went away."""
        if not self.running:
            return
        self._signal(signal.SIGKILL)
        await self._wait_exit(10)

    def _signal(self, signum: int) -> None:
        assert self._proc is not None
        with contextlib.suppress(ProcessLookupError):
            self._proc.send_signal(signum)

    async def _wait_exit(self, timeout: float) -> bool:
        """Wait for the process to exit; True if it did within ``timeout``."""
        proc = self._proc
        assert proc is not None
        if asyncio.get_running_loop() is self._loop:
            try:
                await asyncio.wait_for(proc.wait(), timeout)
                return True
            except TimeoutError:
                return False
        # Another loop started the process: its child watcher may not be
        # running here, so poll the pid instead.
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.returncode is not None or not _pid_alive(proc.pid):
                self._exited = True
                return True
            await asyncio.sleep(0.05)
        return False

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # -- client helpers ------------------------------------------------

    async def register_user(
        self,
        localpart: str,
        password: str,
        *,
        admin: bool = False,
        displayname: str | None = None,
    ) -> str:
        """Create a user with the shared-secret admin API; return its id."""
        url = f"{self.base_url}/_synapse/admin/v1/register"
        async with aiohttp.ClientSession() as session:
            async with session.get(url) as resp:
                nonce = (await _json_or_raise(resp))["nonce"]
            body: dict[str, Any] = {
                "nonce": nonce,
                "username": localpart,
                "password": password,
                "admin": admin,
                "mac": registration_mac(self.shared_secret, nonce, localpart, password, admin),
            }
            if displayname is not None:
                body["displayname"] = displayname
            async with session.post(url, json=body) as resp:
                return (await _json_or_raise(resp))["user_id"]

    async def login(self, localpart: str, password: str) -> tuple[str, str]:
        """Log in with a password; return ``(access_token, device_id)``."""
        body = {
            "type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": localpart},
            "password": password,
        }
        url = f"{self.base_url}/_matrix/client/v3/login"
        async with aiohttp.ClientSession() as session, session.post(url, json=body) as resp:
            data = await _json_or_raise(resp)
        return data["access_token"], data["device_id"]


def _pid_alive(pid: int) -> bool:
    """True while ``pid`` runs; an exited but unreaped zombie is dead."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no procfs: trust os.kill
    # Format: "pid (comm) state ..."; comm may contain spaces or parens.
    return stat.rpartition(")")[2].split()[0] != "Z"


async def _json_or_raise(resp: aiohttp.ClientResponse) -> dict[str, Any]:
    """Decode a JSON response, raising RuntimeError on an HTTP error."""
    text = await resp.text()
    if resp.status != 200:
        raise RuntimeError(f"{resp.method} {resp.url} -> {resp.status}: {text}")
    return json.loads(text)
