"""Builder of the compte-rendu: from the stored séance to the view-model.

`build_view` reads the séance, its rencontre, the profiles, the captured items
and the schedule, and fills a `bot.minutes.view.MinutesView` whose strings are
already written in French; the renderers (`bot.minutes.render`) only lay it out.
Sections follow DESIGN.md §3 and the reference minutes (*Compte rendu 4*).

Nothing here formats for an output: user text is passed on as data and escaped
by the renderers. Captured items are read as stored: the capture keeps their
latest edited text and deletes redacted ones.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from bot.domain.capture import MeteoSummary, attendance, meteo_summary
from bot.domain.dates import When, format_day_fr, format_hours_fr, format_when_fr
from bot.domain.fiches import current as current_fiche
from bot.domain.fiches import fiche_key
from bot.domain.fiches import lines_of as fiche_lines
from bot.domain.people import person_details, person_name
from bot.domain.rencontres import cancelled_starts, next_occurrences, recurrence_of
from bot.domain.room_settings import network_name
from bot.domain.seance import occurrence_of_day
from bot.domain.zones import zone_suffix
from bot.engine import undecryptable
from bot.engine.roomstate import RoomState
from bot.minutes.charts import MAX_SEANCES, SeancePoint
from bot.minutes.view import (
    ActionGroup,
    ActionLine,
    Entry,
    Experience,
    Header,
    Meteo,
    MeteoAnswer,
    MinutesView,
    NextMeeting,
    Person,
    Resource,
    Section,
)
from bot.storage.models import (
    CalendarFeed,
    Item,
    ItemKind,
    Profile,
    Publication,
    Registration,
    Rencontre,
    RencontreStatus,
    Room,
    Seance,
    SeanceStatus,
    Topic,
)
from bot.support.config import Config
from bot.support.richtext import RichText, parse_formatted
from bot.support.text import normalize, text_lines

MOOD_EMOJIS = {5: "☀️", 4: "🌤️", 3: "⛅", 2: "🌧️", 1: "⛈️"}
MODE_TEXTS = {"distanciel": "en distanciel", "presentiel": "en présentiel", "hybride": "en mode hybride"}
# Rencontre.mode holds one of those keys (bot.domain.rencontres.parse_mode); anything else is shown as is.
UNASSIGNED = "Sans responsable"
NO_TOPIC_TITLE = "Discussion générale"
OTHER_NEWS_TITLE = "Autres actualités locales"
MAX_NEXT_MEETINGS = 3
MAX_DEPTH = 2  # replies nest on three list levels (as many as the DOCX styles), the last flat

# Kinds whose replies are shown nested under them (a reply to an action or a
# météo answer has no place there: it stays in the discussion of its topic).
HOSTS_REPLIES = frozenset({
    ItemKind.ACTU_NATIONALE, ItemKind.ACTU_REGIONALE, ItemKind.ACTU_LOCALE, ItemKind.INFO,
    ItemKind.DISCUSSION, ItemKind.QUESTION, ItemKind.DECISION, ItemKind.PARTAGE,
})

# "M. Labre Nicolas": the civility is left out when sorting by name.
_CIVILITY_RE = re.compile(r"^(?:m\.?|mme|mlle|mr|dr|pr)\s+", re.IGNORECASE)
# "CE Soissons", "Cité éducative de Soissons", "Cités éducatives d'Arras".
_CE_SHORT_RE = re.compile(r"^CE\s+(?P<rest>.+)$", re.IGNORECASE)
_CE_LONG_RE = re.compile(r"^cit[ée]s?\s+[ée]ducatives?\s+(?P<rest>.+)$", re.IGNORECASE)
_PREPOSITION_RE = re.compile(r"^(?:de|du|des|d['’])(?:\s|(?<=['’]))", re.IGNORECASE)
_VOWELS = frozenset("aeiouyàâäéèêëîïôöùûüœæ")


# --- people ------------------------------------------------------------------------------


def name_sort_key(name: str) -> tuple[str, str]:
    """Sort "M. Labre Nicolas" under L, accents and case aside (like the reference)."""
    return normalize(_CIVILITY_RE.sub("", name.strip())), name


@dataclass
class People:
    """Names of the people of a séance, from their profile or their display name."""

    profiles: dict[str, Profile]
    room_state: RoomState | None

    @classmethod
    def load(cls, session: Session, user_ids: Iterable[str], room_state: RoomState | None) -> People:
        wanted = sorted({u for u in user_ids if u})
        rows = session.exec(select(Profile).where(col(Profile.user_id).in_(wanted))).all() if wanted else []
        return cls({p.user_id: p for p in rows}, room_state)

    def display_name(self, user_id: str) -> str:
        """Offline (no room state), a member without a profile is shown by user id."""
        return self.room_state.display_name(user_id) if self.room_state else user_id

    def name(self, user_id: str) -> str:
        return person_name(self.profiles.get(user_id), self.display_name(user_id))

    def structure(self, user_id: str) -> str:
        profile = self.profiles.get(user_id)
        return profile.structure if profile else ""

    def person(self, user_id: str, note: str = "") -> Person:
        return Person(self.name(user_id), person_details(self.profiles.get(user_id)), note)

    def owner(self, owner: str) -> str:
        """An action's owner: a user id, or a free name typed as is."""
        if not owner.strip():
            return UNASSIGNED
        return self.name(owner) if owner.startswith("@") else owner.strip()


