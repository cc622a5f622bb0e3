"""A minimal scripted Matrix user, speaking the Client-Server API directly.

Used by ``maillage demo`` (the people of the scripted séance) and by the end-to-end
tests. Independent of matrix-nio on purpose: the bot uses nio, its users do not.
Sends use explicit transaction ids and wait out 429s.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from typing import Any, Callable
from urllib.parse import quote

import aiohttp

_txn = itertools.count()


class MatrixUser:
    def __init__(self, base_url: str, user_id: str, access_token: str):
        self.base_url = base_url
        self.user_id = user_id
        self.token = access_token

    @classmethod
    async def create(cls, server, localpart: str, displayname: str | None = None) -> "MatrixUser":
        password = f"pw-{localpart}-{uuid.uuid4().hex[:8]}"
        user_id = await server.register_user(localpart, password, displayname=displayname)
        token, _device = await server.login(localpart, password)
        return cls(server.base_url, user_id, token)

    async def request(self, method: str, path: str, body: dict | None = None,
                      params: dict | None = None) -> dict[str, Any]:
        url = f"{self.base_url}/_matrix/client/v3{path}"
        headers = {"Authorization": f"Bearer {self.token}"}
        while True:
            async with aiohttp.ClientSession() as session:
                async with session.request(method, url, json=body, params=params, headers=headers) as r:
                    data = await r.json()
                    if r.status == 429:
                        await asyncio.sleep(data.get("retry_after_ms", 500) / 1000)
                        continue
                    if r.status >= 400:
                        raise AssertionError(f"{method} {path} -> {r.status} {data}")
                    return data

    async def create_room(self, *, version: str | None = None, invite: list[str] = (),
                          power_users: dict[str, int] | None = None, encrypted: bool = False,
                          name: str = "Réseau CPO") -> str:
        body: dict[str, Any] = {"preset": "private_chat", "name": name, "invite": list(invite)}
        if version:
            body["room_version"] = version
        if power_users is not None:
            body["power_level_content_override"] = {"users": power_users}
        if encrypted:
            body["initial_state"] = [{"type": "m.room.encryption", "state_key": "",
                                      "content": {"algorithm": "m.megolm.v1.aes-sha2"}}]
        return (await self.request("POST", "/createRoom", body))["room_id"]

    async def invite(self, room_id: str, user_id: str) -> None:
        await self.request("POST", f"/rooms/{quote(room_id)}/invite", {"user_id": user_id})

    async def join(self, room_id: str) -> None:
        await self.request("POST", f"/join/{quote(room_id)}", {})

    async def send(self, room_id: str, content: dict, event_type: str = "m.room.message") -> str:
        txn = f"t{next(_txn)}-{uuid.uuid4().hex[:6]}"
        path = f"/rooms/{quote(room_id)}/send/{event_type}/{txn}"
        return (await self.request("PUT", path, content))["event_id"]

    async def say(self, room_id: str, text: str) -> str:
        return await self.send(room_id, {"msgtype": "m.text", "body": text})

    async def react(self, room_id: str, event_id: str, key: str) -> str:
        relation = {"rel_type": "m.annotation", "event_id": event_id, "key": key}
        return await self.send(room_id, {"m.relates_to": relation}, "m.reaction")

    async def edit(self, room_id: str, event_id: str, text: str) -> str:
        content = {"msgtype": "m.text", "body": f"* {text}",
                   "m.new_content": {"msgtype": "m.text", "body": text},
                   "m.relates_to": {"rel_type": "m.replace", "event_id": event_id}}
        return await self.send(room_id, content)

    async def redact(self, room_id: str, event_id: str) -> str:
        txn = f"r{next(_txn)}-{uuid.uuid4().hex[:6]}"
        path = f"/rooms/{quote(room_id)}/redact/{quote(event_id)}/{txn}"
        return (await self.request("PUT", path, {}))["event_id"]

    async def membership(self, room_id: str, user_id: str) -> str | None:
        members = await self.request("GET", f"/rooms/{quote(room_id)}/members")
        for event in members["chunk"]:
            if event["state_key"] == user_id:
                return event["content"]["membership"]
        return None

    async def messages(self, room_id: str, limit: int = 1000) -> list[dict[str, Any]]:
        """The room's timeline, oldest first."""
        data = await self.request("GET", f"/rooms/{quote(room_id)}/messages",
                                  params={"dir": "b", "limit": str(limit)})
        return list(reversed(data["chunk"]))

    async def wait_for(self, room_id: str, predicate: Callable[[list[dict]], Any],
                       timeout: float = 60, what: str = "condition") -> Any:
        deadline = time.monotonic() + timeout
        while True:
            events = await self.messages(room_id)
            result = predicate(events)
            if result:
                return result
            if time.monotonic() > deadline:
                bodies = [(e["sender"], e.get("content", {}).get("body")) for e in events[-15:]]
                raise AssertionError(f"timed out waiting for {what}; last events: {bodies}")
            await asyncio.sleep(0.3)


def notices_from(events: list[dict], sender: str) -> list[dict]:
    return [e for e in events if e["sender"] == sender and e["type"] == "m.room.message"
            and e["content"].get("msgtype") == "m.notice"]


def replies_to(events: list[dict], sender: str, event_id: str) -> list[dict]:
    """The bot's notices that are rich replies to ``event_id``."""
    return [e for e in notices_from(events, sender)
            if e["content"].get("m.relates_to", {}).get("m.in_reply_to", {}).get("event_id") == event_id]


async def download_media(base_url: str, token: str, mxc: str) -> bytes:
    """Download an ``mxc://server/id`` file (authenticated media, CS API v1.11)."""
    server_name, media_id = mxc.removeprefix("mxc://").split("/", 1)
    url = f"{base_url}/_matrix/client/v1/media/download/{quote(server_name)}/{quote(media_id)}"
    async with aiohttp.ClientSession() as session:
        async with session.get(url, headers={"Authorization": f"Bearer {token}"}) as response:
            response.raise_for_status()
            return await response.read()
