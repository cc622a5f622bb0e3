"""The small surface through which commands talk back (reply, send, react, upload, dm).

A Context never touches the network: it records what a command wants to send.
The runtime stores those records in the outbox in the same transaction as the
command's own changes, then sends them; tests read ``ctx.outgoing`` directly.

A Context is frozen once built: what differs (a message's mentions, a version's time)
makes a new one with ``dataclasses.replace``, which keeps recording into the same
``outgoing`` list.

Two names for one session, for two kinds of code. ``ctx.session`` is the domain's: code
below the commands (``bot.domain``, ``bot.calendar``, ``bot.minutes``) queries and
writes through it. Commands hand ``ctx.tx`` on to those functions and never use it
themselves, nor ``ctx.session``, nor ``ctx.outgoing`` (they record through the methods
below): ``tests/test_commands_style.py`` checks it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlmodel import Session

from bot.engine.roomstate import RoomState
from bot.support.config import Config
from bot.support.text import html_to_plain, markdown_to_html

if TYPE_CHECKING:
    from bot.engine.registry import Registry

NOTICE = "m.notice"


@dataclass(frozen=True)
class Outgoing:
    """One thing to send: a room event, or a file to upload then announce."""

    room_id: str
    event_type: str
    content: dict[str, Any]
    dm_user: str | None = None
    file_data: bytes | None = None
    tag: str = ""   # "<prefix>:<value>": the sent hook of <prefix> learns the event id (``outbox.mark_sent``)


def notice_content(markdown: str) -> dict[str, Any]:
    """An ``m.notice`` with an HTML ``formatted_body`` and the matching plain ``body``."""
    html = markdown_to_html(markdown)
    return {"msgtype": NOTICE, "body": html_to_plain(html), "format": "org.matrix.custom.html",
            "formatted_body": html}


def reply_relation(event_id: str, thread_root: str | None = None) -> dict[str, Any]:
    """``m.relates_to`` of a reply to ``event_id``. In a thread, a real reply inside it
    (spec "Threading": ``is_falling_back: false``), the shape Element's thread composer
    gives a reply (element-web ``makeReplyMixIn`` merged into ThreadView's relation)."""
    if thread_root is None:
        return {"m.in_reply_to": {"event_id": event_id}}
    return {"rel_type": "m.thread", "event_id": thread_root, "is_falling_back": False,
            "m.in_reply_to": {"event_id": event_id}}


@dataclass(frozen=True)
class Context:
    """Everything a command may read, and the recorder of what it sends (frozen: its
    fields cannot be reassigned; only the list of what it records grows).

    ``session`` is the event's transaction as the domain uses it; commands hand
    :attr:`tx` on (module docstring)."""

    config: Config
    session: Session                 # the domain's; commands hand ``ctx.tx`` on
    room: RoomState
    sender: str
    event_id: str
    now: datetime
    registry: Registry               # the commands, listeners and receivers the bot runs with
    bot_user_id: str = ""
    is_facilitator: bool = False
    room_timezone: str | None = None
    mentions: tuple[str, ...] = ()   # users mentioned by pills in the command's message
    formatted_body: str = ""         # its HTML, where the pills link users to their names
    thread_root: str | None = None   # the thread the message was typed in, if any
    outgoing: list[Outgoing] = field(default_factory=list)

    @property
    def room_id(self) -> str:
        return self.room.room_id

    @property
    def tx(self) -> Session:
        """The command's transaction, for commands to hand to domain functions — never to
        query themselves (``tests/test_commands_style.py``): what a command reads or
        writes has a name in ``bot.domain`` or ``bot.calendar``."""
        return self.session

    @property
    def prefix(self) -> str:
        """The command prefix users type (``!`` by default), for replies that name commands."""
        return self.config.bot.command_prefix

    @property
    def sender_name(self) -> str:
        return self.room.display_name(self.sender)

    @property
    def tz(self) -> ZoneInfo:
        """The room's time zone (DESIGN: rooms default to ``bot.timezone``)."""
        return ZoneInfo(self.room_timezone or self.config.bot.timezone)

    def send(self, markdown: str, room_id: str | None = None, tag: str = "") -> None:
        content = notice_content(markdown)
        self.outgoing.append(Outgoing(room_id or self.room_id, "m.room.message", content, tag=tag))

    def reply(self, markdown: str, tag: str = "") -> None:
        """A notice in reply to the command's message (a Matrix rich reply), in its thread
        when it was typed in one, as Element users expect."""
        content = notice_content(markdown)
        content["m.relates_to"] = reply_relation(self.event_id, self.thread_root)
        self.outgoing.append(Outgoing(self.room_id, "m.room.message", content, tag=tag))

    def post(self, event_type: str, content: dict[str, Any], tag: str = "") -> None:
        """Any other room event (a poll start or end), as built by the domain."""
        self.outgoing.append(Outgoing(self.room_id, event_type, content, tag=tag))

    def react(self, key: str, event_id: str | None = None) -> None:
        """A discreet acknowledgement: an annotation on the user's message."""
        relation = {"rel_type": "m.annotation", "event_id": event_id or self.event_id, "key": key}
        self.outgoing.append(Outgoing(self.room_id, "m.reaction", {"m.relates_to": relation}))

    def upload(self, filename: str, data: bytes, mimetype: str, room_id: str | None = None,
               dm_user: str | None = None) -> None:
        """A file (``m.file``): uploaded to the media repository, then posted.
        With ``dm_user`` (and no room) it goes to that user's direct-message room."""
        content = {"msgtype": "m.file", "body": filename, "filename": filename,
                   "info": {"mimetype": mimetype, "size": len(data)}}
        target = room_id if room_id is not None else ("" if dm_user else self.room_id)
        self.outgoing.append(Outgoing(target, "m.room.message", content, dm_user=dm_user,
                                      file_data=data))

    def post_image(self, filename: str, data: bytes, *, alt: str, width: int, height: int,
                   mimetype: str = "image/png") -> None:
        """An image (``m.image``) in the room, uploaded by the outbox like a file; its
        ``body`` is ``alt``, the text alternative (Element shows it as the caption)."""
        content = {"msgtype": "m.image", "body": alt, "filename": filename,
                   "info": {"mimetype": mimetype, "w": width, "h": height, "size": len(data)}}
        self.outgoing.append(Outgoing(self.room_id, "m.room.message", content, file_data=data))

    def dm(self, user_id: str, markdown: str) -> None:
        """A direct message; the runtime opens or reuses the DM room."""
        self.outgoing.append(Outgoing("", "m.room.message", notice_content(markdown), dm_user=user_id))

    @property
    def replies(self) -> list[str]:
        """Plain bodies of the notices recorded so far (for tests and logs)."""
        return [o.content.get("body", "") for o in self.outgoing if o.event_type == "m.room.message"]