def sorted_people(people: Iterable[Person]) -> tuple[Person, ...]:
    return tuple(sorted(people, key=lambda p: name_sort_key(p.name)))


# --- météo du jour ------------------------------------------------------------------------


def decimal_fr(value: float) -> str:
    """4.25 → "4,3" (French decimal comma, one digit)."""
    return f"{value:.1f}".replace(".", ",")


def mood_text(mood: int) -> str:
    return f"{MOOD_EMOJIS[mood]} {mood}/5"


def _answered(count: int, participants: int) -> str:
    if count == 1:
        return f"1 participant·e sur {participants} a répondu"
    return f"{count} participant·e·s sur {participants} ont répondu"


def _spread(summary: MeteoSummary) -> str:
    given = {mood: n for mood, n in sorted(summary.distribution.items(), reverse=True) if n}
    shown = ", ".join(f"{MOOD_EMOJIS[mood]} {n}" for mood, n in given.items())
    if len(given) == 1:
        word = "humeur" if summary.count == 1 else "humeur unanime :"
        return f"{word} {next(iter(given))}/5 ({shown})"
    return f"humeurs de {min(given)}/5 à {max(given)}/5 ({shown})"


def _trend_text(summary: MeteoSummary) -> str:
    if summary.trend is None or summary.previous_mean is None:
        return ""
    return f", {summary.trend} par rapport à la séance précédente ({decimal_fr(summary.previous_mean)}/5)"


def meteo_synthesis(summary: MeteoSummary, participants: int) -> str:
    """The sentence opening the *Météo du jour*, written from the numbers."""
    if summary.count == 0 or summary.mean is None:
        return ""
    participants = max(participants, summary.count)
    return (f"{_answered(summary.count, participants)} ; {_spread(summary)}, "
            f"moyenne {decimal_fr(summary.mean)}/5{_trend_text(summary)}.")


def _meteo(session: Session, seance: Seance, items: list[Item], people: People,
           participants: int) -> Meteo | None:
    """The synthesis, then each answer (the capture keeps one per person)."""
    answers = tuple(MeteoAnswer(people.name(item.sender), mood_text(item.mood), item.text)
                    for item in items if item.mood in MOOD_EMOJIS)
    if not answers:
        return None
    return Meteo(meteo_synthesis(meteo_summary(session, seance), participants), answers)


# --- captured items -------------------------------------------------------------------------


def _chronological(item: Item) -> tuple[datetime, int]:
    return item.created_at, item.id or 0


class Captured:
    """The séance's items by kind, with the replies that hang under them."""

    def __init__(self, items: list[Item]):
        self.items = sorted(items, key=_chronological)
        by_event = {item.event_id: item for item in self.items}
        self.replies: dict[str, list[Item]] = defaultdict(list)
        self.by_kind: dict[str, list[Item]] = defaultdict(list)
        for item in self.items:
            parent = by_event.get(item.parent_event_id or "")
            # Only plain messages nest; a parent must come first (no cycles).
            if (item.kind == ItemKind.DISCUSSION and parent is not None and parent.kind in HOSTS_REPLIES
                    and _chronological(parent) < _chronological(item)):
                self.replies[parent.event_id].append(item)
            else:
                self.by_kind[item.kind].append(item)

    def of(self, kind: str) -> list[Item]:
        return self.by_kind.get(kind, [])

    def descendants(self, item: Item) -> list[Item]:
        """Every reply under ``item``, at any depth, in order."""
        found, stack = [], list(reversed(self.replies.get(item.event_id, [])))
        while stack:
            child = stack.pop()
            found.append(child)
            stack.extend(reversed(self.replies.get(child.event_id, [])))
        return sorted(found, key=_chronological)


