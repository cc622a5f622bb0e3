"""A bare matrix-nio echo bot: the floor the benchmarks compare Maillage with.

Logs in with a password, syncs with the same timeline limit as Maillage, back-fills a
limited timeline from ``/messages`` up to its previous token (as Maillage does after
downtime), keeps its sync token in a file across restarts, joins the rooms it is
invited to, prints ``read <body>`` for every text message and answers each message
starting with ``!`` with an ``m.notice`` reply. No database, no encryption, no
commands: reading the room and the smallest possible answer.

    python bench/echo_bot.py HOMESERVER USER_ID PASSWORD STATE_DIR

Prints ``logged in as …`` once logged in and through its first sync.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

from nio import AsyncClient, InviteMemberEvent, MessageDirection, RoomMessagesError, SyncError

TIMELINE_LIMIT = 50           # tests/botproc.py's sync_timeline_limit for Maillage
SYNC_TIMEOUT_MS = 2000


class EchoBot:
    def __init__(self, homeserver: str, user_id: str, password: str, state: Path):
        self.client = AsyncClient(homeserver, user_id)
        self.password = password
        self.token_file = state / "sync_token"
        state.mkdir(parents=True, exist_ok=True)

    async def run(self) -> None:
        response = await self.client.login(self.password, device_name="echo-bench")
        if not hasattr(response, "access_token"):
            raise SystemExit(f"login failed: {response}")
        since = self.token_file.read_text() if self.token_file.exists() else None
        first = True
        while True:
            response = await self.client.sync(
                timeout=0 if first else SYNC_TIMEOUT_MS, since=since, full_state=first,
                sync_filter={"room": {"timeline": {"limit": TIMELINE_LIMIT}}})
            if isinstance(response, SyncError):
                await asyncio.sleep(1)
                continue
            if first:
                print(f"logged in as {self.client.user_id}", flush=True)
            await self.handle(response, since)
            since, first = response.next_batch, False
            self.token_file.write_text(since)

    async def handle(self, response, since: str | None) -> None:
        for room_id, info in response.rooms.invite.items():
            if any(isinstance(e, InviteMemberEvent) for e in info.invite_state):
                await self.client.join(room_id)
        for room_id, info in response.rooms.join.items():
            events = [e.source for e in info.timeline.events]
            if info.timeline.limited and since and info.timeline.prev_batch:
                seen = {e["event_id"] for e in events}
                gap = await self.gap(room_id, info.timeline.prev_batch, since)
                events = [e for e in gap if e["event_id"] not in seen] + events
            if since is None:
                continue   # the first start ignores history, as Maillage does
            for event in events:
                await self.on_event(room_id, event)

    async def gap(self, room_id: str, start: str, end: str) -> list[dict]:
        events, token = [], start
        while token:
            response = await self.client.room_messages(room_id, start=token, end=end,
                                                       direction=MessageDirection.back, limit=100)
            if isinstance(response, RoomMessagesError):
                raise RuntimeError(f"messages: {response}")
            events.extend(e.source for e in response.chunk)
            if not response.chunk or response.end == token:
                break
            token = response.end
        events.reverse()
        return events

    async def on_event(self, room_id: str, event: dict) -> None:
        content = event.get("content") or {}
        if (event.get("type") != "m.room.message" or event.get("sender") == self.client.user_id
                or content.get("msgtype") != "m.text"):
            return
        body = content.get("body", "")
        print(f"read {body}", flush=True)
        if body.startswith("!"):
            await self.client.room_send(room_id, "m.room.message", {
                "msgtype": "m.notice", "body": f"echo: {body}",
                "m.relates_to": {"m.in_reply_to": {"event_id": event["event_id"]}}})


async def main(homeserver: str, user_id: str, password: str, state: str) -> None:
    bot = EchoBot(homeserver, user_id, password, Path(state))
    task = asyncio.ensure_future(bot.run())
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, task.cancel)
    try:
        await task
    except asyncio.CancelledError:
        pass
    finally:
        await bot.client.close()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
