"""Rendering of the compte-rendu: Markdown, standalone HTML, room HTML (the DOCX, from
the same view-model: :mod:`bot.minutes.docx`).

The view-model (`bot.minutes.view.MinutesView`) is built elsewhere; here it is
only laid out. Markdown and HTML come from logic-free Jinja2 templates (packaged
in `templates/`, overridable by file name from a directory named in config).

User text is escaped in every format:
- HTML: Jinja2 autoescape (`.html.j2`), plus the `br` and `link` filters;
- Markdown: the `md`, `md_line` and `md_link` filters, so that user text can
  neither format nor link nor inject HTML, in the `.md` file nor in the HTML
  made from it for the room (`markdown_to_room_html`, sanitised by nh3 anyway);
- DOCX: see :mod:`bot.minutes.docx`.
A participant's own formatting (`Entry.rich`, bot.support.richtext) becomes Markdown
emphasis and sanitised HTML tags; nothing else of it survives.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import jinja2

from bot.minutes.charts import MIN_SEANCES, history_charts
from bot.minutes.view import MinutesView
from bot.support.templating import template_env

if TYPE_CHECKING:   # python-docx and lxml are imported when a DOCX is made (start-up time)
    pass

MARKDOWN_TEMPLATE = "minutes.md.j2"
HTML_TEMPLATE = "minutes.html.j2"

NBSP = "\u00a0"  # French typography: before ":" ";" "?" "!" in our own labels

# Section headings, in order (DESIGN.md §3). The templates spell them out too,
# so that an admin overriding a template reads plain French; tests check that
# every format shows the same headings.
HEADINGS = {
    "objectives": ("Objectif de la réunion", "Objectifs de la réunion"),
    "agenda": "Ordre du jour",
    "present": "Présent·e·s",
    "excused": "Excusé·e·s",
    "facilitators": "Animation",
    "meteo": "Météo du jour",
    "national_news": "Actualité nationale",
    "regional_news": "Actualités du réseau régional",
    "local_news": "Actualités locales",
    "experiences": "Présentation et partage d'expériences",
    "exchanges": "Échanges",
    "questions": "Questions",
    "decisions": "Décisions",
    "actions": "Actions à suivre",
    "resources": "Ressources partagées",
    "next_meetings": "Prochaines rencontres",
}
LABEL_NEWS = f"Point d'actualité{NBSP}:"
LABEL_POINTS = f"Points notables{NBSP}:"
LABEL_DISCUSSION = f"Échanges et partage entre les participant·e·s{NBSP}:"
DRAFT_TEXT = "Projet — document provisoire"


# --- text renderers -------------------------------------------------------------------


def render_markdown(view: MinutesView, env: jinja2.Environment | None = None) -> str:
    """The minutes as Markdown: the room message and the `.md` file."""
    return (env or template_env()).get_template(MARKDOWN_TEMPLATE).render(view=view)


def render_html(view: MinutesView, env: jinja2.Environment | None = None) -> str:
    """The minutes as a standalone, printable HTML5 document."""
    return (env or template_env()).get_template(HTML_TEMPLATE).render(view=view)


def with_charts(view: MinutesView) -> MinutesView:
    """The view with its charts drawn, from the second séance of its history on.

    Blocking (matplotlib): call it from the worker thread, like the DOCX and PDF renderers.
    """
    if len(view.history) < MIN_SEANCES:
        return view
    meteo, participation = history_charts(view.history)
    return replace(view, meteo_chart=meteo, participation_chart=participation)