def rich_text(item: Item) -> RichText:
    """The item's text with its author's formatting, when the message had some."""
    return parse_formatted(item.formatted) if item.formatted else ()


class EntryMaker:
    """Turns items into `Entry`s, their replies nested (flattened below MAX_DEPTH)."""

    def __init__(self, captured: Captured, people: People):
        self.captured = captured
        self.people = people

    def entry(self, item: Item, depth: int = 0, author: bool = True, replies: bool = True) -> Entry:
        children = self.children(item, depth + 1) if replies else ()
        return Entry(item.text, self.people.name(item.sender) if author else "", item.url, children,
                     rich_text(item))

    def children(self, item: Item, depth: int) -> tuple[Entry, ...]:
        if depth >= MAX_DEPTH:
            return tuple(self.entry_flat(reply) for reply in self.captured.descendants(item))
        return tuple(self.entry(reply, depth) for reply in self.captured.replies.get(item.event_id, []))

    def entry_flat(self, item: Item) -> Entry:
        return Entry(item.text, self.people.name(item.sender), item.url, rich=rich_text(item))

    def entries(self, items: Iterable[Item], author: bool = True, replies: bool = True) -> tuple[Entry, ...]:
        return tuple(self.entry(item, author=author, replies=replies) for item in items)

    def discussion_of(self, items: Iterable[Item]) -> tuple[Entry, ...]:
        """The replies to several items (a structure's news), merged in order."""
        replies = [r for item in items for r in self.captured.replies.get(item.event_id, [])]
        return tuple(self.entry(reply) for reply in sorted(replies, key=_chronological))


# --- local news -----------------------------------------------------------------------------------


def _of_city(rest: str) -> str:
    """"de Soissons", "d'Arras"; kept as typed when it has its own preposition."""
    if _PREPOSITION_RE.match(rest) or not rest[:1].isupper():
        return rest
    return f"d'{rest}" if rest[:1].lower() in _VOWELS else f"de {rest}"


def local_news_title(structure: str) -> str:
    """"CE Soissons" → "Actualités de la cité éducative de Soissons"; others kept as is."""
    structure = " ".join(structure.split())
    if not structure:
        return OTHER_NEWS_TITLE
    match = _CE_SHORT_RE.match(structure) or _CE_LONG_RE.match(structure)
    if match is None:
        return f"Actualités — {structure}"
    return f"Actualités de la cité éducative {_of_city(match['rest'])}"


def _local_news(captured: Captured, maker: EntryMaker, people: People,
                fiche_of: Callable[[str], tuple[tuple[str, str], ...]] = lambda s: ()
                ) -> tuple[Section, ...]:
    """One section per structure, in order of first news; then the replies to its news.
    ``fiche_of(structure)`` opens the section (a cité's fiche, the first time it appears)."""
    groups: dict[str, tuple[str, str, list[Item]]] = {}
    for item in captured.of(ItemKind.ACTU_LOCALE):
        structure = item.structure or people.structure(item.sender)
        title = local_news_title(structure)
        groups.setdefault(normalize(title), (title, structure, []))[2].append(item)
    return tuple(Section(title, maker.entries(items, author=False, replies=False), maker.discussion_of(items),
                         fiche_of(structure) if structure else ())
                 for title, structure, items in groups.values())


def _first_time_fiche(session: Session, seance: Seance, now: datetime
                      ) -> Callable[[str], tuple[tuple[str, str], ...]]:
    """The fiche of a structure whose news the room's earlier séances never had (as the
    minutes of 11 May 2022 present a cité the first time it speaks)."""
    earlier = session.exec(
        select(Item.structure).join(Seance, col(Seance.id) == col(Item.seance_id))
        .where(Seance.room_id == seance.room_id, Seance.number < seance.number,
               Item.kind == ItemKind.ACTU_LOCALE)).all()
    seen = {fiche_key(s) for s in earlier if s}

    def fiche_of(structure: str) -> tuple[tuple[str, str], ...]:
        if fiche_key(structure) in seen:
            return ()
        found = current_fiche(session, structure, now)
        return fiche_lines(found) if found else ()

    return fiche_of


# --- exchanges per agenda item ------------------------------------------------------------------


