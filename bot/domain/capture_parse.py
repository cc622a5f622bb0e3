"""Reading what a séance message says, without the database: the mood of a météo, the
person and the due date of an action, the link of a resource or a shared experience.

Everything here is pure (a room's members come in as a ``RoomState``, the time as
``now``); bad input raises :class:`~bot.support.errors.UserError` with a plain French
message. :mod:`bot.domain.capture` stores what is read here as items.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from bot.domain.dates import MONTH_WORDS, WEEKDAYS_FR, parse_due_date
from bot.engine.events import pills
from bot.engine.roomstate import RoomState
from bot.storage.models import ItemKind
from bot.support.errors import UserError
from bot.support.text import normalize, safe_url

# --- météo ------------------------------------------------------------------------------

VARIATION_SELECTOR = "\ufe0f"
# The mood scale, as the minutes show it; read with or without the U+FE0F selector.
MOOD_EMOJIS = {5: "☀️", 4: "🌤️", 3: "⛅", 2: "🌧️", 1: "⛈️"}
EMOJI_MOODS = {emoji.rstrip(VARIATION_SELECTOR): mood for mood, emoji in MOOD_EMOJIS.items()}
MOOD_CHOICES = "un chiffre de 1 à 5 ou " + " ".join(MOOD_EMOJIS.values())
# "4", "4/5", "4 / 5", but not "45", "4,5" or "4.5".
MOOD_NUMBER_RE = re.compile(r"^(?P<mood>[1-5])(?:\s*/\s*5)?(?!\d|[.,]\d)")
MOOD_SEPARATORS = " \t\n:,;.-–—"

# --- people and dates -----------------------------------------------------------------------

USER_ID_RE = re.compile(r"^@[^:\s]+:\S+$")
MENTION_RE = re.compile(r"(?<!\S)@(?=\S)")
WORD_RE = re.compile(r"\S+")
MAX_NAME_WORDS = 6                  # a display name is rarely longer
TRAILING_PUNCTUATION = ",;:.!?"
DUE_RE = re.compile(r"(?<!\S)pour\s+", re.IGNORECASE)
# A "pour …" tail is taken as a due date when it starts like one ("pour vendredi",
# "pour le 15 juin", "pour dans 2 semaines", "pour fin juin", "pour 15/06"); otherwise
# it is part of the text ("préparer la salle pour la réunion").
DATE_WORDS = frozenset({
    *WEEKDAYS_FR, *MONTH_WORDS, "demain", "apres-demain", "aujourd'hui", "aujourdhui", "hier",
    "avant-hier", "dans", "fin",
})
DATE_ARTICLE_RE = re.compile(r"^(?:le|l')\s*")

# --- links ------------------------------------------------------------------------------------

SHARE_SEPARATOR_RE = re.compile(r"\s*(?:—|--)\s*|\s+[-–]\s+")


@dataclass(frozen=True)
class Capture:
    """What a message says, as an item: its kind and the fields that kind uses."""

    kind: str
    text: str = ""
    title: str = ""
    url: str = ""
    mood: int | None = None
    owner: str = ""
    due_date: date | None = None
    formatted: str = ""    # the version's HTML (plain discussion messages only), "" without one


# --- reading ------------------------------------------------------------------------------------

def parse_mood(text: str) -> tuple[int, str] | None:
    """A leading mood ("4", "4/5", ☀️ … ⛈️) and the text after it; None without one."""
    text = text.strip()
    match = MOOD_NUMBER_RE.match(text)
    if match:
        mood, rest = int(match["mood"]), text[match.end():]
    else:
        emoji = next((e for e in EMOJI_MOODS if text.startswith(e)), None)
        if emoji is None:
            return None
        mood, rest = EMOJI_MOODS[emoji], text[len(emoji):]
    return mood, rest.lstrip(VARIATION_SELECTOR).lstrip(MOOD_SEPARATORS).strip()


def is_off_record(text: str, marker: str) -> bool:
    """Does the message start with the off-record marker (case and accents aside)?"""
    return bool(marker.strip()) and normalize(text.lstrip()).startswith(normalize(marker.strip()))


def find_person(room: RoomState, text: str) -> str | None:
    """A user id, or a joined member by display name or user name (case and accents aside)."""
    text = text.strip().rstrip(TRAILING_PUNCTUATION)
    if USER_ID_RE.match(text):
        return text
    name = text.removeprefix("@").strip()
    if not name:
        return None
    found = room.find_member(name)
    if found is not None:
        return found
    wanted = normalize(name)
    matches = [u for u in room.joined
               if wanted in (normalize(room.display_name(u)), normalize(u[1:].split(":", 1)[0]))]
    return matches[0] if len(matches) == 1 else None


def split_owner(room: RoomState, text: str) -> tuple[str, str]:
    """(owner user id or "", text without the mention) for "… @Nicolas Labre …"."""
    starts = [m.start() for m in MENTION_RE.finditer(text)]
    if not starts:
        return "", text
    if len(starts) > 1:
        raise UserError("une action n'a qu'une personne responsable : "
                        "gardez une seule mention « @… ».")
    start = starts[0]
    words = list(WORD_RE.finditer(text, start))[:MAX_NAME_WORDS]
    for word in reversed(words):  # the longest name that is a member wins
        owner = find_person(room, text[start:word.end()])
        if owner is not None:
            return owner, _squeeze(text[:start] + text[word.end():])
    raise UserError(f"je ne trouve pas « {words[0].group()} » parmi les membres du "
                    "salon : mentionnez la personne par son nom affiché (@Prénom Nom) ou son "
                    "identifiant (@nom:serveur).")


def pill_owner(room: RoomState, text: str, mentions: tuple[str, ...],
               formatted_body: str = "") -> tuple[str, str]:
    """(owner user id or "", text without the name) for an Element pill.

    A pill leaves only a name in the plain body; the user is in the ``formatted_body``
    link and in ``m.mentions``. A reply also mentions the replied-to sender (element-web
    ``attachMentions``), so only members whose name is in the text count: a pill's link
    text first, else a mentioned member's display name. Two pills named in the text are
    refused (one owner per action); two bare mentions are left alone.
    """
    linked = [(user, name) for user, name in pills(formatted_body) if user in room.joined]
    found = _named_in(text, linked)
    if len(found) > 1:
        raise UserError("une action n'a qu'une personne responsable : "
                        "gardez une seule mention.")
    if not found:
        found = _named_in(text, [(u, room.display_name(u)) for u in mentions if u in room.joined])
    if len(found) != 1:
        return "", text
    [(owner, match)] = found.items()
    return owner, _squeeze(text[:match.start()] + text[match.end():])


def _named_in(text: str, people: list[tuple[str, str]]) -> dict[str, re.Match]:
    """Each user whose name appears in ``text`` as whole words (case aside): its first match."""
    found: dict[str, re.Match] = {}
    for user, name in people:
        match = re.search(rf"(?<!\w){re.escape(name.strip())}(?!\w)", text, re.IGNORECASE)
        if name.strip() and match is not None and user not in found:
            found[user] = match
    return found


def _squeeze(text: str) -> str:
    return re.sub(r"[ \t]{2,}", " ", text).strip()


def looks_like_date(text: str) -> bool:
    words = DATE_ARTICLE_RE.sub("", normalize(text.strip())).replace("’", "'").split()
    return bool(words) and (words[0][0].isdigit() or words[0].rstrip(".,") in DATE_WORDS)


def split_due(text: str, tz: ZoneInfo, now: datetime) -> tuple[str, date | None]:
    """(text, due date) for "… pour vendredi"; a date in the past is refused."""
    tails = list(DUE_RE.finditer(text))
    if not tails or not looks_like_date(text[tails[-1].end():]):
        return text, None
    last = tails[-1]
    try:
        due = parse_due_date(text[last.end():], tz, now)
    except UserError as error:
        raise UserError(f"échéance non comprise : {error.message}") from None
    return text[:last.start()].rstrip(" ,;:-—"), due


def parse_action(room: RoomState, args: str, tz: ZoneInfo, now: datetime,
                 mentions: tuple[str, ...] = (), formatted_body: str = "") -> Capture:
    owner, text = split_owner(room, args)
    if not owner:
        owner, text = pill_owner(room, text, mentions, formatted_body)
    text, due = split_due(text, tz, now)
    if not text.strip():
        raise UserError("le texte de l'action est vide.")
    return Capture(ItemKind.ACTION, text=text.strip(), owner=owner, due_date=due)


def looks_like_url(token: str) -> bool:
    lowered = token.lower()
    return "://" in token or lowered.startswith(("www.", "http:", "https:"))


def checked_url(token: str) -> str:
    """An http(s) URL as typed (angle brackets and closing punctuation aside), or an error."""
    token = token.strip().strip("<>").rstrip(TRAILING_PUNCTUATION)
    url = safe_url(token)
    if url:
        return url
    hint = " (ajoutez https:// devant)" if token.lower().startswith("www.") else ""
    raise UserError(f"l'adresse « {token} » n'est pas un lien web valide : elle doit "
                    f"commencer par http:// ou https://{hint}.")


def split_trailing_url(text: str) -> tuple[str, str]:
    """(text, url) when the text ends with a link; (text, "") otherwise."""
    parts = text.rsplit(None, 1)
    if not parts or not looks_like_url(parts[-1].strip("<>")):
        return text.strip(), ""
    return (parts[0].strip() if len(parts) == 2 else ""), checked_url(parts[-1])


def parse_share(args: str) -> Capture:
    """``<titre> [— description] [url]``; separators: — or -- or " - "."""
    text, url = split_trailing_url(args)
    title, _, description = (p.strip() for p in _split_once(text))
    if not title:
        raise UserError("le titre du partage est vide.")
    return Capture(ItemKind.SHARED_EXPERIENCE, text=description, title=title, url=url)


def _split_once(text: str) -> tuple[str, str, str]:
    match = SHARE_SEPARATOR_RE.search(text)
    if match is None:
        return text, "", ""
    return text[:match.start()], match.group(), text[match.end():]


def parse_resource(args: str) -> Capture:
    """``<url> [description]`` (the link may also close the text)."""
    words = args.split(None, 1)
    if not words:
        raise UserError("indiquez le lien à partager (http:// ou https://).")
    if looks_like_url(words[0].strip("<>")):
        return Capture(ItemKind.RESOURCE, text=words[1].strip() if len(words) == 2 else "",
                       url=checked_url(words[0]))
    description, url = split_trailing_url(args)
    if not url:
        raise UserError("il manque le lien : une adresse qui commence par http:// ou https://.")
    return Capture(ItemKind.RESOURCE, text=description, url=url)
