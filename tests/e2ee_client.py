"""A Matrix user driven through a real client that enforces MSC4153: matrix-js-sdk in Node.

``JsUser`` runs ``tests/e2ee/driver.mjs`` (one Node process = one user on one device):
matrix-js-sdk 37.5 with its Rust crypto, in Element's device-isolation mode
(``OnlySignedDevicesIsolationMode``), its own cross-signing bootstrapped at login. It
speaks JSON lines; this module wraps each op in a method shaped like
:class:`bot.matrix.devclient.MatrixUser`'s, so encrypted-room tests read like the others::

    alice = await JsUser.create(synapse, "maita", "Maïta", log_dir=tmp_path)
    room = await alice.create_room(invite=[bob.user_id], encrypted=True)
    event_id = await alice.say(room, "Bonjour")
    events = await bob.wait_for(room, lambda evs: [e for e in evs if e["event_id"] == event_id])
    await alice.close()

Events come back as dicts: ``event_id, type, sender, state_key, content`` (the decrypted
clear content; for an encrypted event the ``m.relates_to`` of its wire content is merged
in), ``redacts, redacted, encrypted`` (was it ``m.room.encrypted`` on the wire),
``decryption_failure`` (``None`` or the SDK's reason, e.g. ``UNSIGNED_SENDER_DEVICE``;
the ``type`` stays ``m.room.encrypted`` and ``content`` is empty then) and
``origin_server_ts``.

Needs ``node`` (20+) and ``npm ci --prefix tests/e2ee`` (``make test`` does it); without
them the tests fail with that message rather than being skipped.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, Self

E2EE_DIR = Path(__file__).parent / "e2ee"
DRIVER = E2EE_DIR / "driver.mjs"

#: Longest JSON line accepted from the driver (attachments travel as base64).
_LINE_LIMIT = 256 * 1024 * 1024
#: Default seconds an op may take before the test fails (login bootstraps crypto).
_OP_TIMEOUT = 60.0


class DriverError(AssertionError):
    """The driver answered ``ok: false`` (or died): the test fails with its message."""


def require_node() -> str:
    """Path of ``node``; fails the test with how to fix it when something is missing."""
    node = shutil.which("node")
    if node is None:
        raise DriverError("encrypted-room tests need Node.js 20+: `node` is not on PATH")
    if not (E2EE_DIR / "node_modules" / "matrix-js-sdk" / "package.json").is_file():
        raise DriverError("encrypted-room tests need their npm packages: "
                          "run `npm ci --prefix tests/e2ee` (or `make test`)")
    return node


def text_content(text: str) -> dict[str, Any]:
    """A plain message as Element's ``createMessageContent`` builds it."""
    return {"msgtype": "m.text", "body": text, "m.mentions": {}}


