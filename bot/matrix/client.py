"""The thin Matrix adapter over matrix-nio: log in, sync, send, upload, join, decrypt.

It turns nio responses into raw event dicts and plain values; no business logic
lives here.

End-to-end encryption is nio's (vodozemac behind it): timeline events of encrypted
rooms come out of :meth:`MatrixClient.sync` already decrypted, sends to encrypted rooms
are encrypted, files for them are uploaded as encrypted attachments. An event nio could
not decrypt yet keeps its ``m.room.encrypted`` type: the runtime parks it and asks
:meth:`MatrixClient.decrypt` again when keys arrive. The crypto store (olm account,
sessions, room keys) is nio's SQLite store under ``matrix.store_path``; nio writes
received room keys to it while handling the sync response, before the runtime stores
the sync token, so a crash never loses a key it acknowledged. Rate limits (``M_LIMIT_EXCEEDED``) are waited out by nio itself
(``max_limit_exceeded=None`` honours ``retry_after_ms``) and connection errors are
retried with capped exponential backoff (``max_timeouts=None``): together with
stable transaction ids, a send survives the homeserver going away and coming back.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import aiohttp
from nio import (
    AsyncClient,
    AsyncClientConfig,
    EncryptionError,
    ErrorResponse,
    JoinError,
    KeysQueryError,
    KeysUploadError,
    LocalProtocolError,
    LoginError,
    MegolmEvent,
    RoomCreateError,
    RoomMessagesError,
    RoomSendError,
    SendRetryError,
    SyncError,
    UploadError,
    WhoamiError,
)
from nio.api import Api, MessageDirection
from nio.store import SqliteStore

from bot.matrix import crosssigning
from bot.matrix.store import Credentials, SessionStore
from bot.support.config import MatrixConfig
from bot.support.logs import register_secret

log = logging.getLogger(__name__)

MAX_RETRY_WAIT_SECONDS = 30
# A token the homeserver no longer knows: only then is a new login (a new device) right.
TOKEN_REFUSED = {"M_UNKNOWN_TOKEN", "M_MISSING_TOKEN"}
# How long a new direct chat's first message waits for a sync showing the invite.
INVITE_SYNC_WAIT_SECONDS = 120


# Worth retrying later: no Matrix error at all (connection lost, a proxy's error page,
# a timeout), a rate limit, or Synapse's catch-all for server errors. Any other error
# code is the homeserver saying no to this request, which retrying will not change.
TRANSIENT_ERRCODES = {None, "M_LIMIT_EXCEEDED", "M_UNKNOWN"}
# The annotation (our ✅) is already on the event: what the request wanted is done.
ALREADY_DONE_ERRCODES = {"M_DUPLICATE_ANNOTATION"}


class MatrixError(RuntimeError):
    """A request the homeserver refused; ``errcode`` is the Matrix error code."""

    def __init__(self, what: str, response: Any):
        self.errcode = getattr(response, "status_code", None)
        super().__init__(f"{what}: {getattr(response, 'message', response)} ({self.errcode})")

    @property
    def permanent(self) -> bool:
        """A refusal; otherwise (5xx, proxy error page, timeout) try again later."""
        return self.errcode not in TRANSIENT_ERRCODES

    @property
    def already_done(self) -> bool:
        return self.errcode in ALREADY_DONE_ERRCODES


@dataclass
class RoomBatch:
    """One joined room's part of a sync response, as raw event dicts."""

    room_id: str
    state: list[dict[str, Any]] = field(default_factory=list)
    timeline: list[dict[str, Any]] = field(default_factory=list)
    limited: bool = False
    prev_batch: str | None = None


@dataclass
class Invite:
    room_id: str
    inviter: str | None


@dataclass
class SyncBatch:
    next_batch: str
    joined: list[RoomBatch]
    invites: list[Invite]
    left: list[str]


def _client_config() -> AsyncClientConfig:
    # SqliteStore: the whole crypto state in one SQLite file (DefaultStore adds trust files).
    return AsyncClientConfig(store_sync_tokens=False, encryption_enabled=True, store=SqliteStore,
                             max_limit_exceeded=None, max_timeouts=None, backoff_factor=0.5,
                             max_timeout_retry_wait_time=MAX_RETRY_WAIT_SECONDS)


MEGOLM = "m.megolm.v1.aes-sha2"


