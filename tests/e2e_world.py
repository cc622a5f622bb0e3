"""Shared set-up of the end-to-end tests that need a bot of their own and a room of people.

``World`` is the bot under test, its room, the facilitator Maïta and three members
(Anabela, Quentin, Sophie); ``open_world`` starts them. ``direct_room`` accepts the
bot's invitation to a direct chat.
"""

from __future__ import annotations

import asyncio

from tests.botproc import BOT_LOCALPART, BotProcess, ask, start_world
from tests.matrix_user import MatrixUser, notices_from

MEMBER_NAMES = ("Anabela De Castro", "Quentin Poilvé", "Sophie Jehl")


class World:
    """The bot under test, its room, and the people in it."""

    def __init__(self, bot: BotProcess, bot_id: str, room: str, maita: MatrixUser,
                 members: list[MatrixUser]):
        self.bot, self.bot_id, self.room, self.maita = bot, bot_id, room, maita
        self.anabela, self.quentin, self.sophie = members

    async def ask(self, user: MatrixUser, text: str) -> str:
        """Send a command and return the bot's single reply to it."""
        return await ask(user, self.room, text, self.bot_id)

    def notices(self, events: list[dict], text: str = "") -> list[dict]:
        return [n for n in notices_from(events, self.bot_id) if text in n["content"]["body"]]

    async def notice(self, text: str, timeout: float = 60) -> dict:
        found = await self.maita.wait_for(self.room, lambda ev: self.notices(ev, text), timeout=timeout,
                                          what=f"bot notice with {text!r}")
        return found[0]

    async def bot_event(self, event_type: str) -> dict:
        found = await self.maita.wait_for(
            self.room, lambda evs: [e for e in evs if e["sender"] == self.bot_id and e["type"] == event_type],
            what=event_type)
        return found[-1]


async def open_world(synapse, folder, test_name: str, tag: str, extra: str) -> World:
    """A bot and, in a new room, Maïta and the three members. Each test has its own bot
    account (``tag`` + the test's name): a fresh bot on a shared account would find its
    joins to the earlier tests' rooms in its first sync and replay them."""
    suffix = test_name.replace("_", "")[-12:].lower()
    localpart = f"{BOT_LOCALPART}-{tag}{suffix}"
    members = [(f"{name.split()[0].lower()}-{tag}{suffix}", name) for name in MEMBER_NAMES]
    bot, room, (maita, *others) = await start_world(
        synapse, folder, (f"maita-{tag}{suffix}", "Maïta Giraldi"), members,
        extra=extra, bot_localpart=localpart)
    return World(bot, f"@{localpart}:localhost", room, maita, others)


async def direct_room(user: MatrixUser, timeout: float = 60) -> str:
    """Accept the bot's invitation to a direct chat (the bot opens it when it first writes).
    Incremental syncs: Synapse caches a repeated initial sync for minutes."""
    deadline = asyncio.get_running_loop().time() + timeout
    params = {"timeout": "0"}
    while asyncio.get_running_loop().time() < deadline:
        sync = await user.request("GET", "/sync", params=params)
        invites = sync.get("rooms", {}).get("invite", {})
        if invites:
            [room_id] = invites
            await user.join(room_id)
            return room_id
        params = {"since": sync["next_batch"], "timeout": "2000"}
    raise AssertionError(f"the bot never invited {user.user_id} to a direct room")