class JsUser:
    """One Matrix user on one matrix-js-sdk device (a ``driver.mjs`` process)."""

    def __init__(self, process: asyncio.subprocess.Process, log_path: Path):
        self.process = process
        self.log_path = log_path
        self.user_id = ""
        self.device_id = ""
        self.access_token = ""  # for raw Client-Server API checks (what is on the wire)
        self.password = ""
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future] = {}
        self._reader = asyncio.create_task(self._read_responses())

    # -- lifecycle -------------------------------------------------------

    @classmethod
    async def spawn(cls, log_dir: Path | None = None, name: str = "user") -> Self:
        """Start a driver process, not yet logged in; its stderr goes to a log file."""
        node = require_node()
        directory = Path(log_dir) if log_dir else Path(tempfile.mkdtemp(prefix="maillage-e2ee-"))
        directory.mkdir(parents=True, exist_ok=True)
        log_path = directory / f"jsclient-{name}-{uuid.uuid4().hex[:6]}.log"
        with log_path.open("ab") as log:
            process = await asyncio.create_subprocess_exec(
                node, str(DRIVER), cwd=E2EE_DIR, stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE, stderr=log, limit=_LINE_LIMIT,
                start_new_session=True)
        return cls(process, log_path)

    @classmethod
    async def create(cls, server, localpart: str, displayname: str | None = None, *,
                     log_dir: Path | None = None, cross_sign: bool = True,
                     isolation: bool = True, device_id: str | None = None) -> Self:
        """Register ``localpart`` on ``server`` (a SynapseServer) and log in a new device.

        ``cross_sign=False`` skips bootstrapping cross-signing: the device then is one
        that an MSC4153 client must refuse. ``isolation=False`` leaves the SDK's default
        (decrypt every device). Both exist only for the control cases of the test that
        proves the isolation is on; a test of the bot with either does not count.
        """
        password = f"pw-{localpart}-{uuid.uuid4().hex[:8]}"
        user_id = await server.register_user(localpart, password, displayname=displayname)
        user = await cls.spawn(log_dir, localpart)
        try:
            await user.login(server.base_url, user_id, password, cross_sign=cross_sign,
                             isolation=isolation, device_id=device_id)
        except BaseException:
            await user.close()
            raise
        return user

    async def login(self, base_url: str, user_id: str, password: str, *,
                    cross_sign: bool = True, isolation: bool = True,
                    device_id: str | None = None) -> dict[str, Any]:
        """Password login, Rust crypto, isolation mode, cross-signing, first sync."""
        args: dict[str, Any] = {"baseUrl": base_url, "userId": user_id, "password": password,
                                "crossSign": cross_sign, "isolation": isolation}
        if device_id:
            args["deviceId"] = device_id
        result = await self.call("login", timeout=120, **args)
        self.user_id, self.device_id = result["userId"], result["deviceId"]
        self.access_token, self.password = result["accessToken"], password
        return result

    async def close(self) -> None:
        """Stop the client and the process (killing it if it does not exit)."""
        if self.process.returncode is None:
            with contextlib.suppress(Exception):
                await self.call("stop", timeout=10)
            try:
                await asyncio.wait_for(self.process.wait(), 10)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- protocol --------------------------------------------------------

    async def call(self, op: str, timeout: float = _OP_TIMEOUT, **args: Any) -> Any:
        """Send one request and wait for its response; DriverError on ``ok: false``."""
        if self.process.returncode is not None:
            raise DriverError(f"JS client exited ({self.process.returncode}); log: {self.log_path}")
        request_id = next(self._ids)
        future = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        line = json.dumps({"id": request_id, "op": op, **args}) + "\n"
        self.process.stdin.write(line.encode())
        await self.process.stdin.drain()
        try:
            response = await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise DriverError(f"JS client op {op} took over {timeout} s; log: {self.log_path}") from None
        finally:
            self._pending.pop(request_id, None)
        if not response.get("ok"):
            raise DriverError(f"JS client op {op} failed: {response.get('error')} "
                              f"(log: {self.log_path})")
        return response.get("result")

    async def _read_responses(self) -> None:
        """Route each response line to the future waiting for its id."""
        while line := await self.process.stdout.readline():
            response = json.loads(line)
            future = self._pending.get(response.get("id"))
            if future is not None and not future.done():
                future.set_result(response)
        for future in self._pending.values():  # the process died: fail the waiters
            if not future.done():
                future.set_result({"ok": False, "error": f"JS client exited; log: {self.log_path}"})

    # -- Matrix operations -----------------------------------------------

    async def create_room(self, *, invite: list[str] = (), encrypted: bool = True,
                          name: str = "Réseau CPO", version: str | None = None,
                          preset: str | None = None, is_direct: bool = False) -> str:
        """A private room as Element creates it (encrypted unless told otherwise);
        ``is_direct`` with preset ``trusted_private_chat``: a direct chat."""
        args: dict[str, Any] = {"name": name, "invite": list(invite), "encrypted": encrypted,
                                "isDirect": is_direct}
        if version:
            args["version"] = version
        if preset:
            args["preset"] = preset
        return await self.call("createRoom", **args)

    async def join(self, room_id: str) -> None:
        await self.call("join", roomId=room_id)

    async def invite(self, room_id: str, user_id: str) -> None:
        await self.call("invite", roomId=room_id, userId=user_id)

    async def wait_membership(self, room_id: str, user_id: str, membership: str = "join",
                              timeout: float = 30) -> None:
        """Wait until this client sees ``user_id`` with ``membership`` in the room.

        Send only after the client has seen a newcomer join: the room key of a message
        goes to the members (and their signed devices) the client knows of.
        """
        await self.call("waitMembership", timeout=timeout + 5, roomId=room_id,
                        userId=user_id, membership=membership, seconds=timeout)

    async def send(self, room_id: str, event_type: str, content: dict,
                   thread_id: str | None = None) -> str:
        """Send an event as the SDK does (it decides what is encrypted); its event id."""
        args: dict[str, Any] = {"roomId": room_id, "type": event_type, "content": content}
        if thread_id:
            args["threadId"] = thread_id
        return await self.call("send", **args)

    async def say(self, room_id: str, text: str, thread_id: str | None = None) -> str:
        return await self.send(room_id, "m.room.message", text_content(text), thread_id)

    async def reply(self, room_id: str, event_id: str, text: str,
                    mention: str | None = None, thread_id: str | None = None) -> str:
        """A rich reply as Element sends it (no fallback, MSC2781); ``mention`` is the
        replied-to sender Element puts in ``m.mentions``."""
        content = text_content(text)
        content["m.relates_to"] = {"m.in_reply_to": {"event_id": event_id}}
        if mention:
            content["m.mentions"] = {"user_ids": [mention]}
        return await self.send(room_id, "m.room.message", content, thread_id)

    async def edit(self, room_id: str, event_id: str, text: str) -> str:
        """An edit (m.replace) as Element's EditMessageComposer builds it."""
        content = {"msgtype": "m.text", "body": f" * {text}", "m.new_content": text_content(text),
                   "m.relates_to": {"rel_type": "m.replace", "event_id": event_id},
                   "m.mentions": {}}
        return await self.send(room_id, "m.room.message", content)

    async def react(self, room_id: str, event_id: str, key: str) -> str:
        relation = {"rel_type": "m.annotation", "event_id": event_id, "key": key}
        return await self.send(room_id, "m.reaction", {"m.relates_to": relation})

    async def redact(self, room_id: str, event_id: str, reason: str | None = None) -> str:
        args: dict[str, Any] = {"roomId": room_id, "eventId": event_id}
        if reason:
            args["reason"] = reason
        return await self.call("redact", **args)

    async def upload_file(self, room_id: str, name: str, mimetype: str, data: bytes, *,
                          encrypted: bool = True, thread_id: str | None = None) -> tuple[str, dict]:
        """Upload ``data`` (encrypted with matrix-encrypt-attachment) and post it as
        Element posts a file; returns ``(event_id, content)``."""
        args: dict[str, Any] = {"roomId": room_id, "name": name, "mimetype": mimetype,
                                "base64": base64.b64encode(data).decode(), "encrypted": encrypted}
        if thread_id:
            args["threadId"] = thread_id
        result = await self.call("uploadFile", **args)
        return result["eventId"], result["content"]

    async def download(self, content: dict) -> bytes:
        """The clear bytes of an ``m.file``/``m.image`` content (``file`` or ``url``)."""
        result = await self.call("downloadAttachment", content=content)
        return base64.b64decode(result["base64"])

    async def device_trust(self, user_id: str, device_id: str) -> dict[str, bool] | None:
        """What this client thinks of a device: signedByOwner, crossSigningVerified,
        localVerified, isVerified; ``None`` if it knows no such device."""
        return await self.call("deviceTrust", userId=user_id, deviceId=device_id)

    async def events(self, room_id: str, since: str | None = None) -> list[dict[str, Any]]:
        """The room's events as this client received them (threads included), in
        sync order; ``since`` keeps only those after that event id."""
        args: dict[str, Any] = {"roomId": room_id}
        if since:
            args["since"] = since
        return await self.call("events", **args)

    async def wait_for(self, room_id: str, predicate: Callable[[list[dict]], Any],
                       timeout: float = 30, what: str = "condition") -> Any:
        """Poll :meth:`events` until ``predicate`` returns something truthy; return it."""
        deadline = time.monotonic() + timeout
        while True:
            events = await self.events(room_id)
            result = predicate(events)
            if result:
                return result
            if time.monotonic() > deadline:
                last = [(e["sender"], e["type"], e["decryption_failure"] or e["content"].get("body"))
                        for e in events[-15:]]
                raise AssertionError(f"{self.user_id} timed out waiting for {what}; "
                                     f"last events: {last} (log: {self.log_path})")
            await asyncio.sleep(0.3)
