"""The room's summary of minutes too long for one message: the header, then each section
and its size; the full text goes in the attached files (``!cr``, ``!cr publier``).

Made from the view-model only, like the other renderers; user text is escaped for
Markdown (``md_line``).
"""

from __future__ import annotations

from bot.minutes.render import HEADINGS
from bot.minutes.view import Entry, MinutesView
from bot.support.text import md_line

LONG_MARKDOWN = 15_000  # characters: beyond, the room gets a summary and the files


def is_long(markdown: str) -> bool:
    """Too long for a comfortable message: the room gets the summary instead."""
    return len(markdown) > LONG_MARKDOWN


def _count(entries: tuple[Entry, ...]) -> int:
    return sum(1 + _count(e.children) for e in entries)


def _n(count: int, singular: str, plural: str | None = None) -> str:
    number = f"{count:,}".replace(",", "\u202f")  # French thousands: a narrow no-break space
    return f"{number} {singular if count == 1 else plural or singular + 's'}"


def section_sizes(view: MinutesView) -> list[tuple[str, str]]:
    """(heading, size) of each non-empty section, in order."""
    talk = sum(_count(s.entries) + _count(s.discussion) for s in view.exchanges)
    news = sum(len(s.entries) for s in view.local_news)
    replies = sum(_count(s.discussion) for s in view.local_news)
    actions = sum(len(g.actions) for g in view.actions)
    local = f"{_n(len(view.local_news), 'structure')}, {_n(news, 'actualité')}, {_n(replies, 'réaction')}"
    singular, plural = HEADINGS["objectives"]
    rows = [
        (plural if len(view.objectives) > 1 else singular, _n(len(view.objectives), "objectif")),
        (HEADINGS["agenda"], _n(len(view.agenda), "point")),
        (HEADINGS["present"], _n(len(view.present), "personne")),
        (HEADINGS["excused"], _n(len(view.excused), "personne")),
        (HEADINGS["facilitators"], _n(len(view.facilitators), "personne")),
        (HEADINGS["meteo"], _n(len(view.meteo.answers) if view.meteo else 0, "réponse")),
        (HEADINGS["national_news"], _n(_count(view.national_news), "message")),
        (HEADINGS["regional_news"], _n(_count(view.regional_news), "message")),
        (HEADINGS["local_news"], local),
        (HEADINGS["experiences"], _n(len(view.experiences), "partage")),
        (HEADINGS["exchanges"], f"{_n(len(view.exchanges), 'point')}, {_n(talk, 'message')}"),
        (HEADINGS["questions"], _n(_count(view.questions), "message")),
        (HEADINGS["decisions"], _n(len(view.decisions), "décision")),
        (HEADINGS["actions"], f"{_n(actions, 'action')}, {_n(len(view.actions), 'responsable')}"),
        (HEADINGS["resources"], _n(len(view.resources), "lien")),
        (HEADINGS["next_meetings"], _n(len(view.next_meetings), "date")),
    ]
    filled = (view.objectives, view.agenda, view.present, view.excused, view.facilitators, view.meteo,
              view.national_news, view.regional_news, view.local_news, view.experiences, view.exchanges,
              view.questions, view.decisions, view.actions, view.resources,
              view.next_meetings or view.calendar_url)
    return [row for row, content in zip(rows, filled, strict=True) if content]


def files_text(formats: tuple[str, ...]) -> str:
    """Where the full text is: "le fichier joint (.md)", "les fichiers joints (.md, .pdf)"."""
    if not formats:
        return "l'archive des comptes rendus"
    names = ", ".join(f".{fmt}" for fmt in formats)
    return f"le fichier joint ({names})" if len(formats) == 1 else f"les fichiers joints ({names})"


def summary_markdown(view: MinutesView, markdown: str, files: str) -> str:
    """The header and the size of each section, for minutes too long for one message."""
    h = view.header
    number = f" n°{h.number}" if h.number else ""
    lines = [f"# {md_line(h.title) + ' — ' if h.title else ''}Compte rendu{number}", ""]
    if h.draft:
        lines += ["**Projet — document provisoire**", ""]
    if h.network_name:
        lines += [f"**{md_line(h.network_name)}**", ""]
    when = ", ".join(md_line(t) for t in (h.date_text, h.hours_text, h.mode_text) if t)
    if when:
        lines += [f"Rencontre du {when}", ""]
    if h.version > 1:
        lines += [f"*Version {h.version}, mise à jour du {md_line(h.updated_text)}*", ""]
    size = _n(len(markdown), "caractère")
    lines += [f"Ce compte rendu est trop long pour un message ({size}) : le texte complet est dans {files}.",
              "", "## Sommaire", ""]
    lines += [f"- {heading}\u00a0: {size}" for heading, size in section_sizes(view)]
    return "\n".join(lines) + "\n"


def room_markdown(view: MinutesView, markdown: str, formats: tuple[str, ...]) -> str:
    """What the room gets: the minutes themselves, or their summary when they are long
    (the full text then being in the files of ``formats``)."""
    return summary_markdown(view, markdown, files_text(formats)) if is_long(markdown) else markdown
