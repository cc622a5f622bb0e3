"""Direct-message reminders of an action to its owner: N days before the due date (room
setting, default 2) and on the day, at 9h room time (room setting too) — each exactly once.

The same machinery as the rencontres' reminders (:mod:`bot.domain.reminders`): the database
is the source of truth, the scheduler only holds wake-ups, and each reminder is sent
through ``host.run_job`` under its job key in the transaction that records
``ActionReminderSent``. After downtime only the latest missed reminder of an action
is sent, and only while it is still useful (until the end of the due day); older
missed ones are recorded as skipped. No owner (or a free name, who has no Matrix
account to write to), no due date, or done: no reminder.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from bot.domain import room_settings
from bot.domain.dates import format_day_fr
from bot.engine.context import Context
from bot.domain.reminders import Due, record_skipped_rows, sort_groups
from bot.storage.db import Database
from bot.storage.models import ActionReminderSent, Item, ItemKind, Seance
from bot.support.config import Config
from bot.support.text import matrix_to, md_line

log = logging.getLogger(__name__)

JOB_PREFIX = "action-reminder:"
BEFORE, ON_THE_DAY = "before", "day"

ActionKey = tuple[int, date, str]   # (item id, due date, kind)


@dataclass(frozen=True, order=True)
class ActionReminder:
    at: datetime                          # UTC
    item_id: int
    due_date: date
    kind: str
    room_id: str = field(compare=False)
    useful_until: datetime = field(compare=False)   # the end of the due day, room time

    @property
    def key(self) -> ActionKey:
        return self.item_id, self.due_date, self.kind

    @property
    def job_id(self) -> str:
        return f"{JOB_PREFIX}{self.item_id}:{self.due_date.isoformat()}:{self.kind}"


# --- pure arithmetic ---------------------------------------------------------------------

def local_instant(day: date, minute: int, tz: ZoneInfo) -> datetime:
    """``minute`` minutes after midnight on ``day`` in ``tz``, as UTC (in a DST gap, the
    wall time is read with the offset before the change, as zoneinfo does)."""
    return datetime.combine(day, time(*divmod(minute, 60)), tzinfo=tz).astimezone(UTC)


def plan_action(item_id: int, room_id: str, due: date, days_before: int, tz: ZoneInfo,
                since: datetime, minute: int = room_settings.ACTION_REMINDER_HOUR * 60
                ) -> list[ActionReminder]:
    """The action's reminders whose time comes after ``since`` (when it was noted or last
    changed: a time that came before was never missed)."""
    end = datetime.combine(due + timedelta(days=1), time(), tzinfo=tz).astimezone(UTC)
    planned = [ActionReminder(local_instant(due, minute, tz), item_id, due, ON_THE_DAY, room_id, end)]
    if days_before > 0:
        planned.insert(0, ActionReminder(local_instant(due - timedelta(days=days_before), minute, tz),
                                         item_id, due, BEFORE, room_id, end))
    return [r for r in planned if r.at > since]


def due_reminders(reminders: Iterable[ActionReminder], sent: set[ActionKey], now: datetime) -> Due:
    """Per action still in its useful window: the latest reminder whose time has come is
    sent unless it already was; older unsent ones are skipped; later ones are scheduled."""
    groups: dict[tuple[int, date], list[ActionReminder]] = {}
    for reminder in reminders:
        if now < reminder.useful_until:
            groups.setdefault((reminder.item_id, reminder.due_date), []).append(reminder)
    return sort_groups(groups.values(), sent, now)


# --- the database side (blocking) --------------------------------------------------------------

def _candidates(session: Session, now: datetime, item_id: int | None = None) -> list[tuple[Item, str]]:
    """Open actions with a Matrix owner and a due date not long past, with their room."""
    query = (select(Item, Seance.room_id).join(Seance, col(Seance.id) == col(Item.seance_id))
             .where(Item.kind == ItemKind.ACTION, col(Item.done_at).is_(None),
                    col(Item.due_date).is_not(None), col(Item.owner).startswith("@"),
                    col(Item.due_date) >= (now - timedelta(days=2)).date()))
    if item_id is not None:
        query = query.where(Item.id == item_id)
    return list(session.exec(query).all())


def plan_all(session: Session, config: Config, now: datetime,
             item_id: int | None = None) -> list[ActionReminder]:
    planned = []
    for item, room_id in _candidates(session, now, item_id):
        tz = ZoneInfo(room_settings.room_zone(session, config, room_id))
        days = room_settings.action_reminder_days(session, room_id)
        minute = room_settings.action_reminder_minute(session, room_id)
        since = max(item.created_at, item.edited_at or item.created_at)
        planned += plan_action(item.id, room_id, item.due_date, days, tz, since, minute)
    return planned


def sent_keys(session: Session, now: datetime) -> set[ActionKey]:
    query = select(ActionReminderSent).where(
        col(ActionReminderSent.due_date) >= (now - timedelta(days=2)).date())
    return {(s.item_id, s.due_date, s.kind) for s in session.exec(query)}


def load_due(db: Database, config: Config, now: datetime) -> Due:
    with db.session() as session:
        return due_reminders(plan_all(session, config, now), sent_keys(session, now), now)


def record_skipped(db: Database, reminders: list[ActionReminder], now: datetime) -> None:
    record_skipped_rows(db, ActionReminderSent, _sent_row, reminders, now)


def _sent_row(reminder: ActionReminder, now: datetime, skipped: bool) -> ActionReminderSent:
    return ActionReminderSent(item_id=reminder.item_id, due_date=reminder.due_date,
                              kind=reminder.kind, sent_at=now, skipped=skipped)


class StaleActionReminder(Exception):
    """Done, moved, reassigned or already sent since it was planned: send nothing."""


def send_action_reminder(ctx: Context, reminder: ActionReminder) -> None:
    """The job's action, in its own transaction: re-checks against the database, records
    the reminder and writes to the owner."""
    planned = plan_all(ctx.session, ctx.config, ctx.now, reminder.item_id)
    due = due_reminders(planned, sent_keys(ctx.session, ctx.now), ctx.now)
    if reminder not in due.send:
        raise StaleActionReminder(reminder.job_id)
    item = ctx.session.get(Item, reminder.item_id)
    ctx.session.add(_sent_row(reminder, ctx.now, skipped=False))
    ctx.dm(item.owner, reminder_text(ctx, item, reminder))


def reminder_text(ctx: Context, item: Item, reminder: ActionReminder) -> str:
    tz = ZoneInfo(room_settings.room_zone(ctx.session, ctx.config, reminder.room_id))
    days = (reminder.due_date - ctx.now.astimezone(tz).date()).days
    when = ("aujourd'hui" if days <= 0 else "demain" if days == 1 else f"dans {days} jours")
    network = room_settings.network_name(ctx.session, ctx.config, reminder.room_id)
    return "  \n".join([
        f"⏰ **Action à suivre n°{item.action_number}** — échéance {when}, le "
        f"{format_day_fr(reminder.due_date)}",
        f"« {md_line(item.text)} »",
        f"Réseau : {md_line(network)} — [salon]({matrix_to(reminder.room_id)})",
        f"Quand c'est fait : `{ctx.config.bot.command_prefix}action fait {item.action_number}` "
        "dans le salon."])


# --- the service -----------------------------------------------------------------------------
