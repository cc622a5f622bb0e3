"""View-model of a compte-rendu (meeting minutes).

Plain, immutable data that the builder fills from a séance's record and that the
renderers (`bot.minutes.render`, `bot.minutes.docx`) turn into Markdown, HTML and DOCX. Every string
is already formatted in French by the builder ("jeudi 9 juin 2022", "14h–17h",
"☀️ 5/5"); nothing here knows about an output format, so adding a format never
touches these classes.

The fields of `MinutesView` follow the order of the sections of the reference
minutes (DESIGN.md §3). Every section may be empty: renderers leave empty
sections out, heading included.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.minutes.charts import Chart, SeancePoint
from bot.support.richtext import RichText


@dataclass(frozen=True)
class Header:
    """Who, what and when: the top of the minutes."""

    network_name: str = ""  # "Cités éducatives des Hauts-de-France" (config)
    title: str = ""  # rencontre title: "Réseau régional des CPO"
    number: int = 0  # rencontre number in the room; 0 = no number shown
    date_text: str = ""  # "jeudi 9 juin 2022"
    hours_text: str = ""  # "14h–17h" or "journée complète"
    mode_text: str = ""  # "en distanciel" / "en présentiel" / "hybride"
    place_text: str = ""  # lieu, may be empty
    version: int = 1  # 1 = first publication
    updated_text: str = ""  # date of the update, shown when version > 1
    draft: bool = False  # a preview: "Projet — document provisoire"


@dataclass(frozen=True)
class Person:
    """A participant as the minutes name them.

    `name` is "Mme De Castro Anabela"; `details` is "fonction ; structure";
    `note` is a reason for an excused person, a remark otherwise.
    """

    name: str
    details: str = ""
    note: str = ""


@dataclass(frozen=True)
class MeteoAnswer:
    person: str
    mood: str  # "☀️ 5/5"
    text: str = ""


@dataclass(frozen=True)
class Meteo:
    synthesis: str  # one sentence written by the builder
    answers: tuple[MeteoAnswer, ...] = ()


@dataclass(frozen=True)
class Entry:
    """One item: a news item, a notable point, a captured message, a question…

    `children` are the replies or the thread under it. `rich` is the same text with
    its author's formatting (bold, links, lists…), when the message had some: the
    renderers then show `rich` instead of `text`.
    """

    text: str
    author: str = ""
    url: str = ""
    children: tuple[Entry, ...] = ()
    rich: RichText = ()


@dataclass(frozen=True)
class Section:
    """A titled group: one structure's local news, or one agenda item's exchanges."""

    title: str
    entries: tuple[Entry, ...] = ()
    discussion: tuple[Entry, ...] = ()
    fiche: tuple[tuple[str, str], ...] = ()   # (label, value): a cité's fiche, the first time


@dataclass(frozen=True)
class Experience:
    """Présentation et partage d'expériences (action inspirante)."""

    title: str
    description: str = ""
    url: str = ""
    presenter: str = ""
    discussion: tuple[Entry, ...] = ()  # the replies it received


@dataclass(frozen=True)
class ActionLine:
    text: str
    due_text: str = ""  # "jeudi 30 juin 2022"
    carried_over: bool = False  # still open from an earlier séance
    number: int = 0  # the action's number, to refer to it; 0 = not shown
    origin_text: str = ""  # "reportée du CR n°3"


@dataclass(frozen=True)
class ActionGroup:
    owner: str  # a person, or "Sans responsable"
    actions: tuple[ActionLine, ...] = ()


@dataclass(frozen=True)
class Resource:
    url: str
    description: str = ""
    shared_by: str = ""


@dataclass(frozen=True)
class NextMeeting:
    when_text: str  # "jeudi 9 juin 2022, 14h–17h"
    mode_text: str = ""  # "en distanciel"
    title: str = ""
    register_text: str = ""  # how to register for this one


@dataclass(frozen=True)
class MinutesView:
    """The whole compte-rendu, sections in the order of the reference minutes."""

    header: Header
    objectives: tuple[str, ...] = ()
    agenda: tuple[str, ...] = ()
    present: tuple[Person, ...] = ()
    excused: tuple[Person, ...] = ()
    facilitators: tuple[Person, ...] = ()
    meteo: Meteo | None = None
    national_news: tuple[Entry, ...] = ()
    regional_news: tuple[Entry, ...] = ()
    local_news: tuple[Section, ...] = ()
    experiences: tuple[Experience, ...] = ()
    exchanges: tuple[Section, ...] = ()
    questions: tuple[Entry, ...] = ()
    decisions: tuple[Entry, ...] = ()
    actions: tuple[ActionGroup, ...] = ()
    resources: tuple[Resource, ...] = ()
    next_meetings: tuple[NextMeeting, ...] = ()
    calendar_url: str = ""
    register_text: str = ""
    unreadable_note: str = ""   # encrypted messages of the séance the bot never could decrypt
    # The room's séances up to this one (charts' data, filled by the builder for the
    # final minutes), and the charts drawn from it (by bot.minutes.render.with_charts;
    # none before the second séance): shown in the Météo and Présent·e·s sections.
    history: tuple[SeancePoint, ...] = ()
    meteo_chart: Chart | None = None
    participation_chart: Chart | None = None
