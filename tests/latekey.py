"""A test sender whose room key reaches the bot late — or never.

A real client shares a Megolm session's key with the room's devices (by olm-encrypted
to-device messages) before the first message it encrypts with it. This sender, a
matrix-nio client with encryption, builds those to-device messages at message index 0
as nio's own ``share_group_session`` does, but holds them back: the message is sent
first, the key when the test says (:meth:`deliver_key`), or not at all. Only the order
differs from a normal client; the messages are the library's.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from nio import AsyncClient, AsyncClientConfig, RoomSendResponse, ToDeviceResponse
from nio.api import Api
from nio.store import SqliteStore


class LateKeySender:
    def __init__(self, client: AsyncClient):
        self.client = client
        self.held: dict[str, list[dict[str, Any]]] = {}   # event id -> its key's to-device payloads

    @classmethod
    async def create(cls, synapse, localpart: str, store: Path) -> "LateKeySender":
        password = f"pw-{localpart}-{uuid.uuid4().hex[:8]}"
        user_id = await synapse.register_user(localpart, password, displayname=localpart)
        store.mkdir(parents=True, exist_ok=True)
        config = AsyncClientConfig(encryption_enabled=True, store=SqliteStore, store_sync_tokens=False)
        client = AsyncClient(synapse.base_url, user_id, store_path=str(store), config=config)
        await client.login(password)
        await client.keys_upload()
        return cls(client)

    @property
    def user_id(self) -> str:
        return self.client.user_id

    async def join(self, room_id: str) -> None:
        await self.client.join(room_id)
        await self.client.sync(timeout=0, full_state=True)
        await self.client.joined_members(room_id)
        if self.client.should_query_keys:
            await self.client.keys_query()

    async def send_without_key(self, room_id: str, text: str) -> str:
        """Encrypt ``text`` with a new session and send it; hold back that session's key."""
        await self.client.sync(timeout=0)
        await self.client.joined_members(room_id)
        if self.client.should_query_keys:
            await self.client.keys_query()
        missing = self.client.get_missing_sessions(room_id)
        if missing:
            await self.client.keys_claim(missing)
        olm = self.client.olm
        olm.create_outbound_group_session(room_id)
        users = list(self.client.rooms[room_id].users)
        payloads = [to_device for _who, to_device in
                    olm.share_group_session_parallel(room_id, users, ignore_unverified_devices=True)]
        olm.outbound_group_sessions[room_id].shared = True
        event_type, content = self.client.encrypt(room_id, "m.room.message",
                                                  {"msgtype": "m.text", "body": text})
        method, path, data = Api.room_send(self.client.access_token, room_id, event_type, content,
                                           uuid.uuid4())
        response = await self.client._send(RoomSendResponse, method, path, data, (room_id,))
        assert isinstance(response, RoomSendResponse), response
        self.held[response.event_id] = payloads
        return response.event_id

    async def deliver_key(self, event_id: str) -> None:
        """Send the held key of ``event_id``'s session to the room's devices, now."""
        for payload in self.held.pop(event_id):
            method, path, data = Api.to_device(self.client.access_token, "m.room.encrypted",
                                               payload, uuid.uuid4())
            response = await self.client._send(ToDeviceResponse, method, path, data,
                                               response_data=(None,))
            assert isinstance(response, ToDeviceResponse), response

    async def redact(self, room_id: str, event_id: str) -> None:
        response = await self.client.room_redact(room_id, event_id)
        assert hasattr(response, "event_id"), response

    async def close(self) -> None:
        await self.client.close()
