"""Builder of the compte-rendu: from a séance's record to the view-model, no database.

`build` takes the `bot.minutes.record.SeanceRecord` that `bot.minutes.load` read (the
séance, its rencontre, the people, the captured items, the schedule) and fills a
`bot.minutes.view.MinutesView` whose strings are already written in French; the
renderers (`bot.minutes.render`, `bot.minutes.summary`) only lay it out. Sections
follow DESIGN.md §3 and the reference minutes (*Compte rendu 4*).

Nothing here reads the database (``tests/test_minutes_record.py`` checks the imports)
nor formats for an output: user text is passed on as data and escaped by the
renderers. Captured items are read as stored: the capture keeps their latest edited
text and deletes redacted ones.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from bot.domain.capture_parse import MOOD_EMOJIS
from bot.domain.dates import When, format_day_fr, format_hours_fr, format_when_fr
from bot.domain.meteo import MeteoSummary
from bot.domain.rencontres import MODE_TEXTS
from bot.domain.zones import zone_suffix
from bot.engine.undecryptable import unreadable_note
from bot.minutes.record import (
    CarriedAction,
    Fiche,
    ItemRecord,
    PersonRecord,
    SeanceRecord,
    TopicRecord,
)
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
from bot.storage.models import ItemKind  # the kinds' names only: no table is read here
from bot.support.config import Config
from bot.support.richtext import RichText, parse_formatted
from bot.support.text import normalize, text_lines

# A Rencontre.mode outside MODE_TEXTS (bot.domain.rencontres) is shown as is.
UNASSIGNED = "Sans responsable"
NO_TOPIC_TITLE = "Discussion générale"
OTHER_NEWS_TITLE = "Autres actualités locales"
MAX_NEXT_MEETINGS = 3
MAX_DEPTH = 2  # replies nest on three list levels (as many as the DOCX styles), the last flat

# Kinds whose replies are shown nested under them (a reply to an action or a
# météo answer has no place there: it stays in the discussion of its topic).
HOSTS_REPLIES = frozenset({
    ItemKind.NATIONAL_NEWS, ItemKind.REGIONAL_NEWS, ItemKind.LOCAL_NEWS, ItemKind.INFO,
    ItemKind.DISCUSSION, ItemKind.QUESTION, ItemKind.DECISION, ItemKind.SHARED_EXPERIENCE,
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


class People:
    """Names of the people of a séance, as loaded (`PersonRecord`); anyone else by user id."""

    def __init__(self, people: Iterable[PersonRecord]):
        self.by_id = {p.user_id: p for p in people}

    def name(self, user_id: str) -> str:
        found = self.by_id.get(user_id)
        return found.name if found else user_id

    def structure(self, user_id: str) -> str:
        found = self.by_id.get(user_id)
        return found.structure if found else ""

    def person(self, user_id: str, note: str = "") -> Person:
        found = self.by_id.get(user_id)
        return Person(self.name(user_id), found.details if found else "", note)

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


def _meteo(summary: MeteoSummary | None, items: list[ItemRecord], people: People,
           participants: int) -> Meteo | None:
    """The synthesis, then each answer (the capture keeps one per person)."""
    answers = tuple(MeteoAnswer(people.name(item.sender), mood_text(item.mood), item.text)
                    for item in items if item.mood in MOOD_EMOJIS)
    if not answers:
        return None
    return Meteo(meteo_synthesis(summary, participants) if summary else "", answers)


# --- captured items -------------------------------------------------------------------------


def _chronological(item: ItemRecord) -> tuple[datetime, int]:
    return item.created_at, item.id or 0


class Captured:
    """The séance's items by kind, with the replies that hang under them."""

    def __init__(self, items: Iterable[ItemRecord]):
        self.items = sorted(items, key=_chronological)
        by_event = {item.event_id: item for item in self.items}
        self.replies: dict[str, list[ItemRecord]] = defaultdict(list)
        self.by_kind: dict[str, list[ItemRecord]] = defaultdict(list)
        for item in self.items:
            parent = by_event.get(item.parent_event_id or "")
            # Only plain messages nest; a parent must come first (no cycles).
            if (item.kind == ItemKind.DISCUSSION and parent is not None and parent.kind in HOSTS_REPLIES
                    and _chronological(parent) < _chronological(item)):
                self.replies[parent.event_id].append(item)
            else:
                self.by_kind[item.kind].append(item)

    def of(self, kind: str) -> list[ItemRecord]:
        return self.by_kind.get(kind, [])

    def descendants(self, item: ItemRecord) -> list[ItemRecord]:
        """Every reply under ``item``, at any depth, in order."""
        found, stack = [], list(reversed(self.replies.get(item.event_id, [])))
        while stack:
            child = stack.pop()
            found.append(child)
            stack.extend(reversed(self.replies.get(child.event_id, [])))
        return sorted(found, key=_chronological)


