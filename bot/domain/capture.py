"""Capture of a séance: what people post becomes items, with Matrix's edit and redaction rules.

An item is tied to the message that created it (``Item.event_id``) and always reflects
the latest accepted version of that message. Versions are kept in ``ItemEdit``: the
original body is stored under the message's own event id (``event_id ==
item_event_id``), then one row per accepted ``m.replace``. A version's text is the body
as typed (a command keeps its ``!word``), with its mentions and HTML (an Element pill
leaves only a name in the text), so redacting the latest edit re-reads the previous
version, and a command re-read at the time it was written gives the same date for
"vendredi" and the same owner.

Reading a text (a mood, an action's person and due date, a link) is pure and lives in
:mod:`bot.domain.capture_parse`; this module stores, versions and edits the items.
What a text *means* (a command, discussion, a météo answer) is decided by the caller
through a ``Reinterpret`` function: :mod:`commands.items` knows the commands, this
module knows the séance, the items and the Matrix semantics. Nothing here imports the
command registry. Attendance (:mod:`bot.domain.attendance`) and the météo figures
(:mod:`bot.domain.meteo`) live in their own modules.

Everything runs inside the event's transaction (blocking, worker thread), and all
state lives in the database: handlers are idempotent because the core is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from sqlmodel import Session, col, func, select

from bot.domain.attendance import mark_present
from bot.domain.capture_parse import MOOD_CHOICES, Capture, is_off_record, parse_mood
from bot.domain.people import load_profile
from bot.engine.context import Context
from bot.engine.events import Edit, Message, Reaction, Redaction
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
from bot.support.errors import UserError

ACK = "✅"
CAPTURED_MSGTYPES = frozenset({"m.text", "m.emote"})   # m.notice is what bots send
METEO_TAG = "meteo"                 # outbox tag of the météo prompt: "meteo:<séance id>"

# --- météo ------------------------------------------------------------------------------

MOOD_MISSING = ("Merci ! Pour la *météo du jour*, commencez votre réponse par votre humeur : "
                f"{MOOD_CHOICES}, puis quelques mots (par exemple « 4 bonne dynamique »). "
                "Ce message n'a pas été noté.")

KIND_LABELS = {
    ItemKind.METEO: ("météo", "météos"),
    ItemKind.LOCAL_NEWS: ("actualité locale", "actualités locales"),
    ItemKind.NATIONAL_NEWS: ("actualité nationale", "actualités nationales"),
    ItemKind.REGIONAL_NEWS: ("actualité du réseau régional", "actualités du réseau régional"),
    ItemKind.INFO: ("point notable", "points notables"),
    ItemKind.SHARED_EXPERIENCE: ("partage d'expérience", "partages d'expérience"),
    ItemKind.ACTION: ("action", "actions"),
    ItemKind.RESOURCE: ("ressource", "ressources"),
    ItemKind.QUESTION: ("question", "questions"),
    ItemKind.DECISION: ("décision", "décisions"),
    ItemKind.DISCUSSION: ("message de discussion", "messages de discussion"),
}


# A caller-provided reading of a text for an existing item (see module docstring):
# applies it to the item (or removes the item) and returns None; or refuses it and changes
# nothing, either by raising the command's ``UserError`` (the engine words the reply:
# ``edit_refused_reply``) or by returning this module's own answer (``MOOD_MISSING``).
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
    # A command refusing the new text raises its UserError: the engine rolls the edit back
    # and answers it on the message itself (an edit is not what people reply to).
    answer = reinterpret(reading, item, edit.body)
    if answer is not None:
        reading.reply(answer)   # refused by this module (a météo answer without a mood)
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
    """Re-read the newest remaining version that still reads well (normally the first tried);
    one refused now is skipped, silently: nobody is answering a redaction."""
    for version in reversed(versions(ctx.session, item)):
        try:
            answer = reinterpret(as_of(ctx, item, version), item, version.text)
        except UserError:
            continue
        if answer is None:
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