def _exchanges(topics: list[Topic], captured: Captured, maker: EntryMaker) -> tuple[Section, ...]:
    """Per agenda item: its !info points, then the discussion (replies nested).

    Items outside any known topic (before the first point) open the section.
    """
    known = {topic.id for topic in topics}
    groups: dict[int | None, tuple[list[Item], list[Item]]] = defaultdict(lambda: ([], []))
    for item in captured.of(ItemKind.INFO):
        groups[item.topic_id if item.topic_id in known else None][0].append(item)
    for item in captured.of(ItemKind.DISCUSSION):
        groups[item.topic_id if item.topic_id in known else None][1].append(item)
    titled = [(NO_TOPIC_TITLE, None), *((topic.title, topic.id) for topic in topics)]
    return tuple(Section(title, maker.entries(groups[key][0]), maker.entries(groups[key][1]))
                 for title, key in titled if key in groups)


# --- experiences, resources ---------------------------------------------------------------------


def _experiences(captured: Captured, maker: EntryMaker, people: People) -> tuple[Experience, ...]:
    result = []
    for item in captured.of(ItemKind.PARTAGE):
        structure = item.structure or people.structure(item.sender)
        name = people.name(item.sender)
        presenter = f"{name} ({structure})" if structure else name
        title = item.title or (text_lines(item.text) or ["Partage d'expérience"])[0]
        description = item.text if item.title else "\n".join(text_lines(item.text)[1:])
        result.append(Experience(title, description, item.url, presenter,
                                 maker.children(item, 0)))
    return tuple(result)


def _resources(captured: Captured, people: People) -> tuple[Resource, ...]:
    return tuple(Resource(item.url, item.text, people.name(item.sender))
                 for item in captured.of(ItemKind.RESSOURCE) if item.url)


# --- actions --------------------------------------------------------------------------------------


def _end_of(seance: Seance, now: datetime) -> datetime:
    return seance.closed_at or now


def _carried_actions(session: Session, seance: Seance, end: datetime) -> list[tuple[Item, int]]:
    """Actions of earlier séances of the room still open at the end of this one."""
    rows = session.exec(
        select(Item, Seance.number).join(Seance, col(Seance.id) == col(Item.seance_id))
        .where(Seance.room_id == seance.room_id, Seance.number < seance.number,
               Item.kind == ItemKind.ACTION)
        .order_by(col(Item.action_number), col(Item.created_at))).all()
    return [(item, number) for item, number in rows if item.done_at is None or item.done_at > end]


def _action_line(item: Item, origin: int | None) -> ActionLine:
    due = format_day_fr(item.due_date) if isinstance(item.due_date, date) else ""
    origin_text = f"reportée du CR n°{origin}" if origin is not None else ""
    return ActionLine(item.text, due, origin is not None, item.action_number or 0, origin_text)


def _actions(own: list[Item], carried: list[tuple[Item, int]], people: People,
             end: datetime) -> tuple[ActionGroup, ...]:
    """By person (sorted by name), then the unassigned ones; done ones are left out."""
    groups: dict[str, list[ActionLine]] = defaultdict(list)
    open_own = [(item, None) for item in own if item.done_at is None or item.done_at > end]
    for item, origin in [*open_own, *carried]:
        groups[people.owner(item.owner)].append(_action_line(item, origin))
    owners = sorted((o for o in groups if o != UNASSIGNED), key=name_sort_key)
    if UNASSIGNED in groups:
        owners.append(UNASSIGNED)
    return tuple(ActionGroup(owner, tuple(groups[owner])) for owner in owners)


# --- schedule: header, next meetings --------------------------------------------------------------


def _hours(when: When) -> str:
    if when.all_day:
        return "journée complète"
    end = when.end.astimezone(when.start.tzinfo).time() if when.end else None
    return format_hours_fr(when.start.time(), end)


def _seance_when(session: Session, seance: Seance, rencontre: Rencontre | None, tz: ZoneInfo) -> When:
    """The planned date and hours if the séance took place that day, else its own."""
    opened = seance.opened_at.astimezone(tz)
    planned = occurrence_of_day(session, rencontre, opened.date(), tz) if rencontre else None
    if planned is not None:
        return planned
    closed = seance.closed_at.astimezone(tz) if seance.closed_at else None
    return When(opened, closed if closed and closed.date() == opened.date() else None, False)


