"""Reminders before each rencontre (J-7, J-1 and H-1 by default), sent exactly once.

The database is the source of truth. The scheduler (APScheduler's AsyncIOScheduler)
only holds a wake-up per future reminder, under a stable job id; the whole set is
rebuilt at start, after each handled sync batch (debounced) and every few minutes,
so a changed date reschedules and a cancellation unschedules. Whatever wakes it, the
service recomputes what is due from the database and sends each reminder through
``host.run_job`` under the reminder's job key, in the transaction that records
``ReminderSent``: a reminder can neither be lost in a crash nor sent twice.

After downtime only the latest missed reminder of a rencontre that has not begun is
sent; older missed ones are recorded as skipped, so the room gets no burst of stale
reminders. The arithmetic is in pure functions tested with explicit clocks.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from bot.domain import registrations, rencontres
from bot.domain.people import load_profile, person_name
from bot.engine.context import Context
from bot.storage.db import Database
from bot.storage.models import ReminderSent, Rencontre, RencontreStatus, Room
from bot.support.config import Config
from bot.support.errors import UserError
from bot.support.templating import render
from bot.support.text import excerpt, normalize

log = logging.getLogger(__name__)

DAY = timedelta(days=1)
JOB_PREFIX = "reminder:"
RESCAN_SECONDS = 300        # safety net: series roll over, missed wake-ups
DEBOUNCE_SECONDS = 2.0      # several sync batches in a row → one rebuild
FIRST_SYNC_TIMEOUT = 60     # wait for room state (display names) before the first catch-up
MAX_OCCURRENCES = 50        # per series, within the planning horizon
MAX_OFFSETS = 6
MAX_OFFSET = timedelta(days=60)
NEAR_HOURS = 6              # closer than this, say "dans 3 heures" rather than "demain"

ReminderKey = tuple[int, datetime, int]   # (rencontre id, occurrence start UTC, offset minutes)


@dataclass(frozen=True, order=True)
class Reminder:
    """One reminder: ``offset_minutes`` before one occurrence of a rencontre, due ``at``."""

    at: datetime                 # UTC
    rencontre_id: int
    occurrence_start: datetime   # UTC
    offset_minutes: int
    room_id: str = field(compare=False)

    @property
    def key(self) -> ReminderKey:
        return self.rencontre_id, self.occurrence_start, self.offset_minutes

    @property
    def job_id(self) -> str:
        start = self.occurrence_start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return f"{JOB_PREFIX}{self.rencontre_id}:{start}:{self.offset_minutes}"


@dataclass(frozen=True)
class Due:
    """Reminders (of rencontres or of actions) sorted by what to do with them."""
    send: list     # one per group at most: the latest whose time has come
    skip: list     # older missed ones, superseded
    future: list   # to schedule


# --- pure arithmetic ---------------------------------------------------------------------

def minutes_of(offset: timedelta) -> int:
    return int(offset.total_seconds() // 60)


def reminder_instant(start: datetime, offset: timedelta, tz: ZoneInfo) -> datetime:
    """When to remind ``offset`` before ``start`` (UTC). Whole days count in local wall
    time (J-1 of a 14h rencontre is 14h the day before, across a DST change too);
    hours and minutes are absolute durations."""
    if offset % DAY:
        # In UTC: Python subtracts aware datetimes of one zone in wall time.
        return start.astimezone(UTC) - offset
    wall = start.astimezone(tz).replace(tzinfo=None) - offset
    return wall.replace(tzinfo=tz).astimezone(UTC)


def reminder_instants(start_local: datetime, offsets: Iterable[timedelta],
                      tz: ZoneInfo) -> list[tuple[timedelta, datetime]]:
    """(offset, UTC instant) for each offset, earliest first."""
    return sorted(((o, reminder_instant(start_local, o, tz)) for o in offsets), key=lambda p: p[1])


def plan_occurrence(rencontre_id: int, room_id: str, start: datetime, offsets: Iterable[timedelta],
                    tz: ZoneInfo) -> list[Reminder]:
    start_utc = start.astimezone(UTC)
    return [Reminder(at, rencontre_id, start_utc, minutes_of(offset), room_id)
            for offset, at in reminder_instants(start, offsets, tz)]


def due_reminders(reminders: Iterable[Reminder], sent: set[ReminderKey], now: datetime) -> Due:
    """Sort planned reminders into: send now, record as skipped, schedule for later.

    Only occurrences that have not begun count. Per occurrence, of the reminders whose
    time has come, the latest is sent unless it already was; the older unsent ones are
    skipped (no burst of stale reminders after downtime)."""
    by_occurrence: dict[tuple[int, datetime], list[Reminder]] = {}
    for reminder in reminders:
        if reminder.occurrence_start > now:
            by_occurrence.setdefault((reminder.rencontre_id, reminder.occurrence_start), []).append(reminder)
    return sort_groups(by_occurrence.values(), sent, now)


def sort_groups(groups: Iterable[list[Any]], sent: set, now: datetime) -> Due:
    """The rule shared by the rencontres' and the actions' reminders, per group (one
    occurrence, one action's due date): of the reminders whose time has come, the latest
    is sent unless it already was and the older unsent ones are skipped; the later ones
    are scheduled."""
    due = Due([], [], [])
    for group in groups:
        passed = sorted(r for r in group if r.at <= now)
        due.future.extend(sorted(r for r in group if r.at > now and r.key not in sent))
        if passed and passed[-1].key not in sent:
            due.send.append(passed.pop())
        due.skip.extend(r for r in passed if r.key not in sent)
    return due


def horizon_for(offsets: Iterable[timedelta]) -> timedelta:
    """How far ahead to plan occurrences: the longest offset, plus a day of margin."""
    return max(offsets, default=timedelta(0)) + DAY


# --- offsets of a room -----------------------------------------------------------------------

def room_offsets(session: Session, config: Config, room_id: str) -> tuple[timedelta, ...]:
    """``Room.reminder_offsets`` (minutes) when set — an empty list means none — else config."""
    room = session.get(Room, room_id)
    if room is None or room.reminder_offsets is None:
        return config.reminders.offsets
    return tuple(timedelta(minutes=m) for m in room.reminder_offsets)


OFFSET_TOKEN = re.compile(r"(?P<amount>\d+)\s*(?P<unit>semaines?|sem|w|jours?|j|d|heures?|h"
                          r"|minutes?|min|mn|m)(?![a-z])")
OFFSET_MINUTES = {"s": 7 * 24 * 60, "w": 7 * 24 * 60, "j": 24 * 60, "d": 24 * 60, "h": 60, "m": 1}
DEFAULT_WORDS = {"defaut", "default", "par defaut"}
NONE_WORDS = {"aucun", "aucuns", "none", "non"}


MAX_AMOUNT_DIGITS = 6   # 999999 minutes is already beyond MAX_OFFSET


def _minutes(match: re.Match[str]) -> int:
    """One delay in whole minutes, as a Python int: ``timedelta(weeks=999999999)`` would
    overflow, and a thousand-digit number is refused before int() reads it."""
    digits = match["amount"].lstrip("0") or "0"
    if len(digits) > MAX_AMOUNT_DIGITS:
        return minutes_of(MAX_OFFSET) + 1   # out of range, refused with the bounds
    return int(digits) * OFFSET_MINUTES[match["unit"][0]]


def parse_offsets(text: str) -> list[int] | None:
    """ "7j 1j 1h", "2 semaines, 30 min" → minutes, largest first; "défaut" → None (use the
    configuration); "aucun" → [] (no reminders)."""
    canonical = " ".join(normalize(text).split())
    if canonical in DEFAULT_WORDS:
        return None
    if canonical in NONE_WORDS:
        return []
    amounts = [_minutes(m) for m in OFFSET_TOKEN.finditer(canonical)]
    leftover = OFFSET_TOKEN.sub(" ", canonical).replace(",", " ").replace(";", " ").strip()
    if leftover or not amounts:
        raise UserError(f"je n'ai pas compris « {excerpt(leftover or canonical)} » : écrivez des "
                        "délais comme « 7j 1j 1h » ou « 30min ».")
    if any(not 0 < a <= minutes_of(MAX_OFFSET) for a in amounts) or len(amounts) > MAX_OFFSETS:
        raise UserError(f"il faut de 1 à {MAX_OFFSETS} délais, chacun entre 1 minute et "
                        f"{MAX_OFFSET.days} jours.")
    return sorted(set(amounts), reverse=True)


def describe_offset(offset: timedelta) -> str:
    """ "J-7", "H-1", "30 min avant"."""
    minutes = minutes_of(offset)
    if minutes % (24 * 60) == 0:
        return f"J-{minutes // (24 * 60)}"
    if minutes % 60 == 0:
        return f"H-{minutes // 60}"
    return f"{minutes} min avant"


def describe_offsets(offsets: Iterable[timedelta]) -> str:
    labels = [describe_offset(o) for o in sorted(offsets, reverse=True)]
    return ", ".join(labels) if labels else "aucun rappel"


# --- the database side (blocking: run through host.in_worker) --------------------------------

def plan_rencontre(session: Session, config: Config, rencontre: Rencontre,
                   now: datetime) -> list[Reminder]:
    """Every reminder of the occurrences that have not begun, within the planning horizon
    (always at least the next occurrence). A reminder whose time came before the rencontre
    was planned or last changed was never missed: it is left out."""
    offsets = room_offsets(session, config, rencontre.room_id)
    if not offsets:
        return []
    cancelled = rencontres.cancelled_starts(session, rencontre)
    limit = now + horizon_for(offsets)
    whens = rencontres.next_occurrences(rencontre, cancelled, now, MAX_OCCURRENCES, ongoing=False)
    whens = whens[:1] + [w for w in whens[1:] if w.start <= limit]
    tz = ZoneInfo(rencontre.timezone)
    return [r for w in whens for r in plan_occurrence(rencontre.id, rencontre.room_id, w.start, offsets, tz)
            if r.at > rencontre.updated_at]


def sent_keys(session: Session, rencontre_ids: list[int], now: datetime) -> set[ReminderKey]:
    query = select(ReminderSent).where(col(ReminderSent.rencontre_id).in_(rencontre_ids),
                                       ReminderSent.occurrence_start > now)
    return {(s.rencontre_id, s.occurrence_start, s.offset_minutes) for s in session.exec(query)}


def load_due(db: Database, config: Config, now: datetime) -> Due:
    """What is due now, from the stored rencontres and the reminders already recorded."""
    with db.session() as session:
        query = select(Rencontre).where(Rencontre.status == RencontreStatus.PLANNED)
        stored = [r for r in session.exec(query) if r.recurrence or r.start_at > now]
        planned = [rem for r in stored for rem in plan_rencontre(session, config, r, now)]
        return due_reminders(planned, sent_keys(session, [r.id for r in stored], now), now)


def record_skipped(db: Database, reminders: list[Reminder], now: datetime) -> None:
    record_skipped_rows(db, ReminderSent, _sent_row, reminders, now)


def record_skipped_rows(db: Database, model: type, row_of: Callable[..., Any],
                        reminders: Iterable[Any], now: datetime) -> None:
    """Record missed reminders (of rencontres or actions: ``model`` keyed by each
    reminder's ``key``, rows made by ``row_of``) as skipped, those not recorded yet."""
    with db.session() as session:
        for reminder in reminders:
            if session.get(model, reminder.key) is None:
                session.add(row_of(reminder, now, skipped=True))


def _sent_row(reminder: Reminder, now: datetime, skipped: bool) -> ReminderSent:
    return ReminderSent(rencontre_id=reminder.rencontre_id, occurrence_start=reminder.occurrence_start,
                        offset_minutes=reminder.offset_minutes, sent_at=now, skipped=skipped)


class StaleReminder(Exception):
    """The reminder is no longer due (date changed, cancelled, already sent): send nothing."""


def send_reminder(ctx: Context, reminder: Reminder) -> None:
    """The job's action, in its own transaction: checks against the database that the
    reminder is still due, records it and posts it in the room."""
    rencontre = ctx.session.get(Rencontre, reminder.rencontre_id)
    if rencontre is None:
        raise StaleReminder(reminder.job_id)
    planned = plan_rencontre(ctx.session, ctx.config, rencontre, ctx.now)
    due = due_reminders(planned, sent_keys(ctx.session, [rencontre.id], ctx.now), ctx.now)
    if reminder not in due.send:
        raise StaleReminder(reminder.job_id)
    ctx.session.add(_sent_row(reminder, ctx.now, skipped=False))
    ctx.send(reminder_text(ctx, rencontre, reminder))


def reminder_text(ctx: Context, rencontre: Rencontre, reminder: Reminder) -> str:
    tz = ZoneInfo(rencontre.timezone)
    when = next(w for w in rencontres.next_occurrences(rencontre, rencontres.cancelled_starts(ctx.session, rencontre),
                                                   ctx.now, MAX_OCCURRENCES, ongoing=False)
                if w.start == reminder.occurrence_start)
    registered, _excused = registrations.answers(ctx.session, rencontre)
    names = sorted((person_name(load_profile(ctx.session, r.user_id), ctx.room.display_name(r.user_id))
                    for r in registered), key=str.casefold)
    return render("rappel.md.j2", ctx.config.minutes.templates_dir, v=rencontres.view_of(rencontre, when),
                  until=time_until_fr(when.start, ctx.now.astimezone(tz)), inscrits=names,
                  prefix=ctx.config.bot.command_prefix)


def time_until_fr(start: datetime, now: datetime) -> str:
    """ "dans 45 minutes", "dans 1 heure", "demain", "dans 7 jours" (days by local date)."""
    minutes = max(0, round((start - now).total_seconds() / 60))
    days = (start.date() - now.astimezone(start.tzinfo).date()).days
    if minutes < 60:
        return f"dans {minutes} minute{'s' if minutes > 1 else ''}"
    if days == 0 or minutes < NEAR_HOURS * 60:
        hours = round(minutes / 60)
        return f"dans {hours} heure{'s' if hours > 1 else ''}"
    return "demain" if days == 1 else f"dans {days} jours"
