"""Séance lifecycle: open (bound to a rencontre or ad hoc), close, and close by itself.

A séance left open closes itself ``bot.seance_auto_close_hours`` after its rencontre's
end (12 h after opening for an ad-hoc séance). The service checks every minute and
after every sync batch; the closing itself is a job keyed ``autoclose:<séance id>``,
so it happens exactly once even across restarts, and a séance closed by hand in the
meantime is left alone.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, func, select

from bot.domain.attendance import attendance
from bot.domain.capture import (
    KIND_LABELS,
    kind_label,
    next_seance_number,
    open_seance,
    seance_items,
)
from bot.domain.dates import When, format_date_fr, occurrences
from bot.domain.people import load_profile, person_name
from bot.domain.rencontres import cancelled_starts, ends_at, recurrence_of, when_of
from bot.engine.context import Context
from bot.engine.events import PollResponse, Reaction, Record, Redaction
from bot.engine.undecryptable import count_between, unreadable_note
from bot.storage.db import Database
from bot.storage.models import (
    Rencontre,
    RencontreStatus,
    Seance,
    SeanceStatus,
    SetAsideEvent,
    Topic,
)
from bot.support.config import Config
from bot.support.signals import seance_closed
from bot.support.templating import render

log = logging.getLogger(__name__)

AD_HOC_HOURS = 12           # an ad-hoc séance closes itself this long after opening
CHECK_SECONDS = 60
AUTOCLOSE_JOB = "autoclose"
SET_ASIDE_EXCERPT = 200     # characters of a set-aside message quoted in the summary

# send(ctx, seance): a séance was just closed (by hand or by itself), in the same
# transaction; the minutes module may post its draft from there.


# --- opening ------------------------------------------------------------------------------

def todays_rencontre(session: Session, room_id: str, today: date, tz: ZoneInfo,
                     now: datetime) -> Rencontre | None:
    """The room's planned rencontre taking place today (room time), the nearest to now."""
    found: list[tuple[When, Rencontre]] = []
    query = select(Rencontre).where(Rencontre.room_id == room_id,
                                    Rencontre.status == RencontreStatus.PLANNED)
    for rencontre in session.exec(query):
        when = occurrence_of_day(session, rencontre, today, tz)
        if when is not None:
            found.append((when, rencontre))
    if not found:
        return None
    return min(found, key=lambda pair: abs(pair[0].start - now))[1]


def occurrence_of_day(session: Session, rencontre: Rencontre, day: date,
                      tz: ZoneInfo) -> When | None:
    """The occurrence starting on ``day`` (begun or not), cancelled ones left out."""
    cancelled = cancelled_starts(session, rencontre)
    midnight = datetime.combine(day, datetime.min.time(), tz)
    found = occurrences(when_of(rencontre), recurrence_of(rencontre), midnight, len(cancelled) + 1)
    for when in found:
        if when.start.astimezone(tz).date() == day and when.start not in cancelled:
            return when
    return None


def open_new(ctx: Context, rencontre: Rencontre | None, title: str) -> Seance:
    """A new open séance with the room's next compte-rendu number."""
    today = ctx.now.astimezone(ctx.tz).date()
    default = (rencontre.title if rencontre else "") or f"Séance du {format_date_fr(today)}"
    seance = Seance(room_id=ctx.room_id, number=next_seance_number(ctx.session, ctx.room_id),
                    rencontre_id=rencontre.id if rencontre else None, title=title or default,
                    status=SeanceStatus.OPEN, opened_by=ctx.sender, opened_at=ctx.now)
    ctx.session.add(seance)
    ctx.session.flush()
    return seance


# --- agenda points ----------------------------------------------------------------------------

def start_topic(session: Session, seance: Seance, title: str, now: datetime) -> Topic:
    """The séance's next point (numbered after the earlier ones); what is said next goes in it."""
    query = select(func.count()).select_from(Topic).where(Topic.seance_id == seance.id)
    count = session.exec(query).one()
    topic = Topic(seance_id=seance.id, position=count + 1, title=title, started_at=now)
    session.add(topic)
    session.flush()
    seance.current_topic_id = topic.id
    return topic


def agenda_of(session: Session, seance: Seance) -> list[str]:
    """The agenda of the séance's rencontre, without blank entries ([] for an ad-hoc séance)."""
    rencontre = session.get(Rencontre, seance.rencontre_id) if seance.rencontre_id else None
    return [str(p).strip() for p in (rencontre.agenda if rencontre else []) if str(p).strip()]


def next_agenda_index(session: Session, seance: Seance, agenda: list[str]) -> int:
    """The index in ``agenda`` of the point after the current one (or of the first one not
    yet taken); ``len(agenda)`` when the agenda is done."""
    current = session.get(Topic, seance.current_topic_id) if seance.current_topic_id else None
    if current is not None and current.title in agenda:
        return agenda.index(current.title) + 1
    taken = set(session.exec(select(Topic.title).where(Topic.seance_id == seance.id)))
    return next((i for i, p in enumerate(agenda) if p not in taken), len(agenda))