def room_timezone(session: Session, room_id: str, config: Config) -> ZoneInfo:
    room = session.get(Room, room_id)
    return ZoneInfo(room.timezone if room and room.timezone else config.bot.timezone)


@dataclass(frozen=True)
class Version:
    number: int = 1
    updated_at: datetime | None = None  # shown as "mise à jour du …" when number > 1


def next_version(session: Session, seance: Seance, now: datetime) -> Version:
    """The version a publication made ``now`` would get."""
    last = latest_publication(session, seance)
    return Version(last.version + 1, now) if last else Version(1)


def latest_publication(session: Session, seance: Seance) -> Publication | None:
    return session.exec(select(Publication).where(Publication.seance_id == seance.id)
                        .order_by(col(Publication.version).desc())).first()


def _header(session: Session, seance: Seance, rencontre: Rencontre | None, config: Config, tz: ZoneInfo,
            draft: bool, version: Version) -> Header:
    when = _seance_when(session, seance, rencontre, tz)
    updated = version.updated_at.astimezone(tz).date() if version.updated_at else None
    return Header(
        network_name=network_name(session, config, seance.room_id),
        title=(rencontre.title if rencontre and rencontre.title else seance.title),
        number=seance.number,
        date_text=format_day_fr(when.start.date()),
        hours_text=_hours(when) + zone_suffix(tz.key),
        mode_text=MODE_TEXTS.get(normalize(rencontre.mode), rencontre.mode) if rencontre else "",
        place_text=rencontre.lieu if rencontre else "",
        version=version.number,
        updated_text=format_day_fr(updated) if updated and version.number > 1 else "",
        draft=draft,
    )


def _upcoming(session: Session, seance: Seance, after: datetime) -> list[tuple[When, Rencontre]]:
    """The room's planned dates starting after ``after``, the séance's own aside."""
    found = []
    rencontres = session.exec(select(Rencontre).where(Rencontre.room_id == seance.room_id,
                                                      Rencontre.status == RencontreStatus.PLANNED)).all()
    for rencontre in rencontres:
        if rencontre.id == seance.rencontre_id and recurrence_of(rencontre) is None:
            continue
        cancelled = cancelled_starts(session, rencontre)
        nexts = next_occurrences(rencontre, cancelled, after, MAX_NEXT_MEETINGS, ongoing=False)
        found += [(when, rencontre) for when in nexts]
    return sorted(found, key=lambda pair: (pair[0].start, pair[1].number))[:MAX_NEXT_MEETINGS]


def _next_meetings(session: Session, seance: Seance, prefix: str,
                   after: datetime) -> tuple[NextMeeting, ...]:
    return tuple(
        NextMeeting(format_when_fr(when), MODE_TEXTS.get(normalize(r.mode), r.mode), r.title,
                    f"répondez « {prefix}inscription {r.number} » dans le salon")
        for when, r in _upcoming(session, seance, after))


def calendar_url(session: Session, room_id: str, config: Config) -> str:
    feed = session.get(CalendarFeed, room_id)
    return f"{config.http.public_url}/calendar/{feed.token}.ics" if feed else ""


def _agenda(rencontre: Rencontre | None, topics: list[Topic]) -> tuple[str, ...]:
    planned = [str(line) for line in (rencontre.agenda if rencontre else []) if str(line).strip()]
    return tuple(planned or [topic.title for topic in topics])


# --- the whole view ---------------------------------------------------------------------------------


@dataclass
class _Loaded:
    """Everything read from the database for one séance."""

    rencontre: Rencontre | None
    topics: list[Topic]
    captured: Captured
    carried: list[tuple[Item, int]]
    present: list[str]
    excused: list[str]
    facilitators: list[str]
    reasons: dict[str, str]
    people: People


def _load(session: Session, seance: Seance, config: Config, room_state: RoomState | None,
          now: datetime) -> _Loaded:
    rencontre = session.get(Rencontre, seance.rencontre_id) if seance.rencontre_id else None
    topics = list(session.exec(select(Topic).where(Topic.seance_id == seance.id)
                               .order_by(col(Topic.position), col(Topic.id))).all())
    items = list(session.exec(select(Item).where(Item.seance_id == seance.id)).all())
    carried = _carried_actions(session, seance, _end_of(seance, now))
    present, excused, facilitators = attendance(session, seance, config, room_state)
    reasons = {r.user_id: r.reason for r in session.exec(select(Registration).where(
        Registration.rencontre_id == seance.rencontre_id)).all()} if rencontre else {}
    ids = {*present, *excused, *facilitators, *(i.sender for i in items),
           *(i.owner for i in items if i.owner.startswith("@")),
           *(i.owner for i, _ in carried if i.owner.startswith("@"))}
    people = People.load(session, ids, room_state)
    return _Loaded(rencontre, topics, Captured(items), carried, present, excused, facilitators,
                   reasons, people)


