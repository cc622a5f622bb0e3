"""The thin Matrix adapter over matrix-nio: log in, sync, send, upload, join.

It turns nio responses into raw event dicts and plain values; no business logic
lives here. Rate limits (``M_LIMIT_EXCEEDED``) are waited out by nio itself
(``max_limit_exceeded=None`` honours ``retry_after_ms``) and connection errors are
retried with capped exponential backoff (``max_timeouts=None``): together with
stable transaction ids, a send survives the homeserver going away and coming back.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from nio import (
    AsyncClient,
    AsyncClientConfig,
    ErrorResponse,
    JoinError,
    LoginError,
    RoomCreateError,
    RoomMessagesError,
    RoomSendError,
    SyncError,
    UploadError,
    WhoamiError,
)
from nio.api import MessageDirection

from bot.config import MatrixConfig
from bot.logs import register_secret
from bot.store import Credentials, SessionStore

log = logging.getLogger(__name__)

MAX_RETRY_WAIT_SECONDS = 30


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
    return AsyncClientConfig(store_sync_tokens=False, encryption_enabled=False,
                             max_limit_exceeded=None, max_timeouts=None, backoff_factor=0.5,
                             max_timeout_retry_wait_time=MAX_RETRY_WAIT_SECONDS)


class MatrixClient:
    def __init__(self, config: MatrixConfig):
        self.config = config
        self.store = SessionStore(config.store_path)
        self.client = AsyncClient(config.homeserver, config.user_id, config=_client_config())

    @property
    def user_id(self) -> str:
        return self.client.user_id

    @property
    def device_id(self) -> str:
        return self.client.device_id

    async def login(self) -> None:
        """Reuse the stored device; else the configured token; else a password login."""
        stored = await asyncio.to_thread(self.store.load_credentials, self.config.homeserver,
                                         self.config.user_id)
        if stored and await self._restore(stored.access_token, stored.device_id):
            return
        if self.config.access_token and await self._restore(self.config.access_token, None):
            await self._save()
            return
        if not self.config.password:
            raise MatrixError("login", "the access token was refused and no password is set")
        response = await self.client.login(self.config.password, device_name=self.config.device_name)
        if isinstance(response, LoginError):
            raise MatrixError("login", response)
        await self._save()

    async def _restore(self, token: str, device_id: str | None) -> bool:
        self.client.access_token = token
        whoami = await self.client.whoami()
        if isinstance(whoami, WhoamiError) or whoami.user_id != self.config.user_id:
            self.client.access_token = ""
            return False
        self.client.user_id = whoami.user_id
        self.client.device_id = whoami.device_id or device_id or ""
        register_secret(token)
        return True

    async def _save(self) -> None:
        register_secret(self.client.access_token)
        credentials = Credentials(self.config.homeserver, self.client.user_id,
                                  self.client.device_id, self.client.access_token)
        await asyncio.to_thread(self.store.save_credentials, credentials)

    async def sync(self, since: str | None, *, timeout_ms: int, full_state: bool) -> SyncBatch:
        sync_filter = {"room": {"timeline": {"limit": self.config.sync_timeline_limit}}}
        response = await self.client.sync(timeout=timeout_ms, since=since, full_state=full_state,
                                          sync_filter=sync_filter)
        if isinstance(response, SyncError):
            raise MatrixError("sync", response)
        joined = [
            RoomBatch(room_id, [e.source for e in info.state], [e.source for e in info.timeline.events],
                      info.timeline.limited, info.timeline.prev_batch)
            for room_id, info in response.rooms.join.items()
        ]
        invites = [Invite(room_id, _inviter(info.invite_state, self.user_id))
                   for room_id, info in response.rooms.invite.items()]
        return SyncBatch(response.next_batch, joined, invites, list(response.rooms.leave))

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
        response = await self.client.room_send(room_id, event_type, content, tx_id=txn_id)
        if isinstance(response, RoomSendError):
            raise MatrixError("send", response)
        return response.event_id

    async def upload(self, data: bytes, mimetype: str, filename: str) -> str:
        response, _ = await self.client.upload(lambda *_: data, content_type=mimetype,
                                               filename=filename, filesize=len(data))
        if isinstance(response, UploadError):
            raise MatrixError("upload", response)
        return response.content_uri

    async def join(self, room_id: str) -> None:
        response = await self.client.join(room_id)
        if isinstance(response, JoinError):
            raise MatrixError("join", response)

    async def reject(self, room_id: str) -> None:
        response = await self.client.room_leave(room_id)
        if isinstance(response, ErrorResponse):
            raise MatrixError("leave", response)

    async def create_direct_room(self, user_id: str) -> str:
        response = await self.client.room_create(is_direct=True, invite=[user_id],
                                                 preset=None)
        if isinstance(response, RoomCreateError):
            raise MatrixError("create DM", response)
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