def rich_text(item: ItemRecord) -> RichText:
    """The item's text with its author's formatting, when the message had some."""
    return parse_formatted(item.formatted) if item.formatted else ()


class EntryMaker:
    """Turns items into `Entry`s, their replies nested (flattened below MAX_DEPTH)."""

    def __init__(self, captured: Captured, people: People):
        self.captured = captured
        self.people = people

    def entry(self, item: ItemRecord, depth: int = 0, author: bool = True, replies: bool = True) -> Entry:
        children = self.children(item, depth + 1) if replies else ()
        return Entry(item.text, self.people.name(item.sender) if author else "", item.url, children,
                     rich_text(item))

    def children(self, item: ItemRecord, depth: int) -> tuple[Entry, ...]:
        if depth >= MAX_DEPTH:
            return tuple(self.entry_flat(reply) for reply in self.captured.descendants(item))
        return tuple(self.entry(reply, depth) for reply in self.captured.replies.get(item.event_id, []))

    def entry_flat(self, item: ItemRecord) -> Entry:
        return Entry(item.text, self.people.name(item.sender), item.url, rich=rich_text(item))

    def entries(self, items: Iterable[ItemRecord], author: bool = True, replies: bool = True) -> tuple[Entry, ...]:
        return tuple(self.entry(item, author=author, replies=replies) for item in items)

    def discussion_of(self, items: Iterable[ItemRecord]) -> tuple[Entry, ...]:
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


def news_structure(item: ItemRecord, people: People) -> str:
    """The structure a local news item speaks for: as captured, else the sender's profile's."""
    return item.structure or people.structure(item.sender)


def _local_news(captured: Captured, maker: EntryMaker, people: People,
                fiche_of: Callable[[str], Fiche] = lambda s: ()) -> tuple[Section, ...]:
    """One section per structure, in order of first news; then the replies to its news.
    ``fiche_of(structure)`` opens the section (a cité's fiche, the first time it appears)."""
    groups: dict[str, tuple[str, str, list[ItemRecord]]] = {}
    for item in captured.of(ItemKind.LOCAL_NEWS):
        structure = news_structure(item, people)
        title = local_news_title(structure)
        groups.setdefault(normalize(title), (title, structure, []))[2].append(item)
    return tuple(Section(title, maker.entries(items, author=False, replies=False), maker.discussion_of(items),
                         fiche_of(structure) if structure else ())
                 for title, structure, items in groups.values())


def _first_time_fiche(record: SeanceRecord) -> Callable[[str], Fiche]:
    """The fiche of a structure whose news the room's earlier séances never had (as the
    minutes of 11 May 2022 present a cité the first time it speaks): the loader kept only those."""
    fiches = dict(record.first_fiches)
    return lambda structure: fiches.get(structure, ())


# --- exchanges per agenda item ------------------------------------------------------------------


def _exchanges(topics: tuple[TopicRecord, ...], captured: Captured, maker: EntryMaker) -> tuple[Section, ...]:
    """Per agenda item: its !info points, then the discussion (replies nested).

    Items outside any known topic (before the first point) open the section.
    """
    known = {topic.id for topic in topics}
    groups: dict[int | None, tuple[list[ItemRecord], list[ItemRecord]]] = defaultdict(lambda: ([], []))
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
    for item in captured.of(ItemKind.SHARED_EXPERIENCE):
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
                 for item in captured.of(ItemKind.RESOURCE) if item.url)


# --- actions --------------------------------------------------------------------------------------


def _end_of(record: SeanceRecord, now: datetime) -> datetime:
    return record.closed_at or now


def _still_open(item: ItemRecord, end: datetime) -> bool:
    return item.done_at is None or item.done_at > end


def _carried_actions(carried: Iterable[CarriedAction], end: datetime) -> list[tuple[ItemRecord, int]]:
    """Actions of earlier séances of the room still open at the end of this one."""
    return [(c.item, c.origin) for c in carried if _still_open(c.item, end)]


def _action_line(item: ItemRecord, origin: int | None) -> ActionLine:
    due = format_day_fr(item.due_date) if isinstance(item.due_date, date) else ""
    origin_text = f"reportée du CR n°{origin}" if origin is not None else ""
    return ActionLine(item.text, due, origin is not None, item.action_number or 0, origin_text)


def _actions(own: list[ItemRecord], carried: list[tuple[ItemRecord, int]], people: People,
             end: datetime) -> tuple[ActionGroup, ...]:
    """By person (sorted by name), then the unassigned ones; done ones are left out."""
    groups: dict[str, list[ActionLine]] = defaultdict(list)
    open_own = [(item, None) for item in own if _still_open(item, end)]
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


