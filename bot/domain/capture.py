"""Capture of a séance: what people post becomes items, with Matrix's edit and redaction rules.

An item is tied to the message that created it (``Item.event_id``) and always reflects
the latest accepted version of that message. Versions are kept in ``ItemEdit``: the
original body is stored under the message's own event id (``event_id ==
item_event_id``), then one row per accepted ``m.replace``. A version's text is the body
as typed (a command keeps its ``!word``), with its mentions and HTML (an Element pill
leaves only a name in the text), so redacting the latest edit re-reads the previous
version, and a command re-read at the time it was written gives the same date for
"vendredi" and the same owner.

What a text *means* (a command, discussion, a météo answer) is decided by the caller
through a ``Reinterpret`` function: :mod:`commands.items` knows the commands, this
module knows the séance, the items and the Matrix semantics. Nothing here imports the
command registry. Attendance (:mod:`bot.domain.attendance`) and the météo figures
(:mod:`bot.domain.meteo`) live in their own modules.

Everything runs inside the event's transaction (blocking, worker thread), and all
state lives in the database: handlers are idempotent because the core is.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, func, select

from bot.domain.attendance import mark_present
from bot.domain.dates import DateError, parse_due_date
from bot.domain.people import load_profile
from bot.engine.context import Context
from bot.engine.events import Edit, Message, Reaction, Redaction, pills
from bot.engine.roomstate import RoomState
from bot.storage.db import batch_cached
from bot.storage.models import (
    Item,
    ItemEdit,
    ItemKind,
    Outbox,
    Registration,
    RsvpStatus,
    Seance,
    SeanceStatus,
    new_row,
)
from bot.support.text import md_line, normalize, safe_url

ACK = "✅"
CAPTURED_MSGTYPES = frozenset({"m.text", "m.emote"})   # m.notice is what bots send
METEO_TAG = "meteo"                 # outbox tag of the météo prompt: "meteo:<séance id>"

# --- météo ------------------------------------------------------------------------------

MOOD_EMOJIS = {"☀": 5, "🌤": 4, "⛅": 3, "🌧": 2, "⛈": 1}   # without the U+FE0F selector
MOOD_CHOICES = "un chiffre de 1 à 5 ou ☀️ 🌤️ ⛅ 🌧️ ⛈️"
VARIATION_SELECTOR = "\ufe0f"
# "4", "4/5", "4 / 5", but not "45", "4,5" or "4.5".
MOOD_NUMBER_RE = re.compile(r"^(?P<mood>[1-5])(?:\s*/\s*5)?(?!\d|[.,]\d)")
MOOD_SEPARATORS = " \t\n:,;.-–—"
MOOD_MISSING = ("Merci ! Pour la *météo du jour*, commencez votre réponse par votre humeur : "
                f"{MOOD_CHOICES}, puis quelques mots (par exemple « 4 bonne dynamique »). "
                "Ce message n'a pas été noté.")

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
    "lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche",
    "janvier", "janv", "fevrier", "fevr", "fev", "mars", "avril", "avr", "mai", "juin",
    "juillet", "juil", "aout", "septembre", "sept", "octobre", "oct", "novembre", "nov",
    "decembre", "dec", "demain", "apres-demain", "aujourd'hui", "aujourdhui", "hier",
    "avant-hier", "dans", "fin",
})
DATE_ARTICLE_RE = re.compile(r"^(?:le|l')\s*")

# --- links ------------------------------------------------------------------------------------

SHARE_SEPARATOR_RE = re.compile(r"\s*(?:—|--)\s*|\s+[-–]\s+")

KIND_LABELS = {
    ItemKind.METEO: ("météo", "météos"),
    ItemKind.ACTU_LOCALE: ("actualité locale", "actualités locales"),
    ItemKind.ACTU_NATIONALE: ("actualité nationale", "actualités nationales"),
    ItemKind.ACTU_REGIONALE: ("actualité du réseau régional", "actualités du réseau régional"),
    ItemKind.INFO: ("point notable", "points notables"),
    ItemKind.PARTAGE: ("partage d'expérience", "partages d'expérience"),
    ItemKind.ACTION: ("action", "actions"),
    ItemKind.RESSOURCE: ("ressource", "ressources"),
    ItemKind.QUESTION: ("question", "questions"),
    ItemKind.DECISION: ("décision", "décisions"),
    ItemKind.DISCUSSION: ("message de discussion", "messages de discussion"),
}


class CaptureError(ValueError):
    """Text that cannot be captured; ``message`` is French, user text in it escaped."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


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


