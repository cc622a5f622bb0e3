"""Plain records of the Matrix events the core cares about, parsed from raw JSON.

matrix-nio does not model edits, reactions, replies or threads, so the adapter hands
``event.source`` (the raw event dict) to :func:`parse_event`, which is pure.
Spec: Client-Server API, "Event replacements" (m.replace), "Rich replies"
(m.in_reply_to, fallback stripping), "Threading" (m.thread), "Redactions".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from html.parser import HTMLParser
from typing import Any, Union
from urllib.parse import unquote

TEXT_MSGTYPES = {"m.text", "m.emote", "m.notice"}
# The spec's plain reply fallback opens with "> <@sender:server> …" ("> * <@…>" for an emote).
PLAIN_FALLBACK_RE = re.compile(r"^> (?:\* )?<@[^>\s]+> ")
HTML_FALLBACK_RE = re.compile(r"<mx-reply>.*?</mx-reply>", re.DOTALL | re.IGNORECASE)
PILL_PREFIX = "https://matrix.to/#/"


@dataclass(frozen=True)
class Message:
    event_id: str
    room_id: str
    sender: str
    body: str
    timestamp: datetime
    msgtype: str = "m.text"
    reply_to: str | None = None
    thread_root: str | None = None
    mentions: tuple[str, ...] = ()   # m.mentions.user_ids: pills carry only a name in `body`
    formatted_body: str = ""         # the HTML, reply fallback stripped: where pills link users


@dataclass(frozen=True)
class Edit:
    event_id: str
    room_id: str
    sender: str
    target_event_id: str
    body: str
    timestamp: datetime
    mentions: tuple[str, ...] = ()   # of ``m.new_content``: the new version's full set
    formatted_body: str = ""


@dataclass(frozen=True)
class Reaction:
    event_id: str
    room_id: str
    sender: str
    target_event_id: str
    key: str
    timestamp: datetime


@dataclass(frozen=True)
class Redaction:
    event_id: str
    room_id: str
    sender: str
    redacts: str
    timestamp: datetime


@dataclass(frozen=True)
class PollResponse:
    """A vote in a native poll (MSC3381), as Element sends it: the answer ids chosen, or
    None when the vote is spoiled (no or invalid answers), which withdraws the previous one."""

    event_id: str
    room_id: str
    sender: str
    poll_event_id: str
    answers: tuple[str, ...] | None
    timestamp: datetime


Record = Union[Message, Edit, Reaction, Redaction, PollResponse]


def timestamp_of(source: dict[str, Any]) -> datetime:
    return datetime.fromtimestamp(source.get("origin_server_ts", 0) / 1000, tz=timezone.utc)


def has_reply_fallback(content: dict[str, Any]) -> bool:
    """Does the content carry a rich-reply fallback (``<mx-reply>``, or the spec's
    ``> <@user:server>`` quote)? Since Matrix v1.13 replies have none (Element sends none)."""
    body, html = content.get("body"), content.get("formatted_body")
    return ((isinstance(html, str) and "<mx-reply>" in html.lower())
            or (isinstance(body, str) and PLAIN_FALLBACK_RE.match(body) is not None))


def strip_reply_fallback(body: str) -> str:
    """Drop the ``> quoted`` lines a client prepends to a reply's plain body."""
    lines = body.split("\n")
    if not lines or not lines[0].startswith("> "):
        return body
    index = 0
    while index < len(lines) and lines[index].startswith(">"):
        index += 1
    return "\n".join(lines[index:]).lstrip("\n")


def message_text(content: dict[str, Any], is_reply: bool) -> str:
    """The plain text of a message content: the body, a reply's fallback stripped.
    Only a reply that carries a fallback loses its leading quote: a fallback-less reply
    may well start with a quote of its own."""
    body = content.get("body")
    if not isinstance(body, str):
        return ""
    if is_reply and has_reply_fallback(content):
        body = strip_reply_fallback(body)
    return body.strip()


def message_html(content: dict[str, Any]) -> str:
    """The ``formatted_body`` (HTML only), without a reply fallback's ``<mx-reply>``:
    its links name the replied-to sender, not people the message mentions."""
    html = content.get("formatted_body")
    if content.get("format") != "org.matrix.custom.html" or not isinstance(html, str):
        return ""
    return HTML_FALLBACK_RE.sub("", html).strip()


class _PillParser(HTMLParser):
    """Collects ``<a href="https://matrix.to/#/@user:server">text</a>`` links."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.pills: list[tuple[str, str]] = []
        self._user: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._user, self._text = _pill_user(dict(attrs).get("href") or ""), []

    def handle_data(self, data: str) -> None:
        if self._user is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._user is not None:
            self.pills.append((self._user, "".join(self._text).strip()))
            self._user = None


def _pill_user(href: str) -> str | None:
    """The user id of a matrix.to permalink (``?via=`` aside, percent-decoded), else None."""
    if not href.startswith(PILL_PREFIX):
        return None
    target = unquote(href[len(PILL_PREFIX):].split("?", 1)[0])
    return target if target.startswith("@") else None


def pills(formatted_body: str) -> tuple[tuple[str, str], ...]:
    """The user pills of a ``formatted_body``: (user id, the link text shown in Element),
    in order. Element's plain ``body`` carries only that text, so it is how a pill is found."""
    if "matrix.to" not in formatted_body:
        return ()
    parser = _PillParser()
    parser.feed(formatted_body)
    parser.close()
    return tuple(parser.pills)