# --- closing --------------------------------------------------------------------------------

def close(ctx: Context, seance: Seance, *, automatic: bool = False) -> None:
    """Stop capturing, post the summary (counts per kind, who took part), tell listeners."""
    seance.status, seance.closed_at = SeanceStatus.CLOSED, ctx.now
    ctx.session.flush()
    summary = render("seance_bilan.md.j2", ctx.config.minutes.templates_dir, number=seance.number,
                     title=seance.title, automatic=automatic, counts=_counts(ctx.session, seance),
                     people=_participants(ctx, seance), prefix=ctx.config.bot.command_prefix,
                     unreadable=unreadable_note(count_between(ctx.session, seance.room_id,
                                                              seance.opened_at, seance.closed_at)),
                     set_aside=_set_aside_lines(ctx, seance))
    if automatic:
        ctx.send(summary)
    else:
        ctx.reply(summary)
    seance_closed.send(ctx, seance)


def _counts(session: Session, seance: Seance) -> list[str]:
    """ "3 météos", "1 action"… in the order of the minutes."""
    kinds = [item.kind for item in seance_items(session, seance)]
    return [f"{kinds.count(k)} {kind_label(k, kinds.count(k))}" for k in KIND_LABELS if k in kinds]


def set_aside(ctx: Context, record: Record, error: str) -> None:
    """Record an event set aside after failing repeatedly (see ``bot.engine.core``), tied to the
    room's open séance if any, so the séance summary reports it."""
    seance = open_seance(ctx.session, ctx.room_id)
    ctx.session.merge(SetAsideEvent(
        event_id=record.event_id, room_id=ctx.room_id, seance_id=seance.id if seance else None,
        sender=record.sender, body=_description(record), error=error[:500],
        set_aside_at=ctx.now))


def _description(record) -> str:
    """What was said (a message, an edit's new text) or done (a reaction, a redaction)."""
    if isinstance(record, Reaction):
        return f"réaction {record.key}"
    if isinstance(record, Redaction):
        return "retrait d'un message"
    if isinstance(record, PollResponse):
        return "vote dans un sondage"
    return record.body


def _set_aside_lines(ctx: Context, seance: Seance) -> list[str]:
    """ "Anabela De Castro : « … »" for each message of the séance that was set aside."""
    query = (select(SetAsideEvent).where(SetAsideEvent.seance_id == seance.id)
             .order_by(col(SetAsideEvent.set_aside_at)))
    lines = []
    for row in ctx.session.exec(query):
        name = person_name(load_profile(ctx.session, row.sender), ctx.room.display_name(row.sender))
        text = row.body if len(row.body) <= SET_ASIDE_EXCERPT else row.body[:SET_ASIDE_EXCERPT] + "…"
        lines.append(f"{name} : « {text} »")
    return lines


def _participants(ctx: Context, seance: Seance) -> list[str]:
    present, _excused, facilitators = attendance(ctx.session, seance, ctx.config, ctx.room)
    return [person_name(load_profile(ctx.session, user), ctx.room.display_name(user))
            for user in facilitators + present]


# --- closing by itself ------------------------------------------------------------------------

def autoclose_at(session: Session, seance: Seance, hours: int) -> datetime:
    """``hours`` after the end of the rencontre's occurrence nearest to the opening (never
    before the opening itself); an ad-hoc séance: 12 h after it opened."""
    rencontre = session.get(Rencontre, seance.rencontre_id) if seance.rencontre_id else None
    if rencontre is None:
        return seance.opened_at + timedelta(hours=AD_HOC_HOURS)
    first = when_of(rencontre)
    length = ends_at(first) - first.start
    since = seance.opened_at - length - timedelta(days=1)
    around = occurrences(first, recurrence_of(rencontre), since, 3) or [first]
    nearest = min(around, key=lambda when: abs(when.start - seance.opened_at))
    return max(nearest.start + length, seance.opened_at) + timedelta(hours=hours)


def due_for_closing(db: Database, config: Config, now: datetime) -> list[tuple[str, int]]:
    """(room id, séance id) of the open séances past their closing time (blocking)."""
    hours = config.bot.seance_auto_close_hours
    with db.session() as session:
        query = select(Seance).where(Seance.status == SeanceStatus.OPEN).order_by(col(Seance.id))
        return [(seance.room_id, seance.id) for seance in session.exec(query)
                if autoclose_at(session, seance, hours) <= now]


def close_by_itself(seance_id: int, ctx: Context) -> None:
    """The job: close the séance if it is still open (it may have been closed by hand)."""
    seance = ctx.session.get(Seance, seance_id)
    if seance is not None and seance.status == SeanceStatus.OPEN:
        close(ctx, seance, automatic=True)
        log.info("séance %s of %s closed automatically", seance.number, seance.room_id)