def build_view(session: Session, seance: Seance, config: Config, room_state: RoomState | None,
               now: datetime, draft: bool, version: Version | None = None) -> MinutesView:
    """The compte-rendu of ``seance`` as a view-model.

    ``room_state`` gives display names and power levels (None offline: names come
    from profiles, else user ids). ``version`` defaults to the one a publication
    made ``now`` would get.
    """
    data = _load(session, seance, config, room_state, now)
    tz = ZoneInfo(data.rencontre.timezone) if data.rencontre else room_timezone(session, seance.room_id, config)
    people, captured = data.people, data.captured
    maker = EntryMaker(captured, people)
    upcoming = _next_meetings(session, seance, config.bot.command_prefix, max(now, _end_of(seance, now)))
    return MinutesView(
        header=_header(session, seance, data.rencontre, config, tz, draft, version or next_version(session, seance, now)),
        objectives=tuple(text_lines(data.rencontre.objectif)) if data.rencontre else (),
        agenda=_agenda(data.rencontre, data.topics),
        present=sorted_people(people.person(u) for u in data.present),
        excused=sorted_people(people.person(u, data.reasons.get(u, "")) for u in data.excused),
        facilitators=tuple(people.person(u) for u in data.facilitators),
        meteo=_meteo(session, seance, captured.of(ItemKind.METEO), people,
                     len(data.present) + len(data.facilitators)),
        national_news=maker.entries(captured.of(ItemKind.ACTU_NATIONALE)),
        regional_news=maker.entries(captured.of(ItemKind.ACTU_REGIONALE)),
        local_news=_local_news(captured, maker, people, _first_time_fiche(session, seance, now)),
        experiences=_experiences(captured, maker, people),
        exchanges=_exchanges(data.topics, captured, maker),
        questions=maker.entries(captured.of(ItemKind.QUESTION)),
        decisions=maker.entries(captured.of(ItemKind.DECISION), author=False),
        actions=_actions(captured.of(ItemKind.ACTION), data.carried, people, _end_of(seance, now)),
        resources=_resources(captured, people),
        next_meetings=upcoming,
        calendar_url=calendar_url(session, seance.room_id, config),
        register_text=(f"répondez « {config.bot.command_prefix}inscription n » dans le salon "
                       "ou réagissez ✅ à l'annonce.") if upcoming else "",
        unreadable_note=undecryptable.unreadable_note(
            undecryptable.count_between(session, seance.room_id, seance.opened_at, seance.closed_at)),
        history=() if draft else seance_history(session, seance, config, room_state, tz),
    )


# --- the room's history (charts) ---------------------------------------------------------------


def is_cite(structure: str) -> bool:
    """"CE Soissons", "Cité éducative de Soissons": a cité éducative, not another structure."""
    structure = " ".join(structure.split())
    return bool(_CE_SHORT_RE.match(structure) or _CE_LONG_RE.match(structure))


def cites_of(people: People, user_ids: Iterable[str]) -> set[str]:
    """The cités éducatives these people work for (by their profile's structure)."""
    return {normalize(local_news_title(s)) for s in (people.structure(u) for u in user_ids) if is_cite(s)}


def seance_point(session: Session, seance: Seance, config: Config, room_state: RoomState | None,
                 tz: ZoneInfo, current: bool = False) -> SeancePoint:
    """What the charts show of one séance: moods, attendance, cités represented."""
    present, excused, facilitators = attendance(session, seance, config, room_state)
    moods: dict[int, int] = defaultdict(int)
    for mood in session.exec(select(Item.mood).where(Item.seance_id == seance.id,
                                                     Item.kind == ItemKind.METEO)):
        if mood in MOOD_EMOJIS:
            moods[mood] += 1
    everyone = [*present, *facilitators]
    people = People.load(session, everyone, room_state)
    return SeancePoint(seance.number, seance.opened_at.astimezone(tz).strftime("%d/%m/%Y"), dict(moods),
                       len(everyone), len(excused), len(cites_of(people, everyone)), current)


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


# --- finding a séance ---------------------------------------------------------------------------------


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