def _seance_when(record: SeanceRecord, tz: ZoneInfo) -> When:
    """The planned date and hours if the séance took place that day, else its own."""
    if record.planned is not None:
        return record.planned
    opened = record.opened_at.astimezone(tz)
    closed = record.closed_at.astimezone(tz) if record.closed_at else None
    return When(opened, closed if closed and closed.date() == opened.date() else None, False)


@dataclass(frozen=True)
class Version:
    number: int = 1
    updated_at: datetime | None = None  # shown as "mise à jour du …" when number > 1


def following_version(last_version: int, now: datetime) -> Version:
    """The version a publication made ``now`` would get, after ``last_version`` (0: none)."""
    return Version(last_version + 1, now) if last_version else Version(1)


def _header(record: SeanceRecord, tz: ZoneInfo, draft: bool, version: Version) -> Header:
    rencontre = record.rencontre
    when = _seance_when(record, tz)
    updated = version.updated_at.astimezone(tz).date() if version.updated_at else None
    return Header(
        network_name=record.network_name,
        title=(rencontre.title if rencontre and rencontre.title else record.title),
        number=record.number,
        date_text=format_day_fr(when.start.date()),
        hours_text=_hours(when) + zone_suffix(tz.key),
        mode_text=MODE_TEXTS.get(normalize(rencontre.mode), rencontre.mode) if rencontre else "",
        place_text=rencontre.place if rencontre else "",
        version=version.number,
        updated_text=format_day_fr(updated) if updated and version.number > 1 else "",
        draft=draft,
    )


def _next_meetings(record: SeanceRecord, prefix: str) -> tuple[NextMeeting, ...]:
    return tuple(
        NextMeeting(format_when_fr(r.when), MODE_TEXTS.get(normalize(r.mode), r.mode), r.title,
                    f"répondez « {prefix}inscription {r.number} » dans le salon")
        for r in record.next_rencontres)


def _agenda(record: SeanceRecord) -> tuple[str, ...]:
    planned = [line for line in (record.rencontre.agenda if record.rencontre else ()) if line.strip()]
    return tuple(planned or [topic.title for topic in record.topics])


# --- the whole view ---------------------------------------------------------------------------------


def build(record: SeanceRecord, config: Config, now: datetime, draft: bool,
          version: Version | None = None) -> MinutesView:
    """The compte-rendu of the séance in ``record`` as a view-model.

    ``now`` ends an open séance (which actions are still open) and dates a new version;
    ``version`` defaults to the one a publication made ``now`` would get. A draft has
    no charts' history.
    """
    tz = ZoneInfo(record.timezone)
    people, captured = People(record.people), Captured(record.items)
    maker = EntryMaker(captured, people)
    present, excused, facilitators = (record.attendance.present, record.attendance.excused,
                                      record.attendance.facilitators)
    reasons = dict(record.attendance.reasons)
    prefix = config.bot.command_prefix
    upcoming = _next_meetings(record, prefix)
    end = _end_of(record, now)
    return MinutesView(
        header=_header(record, tz, draft, version or following_version(record.last_version, now)),
        objectives=tuple(text_lines(record.rencontre.objective)) if record.rencontre else (),
        agenda=_agenda(record),
        present=sorted_people(people.person(u) for u in present),
        excused=sorted_people(people.person(u, reasons.get(u, "")) for u in excused),
        facilitators=tuple(people.person(u) for u in facilitators),
        meteo=_meteo(record.meteo, captured.of(ItemKind.METEO), people, len(present) + len(facilitators)),
        national_news=maker.entries(captured.of(ItemKind.NATIONAL_NEWS)),
        regional_news=maker.entries(captured.of(ItemKind.REGIONAL_NEWS)),
        local_news=_local_news(captured, maker, people, _first_time_fiche(record)),
        experiences=_experiences(captured, maker, people),
        exchanges=_exchanges(record.topics, captured, maker),
        questions=maker.entries(captured.of(ItemKind.QUESTION)),
        decisions=maker.entries(captured.of(ItemKind.DECISION), author=False),
        actions=_actions(captured.of(ItemKind.ACTION), _carried_actions(record.carried, end), people, end),
        resources=_resources(captured, people),
        next_meetings=upcoming,
        calendar_url=record.calendar_url,
        register_text=(f"répondez « {prefix}inscription n » dans le salon "
                       "ou réagissez ✅ à l'annonce.") if upcoming else "",
        unreadable_note=unreadable_note(record.unreadable),
        history=() if draft else record.history,
    )


# --- the room's history (charts) ---------------------------------------------------------------


def is_cite(structure: str) -> bool:
    """"CE Soissons", "Cité éducative de Soissons": a cité éducative, not another structure."""
    structure = " ".join(structure.split())
    return bool(_CE_SHORT_RE.match(structure) or _CE_LONG_RE.match(structure))


def cites_among(structures: Iterable[str]) -> set[str]:
    """The cités éducatives among these structures (one per city, however it is spelled)."""
    return {normalize(local_news_title(s)) for s in structures if is_cite(s)}
