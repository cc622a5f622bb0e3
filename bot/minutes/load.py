"""Loading of the minutes: everything a séance's compte rendu shows, read from the database.

`load_seance` reads the séance, its items, the people, the attendance, the météo
figures, its rencontre and the next ones, the first-time fiches, the charts' history…
into a frozen `bot.minutes.record.SeanceRecord`; `bot.minutes.build.build` makes the
view-model from it without the database, and the renderers lay that out. `build_view`
chains the two, as ``!cr``, ``maillage export`` and the tests call it.

Also here: finding a séance (``!cr 4``, ``!cr n°3``, ``maillage export``) and the
charts' figures of a room's séances (`seance_history`, ``!bilan``'s `load_period`).
Blocking (database): call it from the worker thread.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from bot.domain.attendance import attendance
from bot.domain.fiches import current as current_fiche
from bot.domain.fiches import fiche_key
from bot.domain.fiches import lines_of as fiche_lines
from bot.domain.meteo import meteo_summary
from bot.domain.people import person_details, person_name
from bot.domain.rencontres import cancelled_starts, next_occurrences, recurrence_of
from bot.domain.room_settings import network_name
from bot.domain.seance import occurrence_of_day
from bot.engine import undecryptable
from bot.engine.roomstate import RoomState
from bot.minutes.archive import latest_publication
from bot.minutes.build import (
    MAX_NEXT_MEETINGS,
    MOOD_EMOJIS,
    People,
    Version,
    build,
    cites_among,
    news_structure,
)
from bot.minutes.charts import MAX_SEANCES, SeancePoint
from bot.minutes.record import (
    AttendanceRecord,
    CarriedAction,
    Fiche,
    ItemRecord,
    NextRencontre,
    PeriodRecord,
    PersonRecord,
    RencontreRecord,
    SeanceRecord,
    TopicRecord,
)
from bot.minutes.view import MinutesView
from bot.storage.models import (
    CalendarFeed,
    Item,
    ItemKind,
    Profile,
    Registration,
    Rencontre,
    RencontreStatus,
    Room,
    Seance,
    SeanceStatus,
    Topic,
)
from bot.support.config import Config

# --- one séance -----------------------------------------------------------------------------


def build_view(session: Session, seance: Seance, config: Config, room_state: RoomState | None,
               now: datetime, draft: bool, version: Version | None = None) -> MinutesView:
    """The compte-rendu of ``seance`` as a view-model: loaded, then built.

    ``room_state`` gives display names and power levels (None offline: names come
    from profiles, else user ids). ``version`` defaults to the one a publication
    made ``now`` would get.
    """
    record = load_seance(session, config, room_state, seance, now, history=not draft)
    return build(record, config, now, draft, version)


def load_seance(session: Session, config: Config, room_state: RoomState | None, seance: Seance,
                now: datetime, history: bool = True) -> SeanceRecord:
    """Everything the minutes of ``seance`` show, as of ``now`` (an open séance's end,
    the fiches' version, the next dates); ``history``: the charts' séances too."""
    rencontre = session.get(Rencontre, seance.rencontre_id) if seance.rencontre_id else None
    tz = ZoneInfo(rencontre.timezone) if rencontre else room_timezone(session, seance.room_id, config)
    items = tuple(_item_record(item) for item in
                  session.exec(select(Item).where(Item.seance_id == seance.id)).all())
    carried = _earlier_actions(session, seance)
    present, excused, facilitators = attendance(session, seance, config, room_state)
    owners = {i.owner for i in (*items, *(c.item for c in carried)) if i.owner.startswith("@")}
    people = load_people(session, {*present, *excused, *facilitators, *(i.sender for i in items), *owners},
                         room_state)
    return SeanceRecord(
        room_id=seance.room_id, number=seance.number, title=seance.title,
        opened_at=seance.opened_at, closed_at=seance.closed_at, timezone=tz.key,
        network_name=network_name(session, config, seance.room_id),
        rencontre=_rencontre_record(rencontre) if rencontre else None,
        planned=(occurrence_of_day(session, rencontre, seance.opened_at.astimezone(tz).date(), tz)
                 if rencontre else None),
        topics=tuple(TopicRecord(t.id, t.title) for t in session.exec(
            select(Topic).where(Topic.seance_id == seance.id).order_by(col(Topic.position), col(Topic.id)))),
        items=items,
        carried=carried,
        people=people,
        attendance=AttendanceRecord(tuple(present), tuple(excused), tuple(facilitators),
                                    _excused(session, rencontre)),
        meteo=meteo_summary(session, seance),
        next_rencontres=_upcoming(session, seance, max(now, seance.closed_at or now)),
        first_fiches=_first_fiches(session, seance, items, People(people), now),
        calendar_url=calendar_url(session, seance.room_id, config),
        last_version=_last_version(session, seance),
        unreadable=undecryptable.count_between(session, seance.room_id, seance.opened_at,
                                               seance.closed_at),
        history=seance_history(session, seance, config, room_state, tz) if history else (),
    )


def _item_record(item: Item) -> ItemRecord:
    return ItemRecord(
        id=item.id or 0, event_id=item.event_id, kind=item.kind, sender=item.sender,
        created_at=item.created_at, text=item.text, title=item.title, url=item.url,
        formatted=item.formatted or "", mood=item.mood, owner=item.owner or "",
        due_date=item.due_date, done_at=item.done_at, action_number=item.action_number,
        parent_event_id=item.parent_event_id, topic_id=item.topic_id, structure=item.structure or "")


def _rencontre_record(rencontre: Rencontre) -> RencontreRecord:
    return RencontreRecord(rencontre.title, rencontre.mode, rencontre.place, rencontre.objective,
                           tuple(str(line) for line in rencontre.agenda or ()))


def load_people(session: Session, user_ids: Iterable[str],
                room_state: RoomState | None) -> tuple[PersonRecord, ...]:
    """How the minutes name these people: their profile, else their display name (offline,
    without a room state: their user id)."""
    wanted = sorted({u for u in user_ids if u})
    rows = session.exec(select(Profile).where(col(Profile.user_id).in_(wanted))).all() if wanted else []
    profiles = {p.user_id: p for p in rows}

    def record(user_id: str) -> PersonRecord:
        profile = profiles.get(user_id)
        shown = room_state.display_name(user_id) if room_state else user_id
        return PersonRecord(user_id, person_name(profile, shown), person_details(profile),
                            profile.structure if profile else "")

    return tuple(record(u) for u in wanted)


def _earlier_actions(session: Session, seance: Seance) -> tuple[CarriedAction, ...]:
    """The actions of the room's earlier séances (the builder keeps those still open)."""
    rows = session.exec(
        select(Item, Seance.number).join(Seance, col(Seance.id) == col(Item.seance_id))
        .where(Seance.room_id == seance.room_id, Seance.number < seance.number,
               Item.kind == ItemKind.ACTION)
        .order_by(col(Item.action_number), col(Item.created_at))).all()
    return tuple(CarriedAction(_item_record(item), number) for item, number in rows)


def _excused(session: Session, rencontre: Rencontre | None) -> tuple[tuple[str, str], ...]:
    """(user id, reason) of the rencontre's registrations (the excused ones are shown)."""
    if rencontre is None:
        return ()
    rows = session.exec(select(Registration).where(Registration.rencontre_id == rencontre.id)).all()
    return tuple((r.user_id, r.reason) for r in rows)


def _upcoming(session: Session, seance: Seance, after: datetime) -> tuple[NextRencontre, ...]:
    """The room's planned dates starting after ``after``, the séance's own aside."""
    found: list[NextRencontre] = []
    rencontres = session.exec(select(Rencontre).where(Rencontre.room_id == seance.room_id,
                                                      Rencontre.status == RencontreStatus.PLANNED)).all()
    for rencontre in rencontres:
        if rencontre.id == seance.rencontre_id and recurrence_of(rencontre) is None:
            continue
        cancelled = cancelled_starts(session, rencontre)
        nexts = next_occurrences(rencontre, cancelled, after, MAX_NEXT_MEETINGS, ongoing=False)
        found += [NextRencontre(when, rencontre.number, rencontre.title, rencontre.mode) for when in nexts]
    return tuple(sorted(found, key=lambda r: (r.when.start, r.number))[:MAX_NEXT_MEETINGS])


def _first_fiches(session: Session, seance: Seance, items: Iterable[ItemRecord], people: People,
                  now: datetime) -> tuple[tuple[str, Fiche], ...]:
    """The fiche (as of ``now``) of each structure giving local news whose news the room's
    earlier séances never had (as the minutes of 11 May 2022 present a cité the first
    time it speaks)."""
    earlier = session.exec(
        select(Item.structure).join(Seance, col(Seance.id) == col(Item.seance_id))
        .where(Seance.room_id == seance.room_id, Seance.number < seance.number,
               Item.kind == ItemKind.LOCAL_NEWS)).all()
    seen = {fiche_key(s) for s in earlier if s}
    structures = dict.fromkeys(news_structure(i, people) for i in items if i.kind == ItemKind.LOCAL_NEWS)
    found = []
    for structure in structures:
        fiche = current_fiche(session, structure, now) if structure and fiche_key(structure) not in seen else None
        if fiche is not None and fiche_lines(fiche):
            found.append((structure, fiche_lines(fiche)))
    return tuple(found)


def _last_version(session: Session, seance: Seance) -> int:
    last = latest_publication(session, seance)
    return last.version if last else 0


def room_timezone(session: Session, room_id: str, config: Config) -> ZoneInfo:
    room = session.get(Room, room_id)
    return ZoneInfo(room.timezone if room and room.timezone else config.bot.timezone)


def calendar_url(session: Session, room_id: str, config: Config) -> str:
    feed = session.get(CalendarFeed, room_id)
    return f"{config.http.public_url}/calendar/{feed.token}.ics" if feed else ""


# --- the room's history (charts, !bilan) --------------------------------------------------------


def seance_point(session: Session, seance: Seance, config: Config, room_state: RoomState | None,
                 tz: ZoneInfo, current: bool = False) -> SeancePoint:
    """What the charts show of one séance: moods, attendance, cités represented."""
    present, excused, facilitators = attendance(session, seance, config, room_state)
    moods: dict[int, int] = {}
    for mood in session.exec(select(Item.mood).where(Item.seance_id == seance.id,
                                                     Item.kind == ItemKind.METEO)):
        if mood in MOOD_EMOJIS:
            moods[mood] = moods.get(mood, 0) + 1
    everyone = [*present, *facilitators]
    cites = cites_among(p.structure for p in load_people(session, everyone, room_state))
    return SeancePoint(seance.number, seance.opened_at.astimezone(tz).strftime("%d/%m/%Y"), moods,
                       len(everyone), len(excused), len(cites), current)


def seances_between(session: Session, room_id: str, start: datetime, end: datetime) -> list[Seance]:
    """The room's closed séances opened in [start, end), in order."""
    return list(session.exec(select(Seance).where(
        Seance.room_id == room_id, Seance.status == SeanceStatus.CLOSED,
        col(Seance.opened_at) >= start, col(Seance.opened_at) < end).order_by(col(Seance.number))).all())


def seance_history(session: Session, seance: Seance, config: Config, room_state: RoomState | None,
                   tz: ZoneInfo) -> tuple[SeancePoint, ...]:
    """The latest closed séances of the room up to ``seance`` (included, highlighted)."""
    earlier = session.exec(select(Seance).where(
        Seance.room_id == seance.room_id, Seance.status == SeanceStatus.CLOSED,
        Seance.number < seance.number).order_by(col(Seance.number).desc()).limit(MAX_SEANCES - 1)).all()
    return tuple(seance_point(session, s, config, room_state, tz, s.id == seance.id)
                 for s in [*reversed(earlier), seance])


def load_period(session: Session, room_id: str, start: datetime, end: datetime, config: Config,
                room_state: RoomState | None, tz: ZoneInfo) -> PeriodRecord:
    """The room's closed séances opened in [start, end) and their figures (``!bilan``)."""
    seances = seances_between(session, room_id, start, end)
    everyone: set[str] = set()
    for seance in seances:
        present, _excused, facilitators = attendance(session, seance, config, room_state)
        everyone.update(present, facilitators)
    cites = cites_among(p.structure for p in load_people(session, everyone, room_state))
    actions = session.exec(select(Item).where(
        col(Item.seance_id).in_([s.id for s in seances]), Item.kind == ItemKind.ACTION)).all()
    return PeriodRecord(
        numbers=tuple(s.number for s in seances),
        points=tuple(seance_point(session, s, config, room_state, tz) for s in seances),
        cites=len(cites), actions=len(actions),
        done=sum(1 for action in actions if action.done_at is not None))


# --- finding a séance ---------------------------------------------------------------------------


def last_closed_seance(session: Session, room_id: str) -> Seance | None:
    return session.exec(select(Seance).where(Seance.room_id == room_id,
                                             Seance.status == SeanceStatus.CLOSED)
                        .order_by(col(Seance.number).desc())).first()


def seance_by_number(session: Session, room_id: str, number: int) -> Seance | None:
    return session.exec(select(Seance).where(Seance.room_id == room_id, Seance.number == number)).first()


def seance_of_rencontre(session: Session, room_id: str, number: int) -> Seance | None:
    """The (latest) séance bound to rencontre ``number`` of the room."""
    rencontre = session.exec(select(Rencontre).where(Rencontre.room_id == room_id,
                                                     Rencontre.number == number)).first()
    if rencontre is None:
        return None
    return session.exec(select(Seance).where(Seance.rencontre_id == rencontre.id)
                        .order_by(col(Seance.number).desc())).first()


def seance_reference(session: Session, seance: Seance) -> str:
    """How to name this séance in a ``!cr`` command: its rencontre's number, else n°N."""
    rencontre = session.get(Rencontre, seance.rencontre_id) if seance.rencontre_id else None
    return str(rencontre.number) if rencontre else f"n°{seance.number}"