# A caller-provided reading of a text for an existing item (see module docstring):
# applies it to the item (or removes the item) and returns None, or returns a French
# error message and changes nothing.
Reinterpret = Callable[[Context, Item, str], str | None]


# --- lookups ------------------------------------------------------------------------------------

def open_seance(session: Session, room_id: str) -> Seance | None:
    """The room's open séance (read once per batched run: ``bot.storage.db.batch_cached``)."""
    def load() -> Seance | None:
        query = select(Seance).where(Seance.room_id == room_id, Seance.status == SeanceStatus.OPEN)
        return session.exec(query).first()
    seance = batch_cached(session, ("open_seance", room_id), load)
    if seance is not None and seance.status != SeanceStatus.OPEN:   # closed, not yet flushed
        return load()
    return seance


def latest_seance(session: Session, room_id: str) -> Seance | None:
    query = select(Seance).where(Seance.room_id == room_id).order_by(col(Seance.number).desc())
    return session.exec(query).first()


def next_seance_number(session: Session, room_id: str) -> int:
    highest = session.exec(select(func.max(Seance.number)).where(Seance.room_id == room_id)).one()
    return (highest or 0) + 1


def item_by_event(session: Session, event_id: str) -> Item | None:
    return session.exec(select(Item).where(Item.event_id == event_id)).first()


def seance_for_event(session: Session, room_id: str, event_id: str) -> Seance | None:
    """The séance of a message: its item's (an edit, even after closing), else the open one."""
    item = item_by_event(session, event_id)
    return session.get(Seance, item.seance_id) if item else open_seance(session, room_id)


def seance_items(session: Session, seance: Seance) -> list[Item]:
    """The séance's items in the order they were posted."""
    query = select(Item).where(Item.seance_id == seance.id)
    return list(session.exec(query.order_by(col(Item.created_at), col(Item.id))))


def last_item(session: Session, seance: Seance, sender: str | None = None) -> Item | None:
    """The séance's most recent item (of ``sender`` when given)."""
    query = select(Item).where(Item.seance_id == seance.id)
    if sender is not None:
        query = query.where(Item.sender == sender)
    return session.exec(query.order_by(col(Item.created_at).desc(), col(Item.id).desc())).first()


def action_by_number(session: Session, room_id: str, number: int) -> Item | None:
    query = (select(Item).join(Seance, col(Seance.id) == col(Item.seance_id))
             .where(Seance.room_id == room_id, Item.kind == ItemKind.ACTION,
                    Item.action_number == number))
    return session.exec(query).first()


def prompt_event_id(session: Session, seance: Seance) -> str | None:
    """The event id of the séance's météo prompt, once the homeserver accepted it."""
    query = select(Outbox.sent_event_id).where(Outbox.tag == f"{METEO_TAG}:{seance.id}")
    return session.exec(query).first()


def kind_label(kind: str, count: int = 1) -> str:
    singular, plural = KIND_LABELS.get(kind, (kind, kind))
    return singular if count == 1 else plural


# --- parsing helpers (pure) -----------------------------------------------------------------------

