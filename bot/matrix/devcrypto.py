"""Scripted users who write in encrypted rooms, for ``maillage demo``.

The demo shows the real case: a room created as Element creates a private room,
end-to-end encrypted. Its scripted people are :class:`bot.matrix.devclient.MatrixUser`\\s
(Element-shaped contents, plain Client-Server API) whose sends into an encrypted room,
and whose reads of it, go through matrix-nio's crypto (vodozemac) with an in-memory
store. Development tooling only, like ``bot/devclient.py`` and ``bot/devserver.py``;
the running bot's own use of nio stays in ``bot/matrix.py``. The end-to-end tests use a
stricter peer for the people (matrix-js-sdk in Element's isolation mode).
"""

from __future__ import annotations

import uuid
from typing import Any

from nio import (
    AsyncClient,
    AsyncClientConfig,
    LoginResponse,
    RoomMessagesResponse,
    RoomSendResponse,
)
from nio.crypto.attachments import decrypt_attachment
from nio.store import SqliteMemoryStore

from bot.matrix.devclient import MatrixUser, download_media


class EncryptingUser(MatrixUser):
    """A :class:`MatrixUser` whose messages in encrypted rooms are encrypted."""

    def __init__(self, base_url: str, client: AsyncClient):
        super().__init__(base_url, client.user_id, client.access_token)
        self.client = client

    @classmethod
    async def create(cls, server, localpart: str, displayname: str | None = None) -> "EncryptingUser":
        password = f"pw-{localpart}-{uuid.uuid4().hex[:8]}"
        user_id = await server.register_user(localpart, password, displayname=displayname)
        config = AsyncClientConfig(encryption_enabled=True, store=SqliteMemoryStore,
                                   store_sync_tokens=False)
        client = AsyncClient(server.base_url, user_id, config=config)
        response = await client.login(password, device_name="demo")
        if not isinstance(response, LoginResponse):
            raise AssertionError(f"login of {user_id} failed: {response}")
        await client.keys_upload()
        return cls(server.base_url, client)

    async def _catch_up(self) -> None:
        """Sync once and do what a client does between syncs: send key shares and
        requests, publish one-time keys, learn the members' devices."""
        await self.client.sync(timeout=0, since=self.client.next_batch or None)
        if self.client.outgoing_to_device_messages:
            await self.client.send_to_device_messages()
        if self.client.should_upload_keys:
            await self.client.keys_upload()
        if self.client.should_query_keys:
            await self.client.keys_query()

    async def send(self, room_id: str, content: dict, event_type: str = "m.room.message") -> str:
        await self._catch_up()
        room = self.client.rooms.get(room_id)
        if room is None or not room.encrypted:
            return await super().send(room_id, content, event_type)
        # Like Element by default, share the room key with every device of the members.
        response = await self.client.room_send(room_id, event_type, content,
                                               ignore_unverified_devices=True)
        if not isinstance(response, RoomSendResponse):
            raise AssertionError(f"sending to {room_id} failed: {response}")
        return response.event_id

    async def messages(self, room_id: str, limit: int = 1000) -> list[dict[str, Any]]:
        """The room's timeline, oldest first, decrypted where this device has the keys."""
        await self._catch_up()
        if room_id not in self.client.rooms or not self.client.rooms[room_id].encrypted:
            return await super().messages(room_id, limit)
        response = await self.client.room_messages(room_id, start=self.client.next_batch, limit=limit)
        if not isinstance(response, RoomMessagesResponse):
            raise AssertionError(f"reading {room_id} failed: {response}")
        return [event.source for event in reversed(response.chunk)]

    async def download(self, content: dict[str, Any]) -> bytes:
        """The clear bytes of a file message: an encrypted attachment or a plain one."""
        encrypted = content.get("file")
        if encrypted is None:
            return await download_media(self.base_url, self.token, content["url"])
        data = await download_media(self.base_url, self.token, encrypted["url"])
        return decrypt_attachment(data, encrypted["key"]["k"], encrypted["hashes"]["sha256"],
                                  encrypted["iv"])

    async def close(self) -> None:
        await self.client.close()
