"""What the core needs to know about a room's state, kept from raw state events.

Power rules follow the Matrix spec: a user's level comes from ``m.room.power_levels``
(``users`` then ``users_default``). From room version 12, the creator(s) named by
``m.room.create`` (its sender plus ``additional_creators``) have infinite power and
do not appear in ``users`` (MSC4289, spec v1.16 "Room version 12").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.support.config import BotConfig

INFINITE_POWER = float("inf")
FIRST_VERSION_WITH_PRIVILEGED_CREATORS = 12


def _has_privileged_creators(room_version: str) -> bool:
    try:
        return int(room_version) >= FIRST_VERSION_WITH_PRIVILEGED_CREATORS
    except ValueError:
        return False


@dataclass
class RoomState:
    room_id: str
    room_version: str = "1"
    creators: frozenset[str] = frozenset()
    power_users: dict[str, int] = field(default_factory=dict)
    users_default: int = 0
    encrypted: bool = False
    display_names: dict[str, str] = field(default_factory=dict)
    joined: set[str] = field(default_factory=set)

    def apply(self, source: dict[str, Any]) -> None:
        """Update from one raw state event (from the sync's state or timeline)."""
        if "state_key" not in source:
            return
        handler = getattr(self, "_on_" + source.get("type", "").replace(".", "_"), None)
        if handler is not None:
            handler(source, source.get("content") or {})

    def _on_m_room_create(self, source: dict[str, Any], content: dict[str, Any]) -> None:
        self.room_version = str(content.get("room_version", "1"))
        extra = content.get("additional_creators") or []
        self.creators = frozenset([source["sender"], *[u for u in extra if isinstance(u, str)]])

    def _on_m_room_power_levels(self, source: dict[str, Any], content: dict[str, Any]) -> None:
        users = content.get("users") or {}
        self.power_users = {u: _as_int(level) for u, level in users.items()}
        self.users_default = _as_int(content.get("users_default", 0))

    def _on_m_room_encryption(self, source: dict[str, Any], content: dict[str, Any]) -> None:
        self.encrypted = bool(content.get("algorithm"))

    def _on_m_room_member(self, source: dict[str, Any], content: dict[str, Any]) -> None:
        user = source["state_key"]
        if content.get("membership") == "join":
            self.joined.add(user)
            name = content.get("displayname")
            self.display_names[user] = name if isinstance(name, str) and name.strip() else user
        else:
            self.joined.discard(user)

    def power_level(self, user_id: str) -> float:
        if _has_privileged_creators(self.room_version) and user_id in self.creators:
            return INFINITE_POWER
        return self.power_users.get(user_id, self.users_default)

    def display_name(self, user_id: str) -> str:
        return self.display_names.get(user_id, user_id)

    def find_member(self, text: str) -> str | None:
        """A joined member by user id or exact (case-insensitive) display name."""
        text = text.strip()
        if text in self.joined:
            return text
        wanted = text.lstrip("@").casefold()
        matches = [u for u in self.joined if self.display_name(u).casefold() == wanted]
        return matches[0] if len(matches) == 1 else None


def _as_int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def is_facilitator(bot: BotConfig, room: RoomState | None, user_id: str) -> bool:
    """DESIGN §2: power level ≥ ``bot.facilitator_power_level`` in the room (v12
    creators: infinite), or listed in ``bot.facilitators``. The one place for the rule."""
    if user_id in bot.facilitators:
        return True
    return room is not None and room.power_level(user_id) >= bot.facilitator_power_level