def parse_mood(text: str) -> tuple[int, str] | None:
    """A leading mood ("4", "4/5", ☀️ … ⛈️) and the text after it; None without one."""
    text = text.strip()
    match = MOOD_NUMBER_RE.match(text)
    if match:
        mood, rest = int(match["mood"]), text[match.end():]
    else:
        emoji = next((e for e in MOOD_EMOJIS if text.startswith(e)), None)
        if emoji is None:
            return None
        mood, rest = MOOD_EMOJIS[emoji], text[len(emoji):]
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
        raise CaptureError("une action n'a qu'une personne responsable : "
                           "gardez une seule mention « @… ».")
    start = starts[0]
    words = list(WORD_RE.finditer(text, start))[:MAX_NAME_WORDS]
    for word in reversed(words):  # the longest name that is a member wins
        owner = find_person(room, text[start:word.end()])
        if owner is not None:
            return owner, _squeeze(text[:start] + text[word.end():])
    raise CaptureError(f"je ne trouve pas « {md_line(words[0].group())} » parmi les membres du "
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
        raise CaptureError("une action n'a qu'une personne responsable : "
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
    except DateError as error:
        # The message quotes what the user typed: escaped.
        raise CaptureError(f"échéance non comprise : {md_line(error.message)}") from None
    return text[:last.start()].rstrip(" ,;:-—"), due


def parse_action(room: RoomState, args: str, tz: ZoneInfo, now: datetime,
                 mentions: tuple[str, ...] = (), formatted_body: str = "") -> Capture:
    owner, text = split_owner(room, args)
    if not owner:
        owner, text = pill_owner(room, text, mentions, formatted_body)
    text, due = split_due(text, tz, now)
    if not text.strip():
        raise CaptureError("le texte de l'action est vide.")
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
    raise CaptureError(f"l'adresse « {md_line(token)} » n'est pas un lien web valide : elle doit "
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
        raise CaptureError("le titre du partage est vide.")
    return Capture(ItemKind.PARTAGE, text=description, title=title, url=url)


def _split_once(text: str) -> tuple[str, str, str]:
    match = SHARE_SEPARATOR_RE.search(text)
    if match is None:
        return text, "", ""
    return text[:match.start()], match.group(), text[match.end():]


def parse_resource(args: str) -> Capture:
    """``<url> [description]`` (the link may also close the text)."""
    words = args.split(None, 1)
    if not words:
        raise CaptureError("indiquez le lien à partager (http:// ou https://).")
    if looks_like_url(words[0].strip("<>")):
        return Capture(ItemKind.RESSOURCE, text=words[1].strip() if len(words) == 2 else "",
                       url=checked_url(words[0]))
    description, url = split_trailing_url(args)
    if not url:
        raise CaptureError("il manque le lien : une adresse qui commence par http:// ou https://.")
    return Capture(ItemKind.RESSOURCE, text=description, url=url)


# --- storing items --------------------------------------------------------------------------------

def store(ctx: Context, seance: Seance, capture: Capture, *, parent_event_id: str | None = None,
          topic_id: int | None = None, new_message: bool = False) -> tuple[Item, bool]:
    """Create or update the item of ``ctx.event_id``; True when the message is new to the séance.
    ``new_message``: the caller knows no item can exist yet (a message seen for the first
    time), which spares a lookup per captured message, and the item is not flushed here:
    the next query flushes it (autoflush), so a batched run inserts its items together.

    A new message takes its place in the current topic (or ``topic_id``) under
    ``parent_event_id``; an edited one keeps its place and only changes what it says.
    A météo is one per person: the latest message carries it.
    """
    item = None if new_message else item_by_event(ctx.session, ctx.event_id)
    fresh = item is None
    if capture.kind == ItemKind.METEO:
        item = _one_meteo_per_person(ctx, seance, item)
    if item is None:
        item = new_row(Item, seance_id=seance.id, kind=capture.kind, event_id=ctx.event_id,
                       sender=ctx.sender, created_at=ctx.now)
        ctx.session.add(item)
    if fresh:
        _place(ctx, seance, item, parent_event_id, topic_id)
    else:
        item.edited_at = ctx.now
    _set_fields(ctx.session, seance, item, capture)
    if not new_message:
        ctx.session.flush()
    return item, fresh


def _place(ctx: Context, seance: Seance, item: Item, parent_event_id: str | None,
           topic_id: int | None) -> None:
    profile = load_profile(ctx.session, ctx.sender)
    item.parent_event_id = parent_event_id
    item.topic_id = topic_id if topic_id is not None else seance.current_topic_id
    item.structure = profile.structure if profile else ""   # as it was when captured


def _one_meteo_per_person(ctx: Context, seance: Seance, item: Item | None) -> Item | None:
    """The sender's other météo of the séance gives way: "the last one wins"."""
    query = select(Item).where(Item.seance_id == seance.id, Item.sender == ctx.sender,
                               Item.kind == ItemKind.METEO, Item.event_id != ctx.event_id)
    other = ctx.session.exec(query).first()
    if other is None:
        return item
    if item is not None:
        remove_item(ctx.session, other)
        return item
    _forget_message(ctx.session, other.event_id)
    other.event_id, other.created_at, other.edited_at = ctx.event_id, ctx.now, None
    return other


def _set_fields(session: Session, seance: Seance, item: Item, capture: Capture) -> None:
    item.kind, item.text, item.title = capture.kind, capture.text, capture.title
    item.formatted = capture.formatted  # each version brings its own (or none): never stale
    item.url, item.mood, item.owner, item.due_date = (capture.url, capture.mood, capture.owner,
                                                      capture.due_date)
    if capture.kind != ItemKind.ACTION:
        item.action_number, item.done_at = None, None
    elif item.action_number is None:
        item.action_number = next_action_number(session, seance.room_id)


def next_action_number(session: Session, room_id: str) -> int:
    """Actions are numbered per room, across séances (``!action fait <k>``)."""
    query = (select(func.max(Item.action_number))
             .join(Seance, col(Seance.id) == col(Item.seance_id)).where(Seance.room_id == room_id))
    return (session.exec(query).one() or 0) + 1


def remove_item(session: Session, item: Item) -> None:
    """Delete an item with its versions; its replies stay, as top-level discussion."""
    _forget_message(session, item.event_id)
    session.delete(item)
    session.flush()


def _forget_message(session: Session, event_id: str) -> None:
    for version in session.exec(select(ItemEdit).where(ItemEdit.item_event_id == event_id)):
        session.delete(version)
    for reply in session.exec(select(Item).where(Item.parent_event_id == event_id)):
        reply.parent_event_id = None


# --- versions (Matrix edits) ----------------------------------------------------------------------

def remember_original(ctx: Context, item: Item, text: str, new_message: bool = False) -> None:
    """Keep the message's first version (with its mentions and HTML), to return to it if
    its edits are redacted; ``new_message``: none can be stored yet (see ``store``)."""
    if new_message or ctx.session.get(ItemEdit, item.event_id) is None:
        ctx.session.add(new_row(ItemEdit, event_id=item.event_id, item_event_id=item.event_id,
                                text=text, edited_at=ctx.now, mentions=list(ctx.mentions),
                                formatted_body=ctx.formatted_body))


def is_original(version: ItemEdit) -> bool:
    return version.event_id == version.item_event_id


def _version_order(version: ItemEdit) -> tuple[bool, datetime, str]:
    """The original first; then edits by timestamp, then event id (Matrix's rule)."""
    return not is_original(version), version.edited_at, version.event_id


def versions(session: Session, item: Item) -> list[ItemEdit]:
    """The item's versions, oldest first."""
    rows = session.exec(select(ItemEdit).where(ItemEdit.item_event_id == item.event_id))
    return sorted(rows, key=_version_order)


def as_of(ctx: Context, item: Item, version: ItemEdit) -> Context:
    """The context in which a version of ``item``'s message is read: its own time, its
    own mentions and HTML."""
    return replace(ctx, event_id=item.event_id, now=version.edited_at,
                   mentions=tuple(version.mentions), formatted_body=version.formatted_body,
                   outgoing=ctx.outgoing)


def apply_edit(ctx: Context, edit: Edit, reinterpret: Reinterpret) -> None:
    """An ``m.replace`` from the message's sender: the latest one decides what the item says."""
    item = item_by_event(ctx.session, edit.target_event_id)
    if item is None or item.sender != edit.sender:
        return
    version = ItemEdit(event_id=edit.event_id, item_event_id=item.event_id, text=edit.body,
                       edited_at=edit.timestamp, mentions=list(edit.mentions),
                       formatted_body=edit.formatted_body)
    known = versions(ctx.session, item)
    if known and _version_order(version) < _version_order(known[-1]):
        ctx.session.add(version)    # an older edit arriving late: history only
        return
    reading = as_of(ctx, item, version)
    error = reinterpret(reading, item, edit.body)
    if error is not None:
        reading.reply(error)    # to the message itself: an edit is not what people reply to
        return
    if item_by_event(ctx.session, version.item_event_id) is not None:
        ctx.session.add(version)
        item.edited_at = edit.timestamp


def apply_redaction(ctx: Context, redaction: Redaction, reinterpret: Reinterpret) -> None:
    """Redacting a message removes its item; redacting its latest edit restores the one before."""
    item = item_by_event(ctx.session, redaction.redacts)
    if item is not None:
        remove_item(ctx.session, item)
        return
    version = ctx.session.get(ItemEdit, redaction.redacts)
    if version is None or is_original(version):
        return
    item = item_by_event(ctx.session, version.item_event_id)
    was_latest = item is not None and versions(ctx.session, item)[-1].event_id == version.event_id
    ctx.session.delete(version)
    ctx.session.flush()
    if was_latest:
        _restore_latest(ctx, item, reinterpret)


def _restore_latest(ctx: Context, item: Item, reinterpret: Reinterpret) -> None:
    """Re-read the newest remaining version that still reads well (normally the first tried)."""
    for version in reversed(versions(ctx.session, item)):
        if reinterpret(as_of(ctx, item, version), item, version.text) is None:
            if item_by_event(ctx.session, item.event_id) is not None:
                item.edited_at = None if is_original(version) else version.edited_at
            return


def apply_plain(ctx: Context, item: Item, text: str) -> str | None:
    """A version that is not a command: discussion, a météo answer, or off the record."""
    seance = ctx.session.get(Seance, item.seance_id)
    if not text.strip() or is_off_record(text, ctx.config.bot.off_record_marker):
        remove_item(ctx.session, item)
        return None
    answers_prompt = item.parent_event_id is not None and (
        item.parent_event_id == prompt_event_id(ctx.session, seance))
    if answers_prompt:
        parsed = parse_mood(text)
        if parsed is None:
            return MOOD_MISSING
        store(ctx, seance, Capture(ItemKind.METEO, text=parsed[1], mood=parsed[0]))
        return None
    # ``ctx`` reads this version (as_of): its HTML goes with its text.
    store(ctx, seance, Capture(ItemKind.DISCUSSION, text=text, formatted=ctx.formatted_body))
    return None


# --- listeners (registered by commands.items) -----------------------------------------------------

def on_message(ctx: Context, message: Message) -> None:
    """A non-command message while a séance is open: discussion, or a météo answer."""
    seance = open_seance(ctx.session, ctx.room_id)
    if seance is None or message.msgtype not in CAPTURED_MSGTYPES:
        return
    mark_present(ctx.session, seance, ctx.sender, ctx.now)
    if not message.body or is_off_record(message.body, ctx.config.bot.off_record_marker):
        return
    target = message.thread_root or message.reply_to
    if target is not None and target == prompt_event_id(ctx.session, seance):
        _capture_meteo_answer(ctx, seance, message, target)
        return
    root = _root_item(ctx.session, seance, target)
    # The event is being handled for the first time (the core skips processed ones):
    # neither its item nor its first version can exist yet.
    item, _ = store(ctx, seance, Capture(ItemKind.DISCUSSION, text=message.body,
                                         formatted=message.formatted_body),
                    parent_event_id=root.event_id if root else None,
                    topic_id=root.topic_id if root else None, new_message=True)
    remember_original(ctx, item, message.body, new_message=True)


def _capture_meteo_answer(ctx: Context, seance: Seance, message: Message, prompt: str) -> None:
    parsed = parse_mood(message.body)
    if parsed is None:
        ctx.reply(MOOD_MISSING)
        return
    item, _ = store(ctx, seance, Capture(ItemKind.METEO, text=parsed[1], mood=parsed[0]),
                    parent_event_id=prompt)
    remember_original(ctx, item, message.body)
    ctx.react(ACK)


def _root_item(session: Session, seance: Seance, target: str | None) -> Item | None:
    """The captured item a reply or thread message hangs under (the root of a reply chain)."""
    item = item_by_event(session, target) if target else None
    if item is None or item.seance_id != seance.id:
        return None
    parent = item_by_event(session, item.parent_event_id) if item.parent_event_id else None
    return parent if parent is not None and parent.seance_id == seance.id else item


def on_reaction(ctx: Context, reaction: Reaction) -> None:
    """A reaction during the séance shows a registered person is there."""
    seance = open_seance(ctx.session, ctx.room_id)
    if seance is None or seance.rencontre_id is None:
        return
    query = select(Registration).where(Registration.rencontre_id == seance.rencontre_id,
                                       Registration.user_id == ctx.sender,
                                       Registration.status == RsvpStatus.REGISTERED)
    if ctx.session.exec(query).first() is not None:
        mark_present(ctx.session, seance, ctx.sender, ctx.now)
