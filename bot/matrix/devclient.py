"""A minimal scripted Matrix user, speaking the Client-Server API directly.

Used by ``maillage demo`` (the people of the scripted séance) and by the end-to-end
tests. Independent of matrix-nio on purpose: the bot uses nio, its users do not.
Sends use explicit transaction ids and wait out 429s. Messages, replies, thread
messages, pills and edits have the content Element Web builds (the builders below
name the element-web function each mirrors), so tests meet the shapes of real users.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from dataclasses import dataclass
from html import escape
from typing import Any, Callable
from urllib.parse import quote

import aiohttp

_txn = itertools.count()
HTML = "org.matrix.custom.html"


# --- Element-shaped contents -----------------------------------------------------------

@dataclass(frozen=True)
class Pill:
    """A user pill, as Element's composer makes one (type "@", pick a member): the plain
    body gets only ``name``, the HTML a matrix.to link, ``m.mentions`` the user."""

    user_id: str
    name: str


Part = str | Pill
Ref = tuple[str, str]   # (event id, sender) of the event replied to


def plain_text(parts: tuple[Part, ...]) -> str:
    """element-web ``textSerialize`` (src/editor/serialize.ts): a pill is its name."""
    return "".join(p.name if isinstance(p, Pill) else p for p in parts)


def html_text(parts: tuple[Part, ...]) -> str:
    """element-web ``htmlSerializeIfNeeded`` for text without Markdown: a pill becomes
    ``<a href="https://matrix.to/#/@user:server">name</a>``, the rest is escaped."""
    return "".join(f'<a href="https://matrix.to/#/{p.user_id}">{escape(p.name, quote=False)}</a>'
                   if isinstance(p, Pill) else escape(p, quote=False).replace("\n", "<br />")
                   for p in parts)


def mentioned(sender: str, parts: tuple[Part, ...], reply_sender: str | None) -> list[str]:
    """element-web ``attachMentions`` (SendMessageComposer.tsx): the replied-to sender
    first, then every pill, never the sender."""
    users = [reply_sender] if reply_sender else []
    users += [p.user_id for p in parts if isinstance(p, Pill) and p.user_id not in users]
    return [u for u in users if u != sender]


def message_content(sender: str, *parts: Part, reply_to: Ref | None = None,
                    thread: tuple[str, str] | None = None) -> dict[str, Any]:
    """element-web ``createMessageContent`` (SendMessageComposer.tsx).

    HTML only with a pill (or, forced, in a reply); ``m.mentions`` always, with the
    replied-to sender in a reply; no reply fallback (``addReplyToMessageContent`` in
    src/utils/Reply.ts, Matrix v1.13). ``thread`` = (root, latest event of the thread):
    ThreadView's ``threadRelation`` (is_falling_back: true); a reply inside the thread
    turns it into a real reply (``makeReplyMixIn``: is_falling_back: false).
    """
    content: dict[str, Any] = {"msgtype": "m.text", "body": plain_text(parts)}
    if reply_to or any(isinstance(p, Pill) for p in parts):
        content.update({"format": HTML, "formatted_body": html_text(parts)})
    users = mentioned(sender, parts, reply_to[1] if reply_to else None)
    content["m.mentions"] = {"user_ids": users} if users else {}
    relation: dict[str, Any] = {}
    if thread:
        relation = {"rel_type": "m.thread", "event_id": thread[0], "is_falling_back": True,
                    "m.in_reply_to": {"event_id": thread[1]}}
    if reply_to:
        relation["m.in_reply_to"] = {"event_id": reply_to[0]}
        if thread:
            relation["is_falling_back"] = False
    if relation:
        content["m.relates_to"] = relation
    return content


def edit_content(sender: str, event_id: str, previous: dict[str, Any], *parts: Part,
                 reply_sender: str | None = None) -> dict[str, Any]:
    """element-web ``createEditContent`` (EditMessageComposer.tsx): top-level body
    "* new text"; ``m.new_content`` is the full new content with *all* its mentions;
    the top-level ``m.mentions`` holds only users ``previous`` (the edited event's
    current content) did not mention (``attachMentions`` with ``editedContent``)."""
    body = plain_text(parts)
    new: dict[str, Any] = {"msgtype": "m.text", "body": body}
    content: dict[str, Any] = {"msgtype": "m.text", "body": f"* {body}", "m.new_content": new}
    if any(isinstance(p, Pill) for p in parts):
        new.update({"format": HTML, "formatted_body": html_text(parts)})
        content.update({"format": HTML, "formatted_body": f"* {new['formatted_body']}"})
    users = mentioned(sender, parts, reply_sender)
    new["m.mentions"] = {"user_ids": users} if users else {}
    before = (previous.get("m.mentions") or {}).get("user_ids") or []
    added = [u for u in users if u not in before]
    content["m.mentions"] = {"user_ids": added} if added else {}
    content["m.relates_to"] = {"rel_type": "m.replace", "event_id": event_id}
    return content


class MatrixUser:
    def __init__(self, base_url: str, user_id: str, access_token: str):
        self.base_url = base_url
        self.user_id = user_id
        self.token = access_token
        # event id → (its current content, the replied-to sender): what Element's
        # editor knows when it edits a message.
        self.said: dict[str, tuple[dict[str, Any], str | None]] = {}

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

    async def say(self, room_id: str, *parts: Part, reply_to: Ref | None = None,
                  thread: tuple[str, str] | None = None) -> str:
        """Send a message as Element would (see :func:`message_content`)."""
        content = message_content(self.user_id, *parts, reply_to=reply_to, thread=thread)
        event_id = await self.send(room_id, content)
        self.said[event_id] = (content, reply_to[1] if reply_to else None)
        return event_id

    async def react(self, room_id: str, event_id: str, key: str) -> str:
        relation = {"rel_type": "m.annotation", "event_id": event_id, "key": key}
        return await self.send(room_id, {"m.relates_to": relation}, "m.reaction")

    async def edit(self, room_id: str, event_id: str, *parts: Part) -> str:
        """Edit one of my messages as Element would (see :func:`edit_content`)."""
        previous, reply_sender = self.said.get(event_id, ({}, None))
        content = edit_content(self.user_id, event_id, previous, *parts, reply_sender=reply_sender)
        edit_id = await self.send(room_id, content)
        self.said[event_id] = (content["m.new_content"], reply_sender)
        return edit_id

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
