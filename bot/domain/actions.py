"""The room's open *actions à suivre*: listing by person, overdue ones, owners' names.

An action is an ``Item`` of kind ACTION captured in a séance; it stays open until
``!action fait <n>``. Blocking functions over a Session.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlmodel import Session, col, select

from bot.domain.dates import format_day_fr
from bot.domain.people import load_profile, person_name
from bot.engine.roomstate import RoomState
from bot.storage.models import Item, ItemKind, Seance
from bot.support.text import md_line

UNASSIGNED = "Sans responsable"


@dataclass(frozen=True)
class OpenAction:
    item: Item
    seance_number: int    # the compte rendu it was noted in


def open_actions(session: Session, room_id: str, owner: str | None = None) -> list[OpenAction]:
    """The room's actions not done yet, by number; only ``owner``'s when given."""
    query = (select(Item, Seance.number).join(Seance, col(Seance.id) == col(Item.seance_id))
             .where(Seance.room_id == room_id, Item.kind == ItemKind.ACTION,
                    col(Item.done_at).is_(None)))
    if owner is not None:
        query = query.where(Item.owner == owner)
    rows = session.exec(query.order_by(col(Item.action_number), col(Item.id))).all()
    return [OpenAction(item, number) for item, number in rows]


def mark_done(session: Session, item: Item, now: datetime) -> None:
    """``!action fait <n>``: the action is done, no longer among the open ones."""
    item.done_at = now
    session.add(item)


def overdue(actions: list[OpenAction], today: date) -> list[OpenAction]:
    return [a for a in actions if a.item.due_date is not None and a.item.due_date < today]


def owner_name(session: Session, room: RoomState, owner: str) -> str:
    """A member by their minutes name (profile, else display name); a free name as typed."""
    if not owner:
        return UNASSIGNED
    if owner.startswith("@"):
        return person_name(load_profile(session, owner), room.display_name(owner))
    return owner


def action_line(action: OpenAction, today: date, *, with_owner: str = "") -> str:
    """ "n°3 Envoyer le bilan — échéance : vendredi 4 décembre 2026 (en retard) — CR n°4"."""
    item = action.item
    parts = [f"**n°{item.action_number}** {md_line(item.text)}"]
    if with_owner:
        parts.append(md_line(with_owner))
    if item.due_date is not None:
        late = " (**en retard**)" if item.due_date < today else (
            " (aujourd'hui)" if item.due_date == today else "")
        parts.append(f"échéance : {format_day_fr(item.due_date)}{late}")
    parts.append(f"CR n°{action.seance_number}")
    return "- " + " — ".join(parts)


def by_person(session: Session, room: RoomState, actions: list[OpenAction]) -> list[tuple[str, list[OpenAction]]]:
    """(name, actions) sorted by name, the unassigned ones last."""
    groups: dict[str, list[OpenAction]] = {}
    for action in actions:
        groups.setdefault(owner_name(session, room, action.item.owner), []).append(action)
    names = sorted((n for n in groups if n != UNASSIGNED), key=str.casefold)
    if UNASSIGNED in groups:
        names.append(UNASSIGNED)
    return [(name, groups[name]) for name in names]


def overdue_text(session: Session, room: RoomState, actions: list[OpenAction], today: date,
                 prefix: str) -> str:
    """What a séance opening says about the actions past their due date ("" when none)."""
    late = overdue(actions, today)
    if not late:
        return ""
    lines = [f"⏰ **Actions en retard ({len(late)})**", ""]
    lines += [action_line(a, today, with_owner=owner_name(session, room, a.item.owner)) for a in late]
    lines += ["", f"Quand c'est fait : `{prefix}action fait <n>`."]
    return "\n".join(lines)