def _mentions(content: dict[str, Any]) -> tuple[str, ...]:
    mentions = content.get("m.mentions")
    users = mentions.get("user_ids") if isinstance(mentions, dict) else None
    return tuple(u for u in users if isinstance(u, str)) if isinstance(users, list) else ()


def _relation(content: dict[str, Any]) -> dict[str, Any]:
    relation = content.get("m.relates_to")
    return relation if isinstance(relation, dict) else {}


def _parse_message(source: dict[str, Any], room_id: str) -> Message | Edit | None:
    content = source.get("content") or {}
    relation = _relation(content)
    base = dict(event_id=source["event_id"], room_id=room_id, sender=source["sender"],
                timestamp=timestamp_of(source))
    if relation.get("rel_type") == "m.replace":
        new_content = content.get("m.new_content")
        if not isinstance(new_content, dict) or not isinstance(relation.get("event_id"), str):
            return None
        # Element puts the full set of mentions in m.new_content, and only the newly
        # mentioned users at top level (attachMentions); a client without m.mentions in
        # m.new_content gets its top-level ones.
        mentions = _mentions(new_content if "m.mentions" in new_content else content)
        return Edit(target_event_id=relation["event_id"], body=message_text(new_content, False),
                    mentions=mentions, formatted_body=message_html(new_content), **base)
    if content.get("msgtype") not in TEXT_MSGTYPES:
        return None
    reply = relation.get("m.in_reply_to") or {}
    thread_root = relation.get("event_id") if relation.get("rel_type") == "m.thread" else None
    reply_to = reply.get("event_id") if isinstance(reply, dict) else None
    is_reply = bool(reply_to)   # for the quote fallback, which a thread's in_reply_to may bring
    # A thread message carries a fallback in_reply_to (is_falling_back); it is not a reply.
    if thread_root and relation.get("is_falling_back"):
        reply_to = None
    return Message(body=message_text(content, is_reply), msgtype=content["msgtype"],
                   reply_to=reply_to, thread_root=thread_root, mentions=_mentions(content),
                   formatted_body=message_html(content), **base)


def _parse_reaction(source: dict[str, Any], room_id: str) -> Reaction | None:
    relation = _relation(source.get("content") or {})
    if relation.get("rel_type") != "m.annotation":
        return None
    key, target = relation.get("key"), relation.get("event_id")
    if not isinstance(key, str) or not isinstance(target, str):
        return None
    return Reaction(event_id=source["event_id"], room_id=room_id, sender=source["sender"],
                    target_event_id=target, key=key, timestamp=timestamp_of(source))


def _parse_redaction(source: dict[str, Any], room_id: str) -> Redaction | None:
    # Room v11 moved `redacts` into content; older versions keep it top level.
    redacts = (source.get("content") or {}).get("redacts") or source.get("redacts")
    if not isinstance(redacts, str):
        return None
    return Redaction(event_id=source["event_id"], room_id=room_id, sender=source["sender"],
                     redacts=redacts, timestamp=timestamp_of(source))


# MSC3381 polls. matrix-js-sdk (src/@types/polls.ts) names the events with UnstableValue,
# whose ``.name`` is the unstable one (src/NamespacedValue.ts): current Element sends
# ``org.matrix.msc3381.poll.response`` and reads ``m.poll.response`` too.
POLL_RESPONSE_TYPES = ("org.matrix.msc3381.poll.response", "m.poll.response")


def _parse_poll_response(source: dict[str, Any], room_id: str) -> PollResponse | None:
    """matrix-js-sdk ``PollResponseEvent``: ``m.relates_to`` an ``m.reference`` to the poll
    start, and ``{"answers": [ids]}`` under the event type; a missing, empty or non-string
    answer list is a spoiled vote (``validateAgainst``)."""
    content = source.get("content") or {}
    relation = _relation(content)
    if relation.get("rel_type") != "m.reference" or not isinstance(relation.get("event_id"), str):
        return None
    block = next((content[t] for t in POLL_RESPONSE_TYPES if isinstance(content.get(t), dict)), {})
    answers = block.get("answers")
    valid = (isinstance(answers, list) and answers and all(isinstance(a, str) for a in answers))
    return PollResponse(event_id=source["event_id"], room_id=room_id, sender=source["sender"],
                        poll_event_id=relation["event_id"],
                        answers=tuple(answers) if valid else None, timestamp=timestamp_of(source))


PARSERS = {
    "m.room.message": _parse_message,
    "m.reaction": _parse_reaction,
    "m.room.redaction": _parse_redaction,
    **dict.fromkeys(POLL_RESPONSE_TYPES, _parse_poll_response),
}


def parse_event(source: dict[str, Any], room_id: str) -> Record | None:
    """Turn a raw timeline event into a record, or None if the core ignores it."""
    parser = PARSERS.get(source.get("type", ""))
    if parser is None or "event_id" not in source or "sender" not in source:
        return None
    if "redacted_because" in (source.get("unsigned") or {}):
        return None
    return parser(source, room_id)