class MatrixClient:
    def __init__(self, config: MatrixConfig):
        self.config = config
        self.store = SessionStore(config.store_path)
        config.store_path.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.client = AsyncClient(config.homeserver, config.user_id, store_path=str(config.store_path),
                                  config=_client_config())
        # Direct chats just created → (whom they invite, when): until a sync shows that
        # invite, a room key would go to nobody (see send()).
        self._awaiting_invitee: dict[str, tuple[str, float]] = {}
        # Rooms joined or created a moment ago, which the next sync brings; any other room
        # nio does not know after a full sync is one the bot is not in.
        self._arriving: set[str] = set()
        self._synced = False

    @property
    def user_id(self) -> str:
        return self.client.user_id

    @property
    def device_id(self) -> str:
        return self.client.device_id

    async def login(self) -> None:
        """Reuse the stored device; else the configured token; else a password login."""
        await self._login()
        self._skip_empty_room_saves()

    async def _login(self) -> None:
        stored = await asyncio.to_thread(self.store.load_credentials, self.config.homeserver,
                                         self.config.user_id)
        if stored and await self._restore(stored.access_token, stored.device_id):
            return
        if self.config.access_token and await self._restore(self.config.access_token, None):
            await self._save()
            return
        if not self.config.password:
            raise MatrixError("login", SimpleNamespace(
                status_code="M_FORBIDDEN", message="the access token was refused and no password is set"))
        response = await self.client.login(self.config.password, device_name=self.config.device_name)
        if isinstance(response, LoginError):
            raise MatrixError("login", response)
        await self._save()

    def _skip_empty_room_saves(self) -> None:
        """nio saves the rooms that became encrypted after every sync, even when none did:
        a crypto-store transaction (an account lookup and a commit) per sync, the largest
        part of the cost of reading one live message. Saving nothing is skipped."""
        store = self.client.store
        if store is None or getattr(store, "_maillage_skips_empty", False):
            return
        save = store.save_encrypted_rooms

        def save_encrypted_rooms(rooms) -> None:
            if rooms:
                save(rooms)
        store.save_encrypted_rooms = save_encrypted_rooms
        store._maillage_skips_empty = True

    async def _restore(self, token: str, device_id: str | None) -> bool:
        self.client.access_token = token
        whoami = await self.client.whoami()
        if isinstance(whoami, WhoamiError) and whoami.status_code not in TOKEN_REFUSED:
            # The homeserver is unwell, not the token: a new login would make a new device
            # and lose this one's room keys. Try again later.
            self.client.access_token = ""
            raise MatrixError("whoami", whoami)
        if isinstance(whoami, WhoamiError) or whoami.user_id != self.config.user_id:
            self.client.access_token = ""
            return False
        register_secret(token)
        # restore_login also opens this device's crypto store (olm account, room keys).
        self.client.restore_login(whoami.user_id, whoami.device_id or device_id or "", token)
        return True

    async def prepare_encryption(self) -> str:
        """Publish the device's keys and make sure the device is cross-signed by the bot's
        own identity (see :mod:`bot.matrix.crosssigning`); returns what was done, for the log."""
        self._restrict_store_files()
        if self.client.should_upload_keys:
            response = await self.client.keys_upload()
            if isinstance(response, KeysUploadError):
                raise MatrixError("keys upload", response)
        return await crosssigning.ensure_identity(self.request, self.user_id, self.device_id,
                                                  self.config.store_path, self.config.password)

    async def describe_identity(self) -> str:
        """The cross-signing state, for ``maillage check`` (changes nothing)."""
        return await crosssigning.describe(self.request, self.user_id, self.device_id,
                                           self.config.store_path)

    async def reset_identity(self) -> str:
        """Give the account a new cross-signing identity of the bot's (operator's choice)."""
        if self.client.should_upload_keys:
            await self.client.keys_upload()
        identity = await crosssigning.reset_identity(self.request, self.user_id, self.device_id,
                                                     self.config.store_path, self.config.password)
        self._restrict_store_files()
        return identity.master_public

    def _restrict_store_files(self) -> None:
        """The crypto store holds the device's private keys: owner-only, like the token."""
        self.config.store_path.chmod(0o700)
        for path in self.config.store_path.iterdir():
            if path.is_file():
                path.chmod(0o600)

    async def request(self, method: str, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """A raw authenticated Client-Server API call (for what nio has no method for)."""
        headers = {"Authorization": f"Bearer {self.client.access_token}",
                   "Content-Type": "application/json"}
        try:
            response = await self.client.send(method, path, Api.to_json(body), headers=headers)
            try:
                answer = await response.json(content_type=None)
            finally:
                response.release()
        except (aiohttp.ClientError, asyncio.TimeoutError, json.JSONDecodeError) as error:
            raise MatrixError(path, f"{type(error).__name__}: {error}") from None  # transient
        if response.status >= 500 or response.status == 429:
            raise MatrixError(path, f"HTTP {response.status}")                   # transient
        return response.status, answer if isinstance(answer, dict) else {}

    async def _save(self) -> None:
        register_secret(self.client.access_token)
        credentials = Credentials(self.config.homeserver, self.client.user_id,
                                  self.client.device_id, self.client.access_token)
        await asyncio.to_thread(self.store.save_credentials, credentials)

    async def sync(self, since: str | None, *, timeout_ms: int, full_state: bool) -> SyncBatch:
        sync_filter = {"room": {"timeline": {"limit": self.config.sync_timeline_limit}}}
        # nio ignores a response whose token it has seen (it would not decrypt a batch
        # the runtime asks for again after a failure): forget it, the runtime keeps its own.
        self.client.next_batch = ""
        response = await self.client.sync(timeout=timeout_ms, since=since, full_state=full_state,
                                          sync_filter=sync_filter)
        if isinstance(response, SyncError):
            raise MatrixError("sync", response)
        self._synced = True
        self._arriving.difference_update(response.rooms.join)
        await self._crypto_housekeeping()
        joined = [
            RoomBatch(room_id, [e.source for e in info.state], [e.source for e in info.timeline.events],
                      info.timeline.limited, info.timeline.prev_batch)
            for room_id, info in response.rooms.join.items()
        ]
        invites = [Invite(room_id, _inviter(info.invite_state, self.user_id))
                   for room_id, info in response.rooms.invite.items()]
        return SyncBatch(response.next_batch, joined, invites, list(response.rooms.leave))

    async def _crypto_housekeeping(self) -> None:
        """What nio's sync_forever does between syncs: send queued to-device messages (key
        requests), publish new one-time keys, learn the devices of the rooms' members."""
        if self.client.outgoing_to_device_messages:
            await self.client.send_to_device_messages()
        if self.client.should_upload_keys:
            response = await self.client.keys_upload()
            if isinstance(response, KeysUploadError):
                raise MatrixError("keys upload", response)
        if self.client.should_query_keys:
            response = await self.client.keys_query()
            if isinstance(response, KeysQueryError):
                raise MatrixError("keys query", response)

    def decrypt(self, room_id: str, event: dict[str, Any]) -> dict[str, Any] | None:
        """The clear event of an ``m.room.encrypted`` one, or None while its key is missing."""
        try:
            encrypted = MegolmEvent.from_dict(event)
            encrypted.room_id = room_id
            return self.client.decrypt_event(encrypted).source
        except (EncryptionError, LocalProtocolError, KeyError, TypeError, AttributeError):
            return None

    def is_encrypted(self, room_id: str) -> bool:
        room = self.client.rooms.get(room_id)
        return room_id in self.client.encrypted_rooms or bool(room and room.encrypted)

    async def messages_between(self, room_id: str, start: str, end: str) -> list[dict[str, Any]]:
        """Events from ``start`` back to ``end`` (a sync token), oldest first: the gap of a
        limited timeline (CS API ``GET /rooms/{roomId}/messages`` with ``to``)."""
        events: list[dict[str, Any]] = []
        token = start
        while token:
            response = await self.client.room_messages(room_id, start=token, end=end,
                                                       direction=MessageDirection.back, limit=100)
            if isinstance(response, RoomMessagesError):
                raise MatrixError("messages", response)
            events.extend(e.source for e in response.chunk)
            if not response.chunk or response.end == token:
                break
            token = response.end
        events.reverse()
        return events

    async def send(self, room_id: str, event_type: str, content: dict[str, Any], txn_id: str) -> str:
        """Send (encrypted in an encrypted room; nio leaves ``m.reaction`` in the clear, as
        Element does). Room keys go to every device of the members: the bot, like Element,
        does not require people to have verified their devices."""
        self._check_room_known(room_id)
        try:
            if self.is_encrypted(room_id) and self.client.should_query_keys:
                # Learn new members' devices first: a Megolm session already shared does
                # not go to devices found later, so they could not read this message.
                if isinstance(await self.client.keys_query(), KeysQueryError):
                    raise MatrixError("keys query", "the members' devices could not be fetched")
            response = await self.client.room_send(room_id, event_type, content, tx_id=txn_id,
                                                   ignore_unverified_devices=True)
        except (LocalProtocolError, SendRetryError) as error:
            # The room is not in nio's state yet (joined a moment ago: the next sync brings
            # it) or the members' keys could not be fetched: worth retrying, not a refusal.
            raise MatrixError("send", str(error)) from None
        if isinstance(response, RoomSendError):
            raise MatrixError("send", response)
        return response.event_id

    def _check_room_known(self, room_id: str) -> None:
        """Send only to a room nio knows (its state says whether to encrypt, and to whom).

        A room joined or created a moment ago arrives with the next sync: wait (transient).
        A direct chat's first message also waits for a sync that shows the invite — a sync
        can bring the new room before the invite is stored, and the Megolm session would
        be shared without the invitee — for a bounded time. Any other room unknown after a
        full sync is one the bot is not in: a refusal, which must not hold the outbox."""
        room = self.client.rooms.get(room_id)
        if room is None:
            if room_id in self._arriving or not self._synced:
                raise MatrixError("send", f"{room_id} is not synced yet")
            raise MatrixError("send", SimpleNamespace(status_code="M_FORBIDDEN",
                                                      message=f"the bot is not in {room_id}"))
        invitee, since = self._awaiting_invitee.get(room_id, (None, 0.0))
        if invitee is None:
            return
        if invitee not in room.users and time.monotonic() - since < INVITE_SYNC_WAIT_SECONDS:
            raise MatrixError("send", f"the invite of {invitee} to {room_id} is not synced yet")
        del self._awaiting_invitee[room_id]

    async def attach_file(self, room_id: str, content: dict[str, Any], data: bytes) -> dict[str, Any]:
        """``content`` with the uploaded file: ``url`` in a clear room, an encrypted
        attachment (``file``: url, key, iv, hashes) in an encrypted one."""
        # Whether to encrypt is read from the room's state: wait until a sync brought it.
        self._check_room_known(room_id)
        mimetype = content.get("info", {}).get("mimetype", "")
        encrypt = self.is_encrypted(room_id)
        response, keys = await self.client.upload(lambda *_: data, content_type=mimetype,
                                                  filename=content.get("filename")
                                                  or content.get("body", "fichier"),
                                                  filesize=len(data), encrypt=encrypt)
        if isinstance(response, UploadError):
            raise MatrixError("upload", response)
        content = dict(content)
        if encrypt:
            content.pop("url", None)
            content["file"] = {"url": response.content_uri, **keys}
        else:
            content["url"] = response.content_uri
        return content

    async def join(self, room_id: str) -> None:
        response = await self.client.join(room_id)
        if isinstance(response, JoinError):
            raise MatrixError("join", response)
        self._arriving.add(room_id)

    async def reject(self, room_id: str) -> None:
        response = await self.client.room_leave(room_id)
        if isinstance(response, ErrorResponse):
            raise MatrixError("leave", response)

    async def create_direct_room(self, user_id: str) -> str:
        # Encrypted, as Element and Tchap create direct chats.
        encryption = {"type": "m.room.encryption", "state_key": "", "content": {"algorithm": MEGOLM}}
        response = await self.client.room_create(is_direct=True, invite=[user_id], preset=None,
                                                 initial_state=[encryption])
        if isinstance(response, RoomCreateError):
            raise MatrixError("create DM", response)
        self._awaiting_invitee[response.room_id] = (user_id, time.monotonic())
        self._arriving.add(response.room_id)
        return response.room_id

    async def close(self) -> None:
        await self.client.close()


def _inviter(invite_state: list[Any], user_id: str) -> str | None:
    # nio's InviteMemberEvent pops `content` out of `source`: read its attributes.
    for event in invite_state:
        if (getattr(event, "state_key", None) == user_id
                and getattr(event, "membership", None) == "invite"):
            return event.sender
    return None
