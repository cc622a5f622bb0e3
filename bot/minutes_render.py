"""Rendering of the compte-rendu: Markdown, standalone HTML, DOCX, room HTML.

The view-model (`bot.minutes_view.MinutesView`) is built elsewhere; here it is
only laid out. Markdown and HTML come from logic-free Jinja2 templates (packaged
in `templates/`, overridable by file name from a directory named in config);
DOCX is written with python-docx from the same view-model.

User text is escaped in every format:
- HTML: Jinja2 autoescape (`.html.j2`), plus the `br` and `link` filters;
- Markdown: the `md`, `md_line` and `md_link` filters, so that user text can
  neither format nor link nor inject HTML, in the `.md` file nor in the HTML
  made from it for the room (`markdown_to_room_html`, sanitised by nh3 anyway);
- DOCX: plain runs (python-docx escapes XML), links only to http/https.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import docx
import jinja2
import markdown
import nh3
from docx.opc.constants import RELATIONSHIP_TYPE
from docx.opc.coreprops import CoreProperties
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import RGBColor
from docx.text.paragraph import Paragraph
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup, escape

from bot.minutes_view import Entry, MinutesView, Person, Section

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

# Tags and attributes that Element renders in a formatted_body.
# fmt: off
ROOM_TAGS = {
    "h1", "h2", "h3", "h4", "h5", "h6", "p", "ul", "ol", "li",
    "strong", "em", "a", "br", "blockquote", "code", "hr",
}
# fmt: on
ROOM_ATTRIBUTES = {"a": {"href"}, "ol": {"start"}}
SAFE_SCHEMES = frozenset({"http", "https"})


# --- plain-text helpers ---------------------------------------------------------

# Control characters (tabs and line breaks aside) are dropped everywhere: they are
# invalid in XML (DOCX) and Python-Markdown uses STX/ETX as internal markers.
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _clean(text: str) -> str:
    return _CONTROL_RE.sub("", str(text)).replace("\t", " ")


def _lines(text: str) -> list[str]:
    """The non-blank lines of a user text, stripped (indentation means code in Markdown)."""
    return [line.strip() for line in str(text).replace("\t", " ").splitlines() if line.strip()]


def safe_url(url: str) -> str:
    """`url` if it is an absolute http(s) URL without spaces or controls, else ""."""
    url = str(url).strip()
    if not url or any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        return ""
    parts = urlsplit(url)
    if parts.scheme.lower() not in SAFE_SCHEMES or not parts.netloc:
        return ""
    return url


# --- Markdown filters -----------------------------------------------------------

# Escaped wherever they stand. HTML-significant characters and those that
# Python-Markdown cannot backslash-escape become entities, which every Markdown
# flavour decodes back to the character.
_MD_ANYWHERE = str.maketrans(
    {
        "\\": "\\\\",
        "`": "\\`",
        "*": "\\*",
        "{": "\\{",
        "}": "\\}",
        "[": "\\[",
        "]": "\\]",
        "<": "&lt;",
        ">": "&gt;",
        "|": "&#124;",
        "~": "&#126;",
    }
)
# "_" between two letters or digits emphasises nothing (CommonMark, Python-Markdown):
# left as is, it keeps URLs and identifiers readable in the .md file.
_MD_UNDERSCORE_RE = re.compile(r"(?<![^\W_])_|_(?![^\W_])")
# An "&" that would start an entity reference ("&lt;" typed by a user stays "&lt;").
_MD_ENTITY_RE = re.compile(r"&(?=#[0-9]+;|#[xX][0-9a-fA-F]+;|[A-Za-z][A-Za-z0-9]*;)")
# At the start of a line: headings, lists, setext underlines, ordered list markers
# ("12." or "12)"). Blockquotes cannot start: ">" is always an entity.
_MD_LINE_START_RE = re.compile(r"^(?:([#+\-])|(=)|(\d+)([.)]))")


def _md_line_start(match: re.Match[str]) -> str:
    mark, equals, digits, delimiter = match.groups()
    if mark:
        return "\\" + mark
    if equals:
        return "&#61;"
    return f"{digits}\\{delimiter}"


def _md_escape_line(line: str) -> str:
    line = _MD_ENTITY_RE.sub("&amp;", _clean(line)).translate(_MD_ANYWHERE)
    line = _MD_UNDERSCORE_RE.sub(r"\\_", line)
    return _MD_LINE_START_RE.sub(_md_line_start, line, count=1)


def md(value: object, indent: int | str = "") -> str:
    """Escape user text for Markdown; its line breaks become hard breaks.

    `indent` prefixes the continuation lines so that they stay inside the list
    item the text stands in (the item's content column: 2 for "- ", 6 for a
    nested "    - ").
    """
    pad = " " * indent if isinstance(indent, int) else str(indent)
    return f"  \n{pad}".join(_md_escape_line(line) for line in _lines(str(value)))


def md_line(value: object) -> str:
    """Escape user text for Markdown on one line (headings, names, link text)."""
    return _md_escape_line(" ".join(_lines(str(value))))


_MD_URL_ESCAPES = str.maketrans(
    {
        " ": "%20",
        "(": "%28",
        ")": "%29",
        "<": "%3C",
        ">": "%3E",
        "\\": "%5C",
        "`": "%60",
    }
)


def md_link(text: object, url: object) -> str:
    """A Markdown link to `url` if it is http(s); otherwise the escaped text only.

    A link whose text is its URL is written as an autolink, `<https://…>`, which
    keeps the `.md` file readable.
    """
    href = safe_url(str(url))
    label = md_line(text) or md_line(url)
    if not href:
        return label
    href = href.translate(_MD_URL_ESCAPES)
    if str(text).strip() in ("", str(url).strip()):
        return f"<{href}>"
    return f"[{label}]({href})"


# --- HTML filters -----------------------------------------------------------------


def br(value: object) -> Markup:
    """Escape user text for HTML; its line breaks become <br>."""
    return Markup("<br>\n").join(escape(_clean(line)) for line in _lines(str(value)))


def link(text: object, url: object) -> Markup:
    """An HTML link to `url` if it is http(s); otherwise the escaped text only."""
    label = " ".join(_lines(_clean(str(text)))) or " ".join(_lines(_clean(str(url))))
    href = safe_url(str(url))
    if not href:
        return escape(label)
    return Markup('<a href="{}">{}</a>').format(href, label)


# --- environment and text renderers -------------------------------------------------


def template_env(templates_dir: Path | None = None) -> jinja2.Environment:
    """The Jinja2 environment for the minutes.

    Templates in `templates_dir` (from config) override the packaged ones with
    the same file name. The environment is sandboxed: override templates come
    from an admin, but they are still not trusted with Python.
    """
    loaders: list[jinja2.BaseLoader] = []
    if templates_dir is not None:
        loaders.append(jinja2.FileSystemLoader(str(templates_dir)))
    loaders.append(jinja2.PackageLoader("templates", "."))
    env = ImmutableSandboxedEnvironment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=jinja2.select_autoescape(["html", "html.j2"]),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(md=md, md_line=md_line, md_link=md_link, br=br, link=link)
    return env


def render_markdown(view: MinutesView, env: jinja2.Environment | None = None) -> str:
    """The minutes as Markdown: the room message and the `.md` file."""
    return (env or template_env()).get_template(MARKDOWN_TEMPLATE).render(view=view)


def render_html(view: MinutesView, env: jinja2.Environment | None = None) -> str:
    """The minutes as a standalone, printable HTML5 document."""
    return (env or template_env()).get_template(HTML_TEMPLATE).render(view=view)


def markdown_to_room_html(md_text: str) -> str:
    """Markdown → the HTML of a Matrix `formatted_body`, sanitised for Element."""
    html = markdown.markdown(md_text, extensions=["sane_lists"], output_format="html")
    return nh3.clean(
        html,
        tags=ROOM_TAGS,
        attributes=ROOM_ATTRIBUTES,
        url_schemes=set(SAFE_SCHEMES),
        link_rel=None,
    )


# --- DOCX ---------------------------------------------------------------------------

_HYPERLINK_COLOR = "1F4E79"
_LIST_STYLES = ("List Bullet", "List Bullet 2", "List Bullet 3")


class _Strong(str):
    """Text of a paragraph to set in bold."""


# A paragraph's content: text (bold if _Strong), or (text, url) for a link.
Run = str | tuple[str, str]


class _DocxWriter:
    """Thin helper over a python-docx Document: headings, paragraphs, bullets, links."""

    def __init__(self) -> None:
        self.doc = docx.Document()
        # python-docx's add_paragraph() looks for w:sectPr among all the body's
        # children on every call (quadratic for long minutes): keep it at hand.
        self._section_properties = self.doc.element.body.sectPr
        self._style_ids: dict[str, str] = {}

    def heading(self, text: str, level: int) -> None:
        """Level 0 is the document title."""
        self.paragraph([text], "Title" if level == 0 else f"Heading {level}")

    def paragraph(self, runs: list[Run], style: str | None = None) -> None:
        self._fill(self._add_paragraph(style), runs)

    def bullet(self, runs: list[Run], level: int = 0) -> None:
        self.paragraph(runs, _LIST_STYLES[min(level, len(_LIST_STYLES) - 1)])

    def _add_paragraph(self, style: str | None) -> Paragraph:
        p = OxmlElement("w:p")
        if style:
            p.get_or_add_pPr().style = self._style_id(style)
        if self._section_properties is None:
            self.doc.element.body.append(p)
        else:
            self._section_properties.addprevious(p)
        return Paragraph(p, self.doc)

    def _style_id(self, name: str) -> str:
        if name not in self._style_ids:
            self._style_ids[name] = self.doc.styles[name].style_id
        return self._style_ids[name]

    def _fill(self, paragraph: Paragraph, runs: list[Run]) -> None:
        for run in runs:
            if isinstance(run, tuple):
                self._link(paragraph, *run)
            elif run:
                paragraph.add_run(_clean(run)).bold = isinstance(run, _Strong) or None

    def _link(self, paragraph: Paragraph, text: str, url: str) -> None:
        """A real w:hyperlink (external relationship) for http(s) URLs, else plain text."""
        label = _clean(" ".join(_lines(text)) or url)
        href = safe_url(url)
        if not href:
            paragraph.add_run(label)
            return
        rel_id = paragraph.part.relate_to(href, RELATIONSHIP_TYPE.HYPERLINK, is_external=True)
        hyperlink = OxmlElement("w:hyperlink")
        hyperlink.set(qn("r:id"), rel_id)
        run = paragraph.add_run(label)
        run.font.underline = True
        run.font.color.rgb = RGBColor.from_string(_HYPERLINK_COLOR)
        hyperlink.append(run._r)  # move the run into the hyperlink
        paragraph._p.append(hyperlink)

    def save(self) -> bytes:
        buffer = io.BytesIO()
        self.doc.save(buffer)
        return buffer.getvalue()


def _person_runs(person: Person, note_label: str = "") -> list[Run]:
    runs: list[Run] = [person.name]
    if person.details:
        runs.append(f" ({person.details})")
    if person.note:
        runs.append(f" — {note_label}{person.note}")
    return runs


def _entry_runs(entry: Entry) -> list[Run]:
    runs: list[Run] = [f"{entry.author}{NBSP}: "] if entry.author else []
    runs.append(entry.text)
    if entry.url:
        runs += [" — ", (entry.url, entry.url)]
    return runs


def _docx_entries(w: _DocxWriter, entries: tuple[Entry, ...], level: int = 0) -> None:
    for entry in entries:
        w.bullet(_entry_runs(entry), level)
        _docx_entries(w, entry.children, level + 1)


def _docx_persons(w: _DocxWriter, persons: tuple[Person, ...], note_label: str = "") -> None:
    for person in persons:
        w.bullet(_person_runs(person, note_label))


def _docx_section(w: _DocxWriter, section: Section, entries_label: str) -> None:
    w.heading(section.title, 2)
    if section.entries:
        w.paragraph([_Strong(entries_label)])
        _docx_entries(w, section.entries)
    if section.discussion:
        w.paragraph([_Strong(LABEL_DISCUSSION)])
        _docx_entries(w, section.discussion)


def _docx_header(w: _DocxWriter, view: MinutesView) -> None:
    h = view.header
    w.heading(_title_text(view), 0)
    if h.draft:
        w.paragraph([_Strong(DRAFT_TEXT)])
    if h.network_name:
        w.paragraph([_Strong(h.network_name)])
    if h.date_text:
        w.paragraph(
            ["Rencontre du " + ", ".join(filter(None, (h.date_text, h.hours_text, h.mode_text)))]
        )
    if h.place_text:
        w.paragraph([f"Lieu{NBSP}: {h.place_text}"])
    if h.version > 1:
        updated = f", mise à jour du {h.updated_text}" if h.updated_text else ""
        w.paragraph([f"Version {h.version}{updated}"])


def _title_text(view: MinutesView) -> str:
    h = view.header
    number = f" n°{h.number}" if h.number else ""
    return f"{h.title} — Compte rendu{number}" if h.title else f"Compte rendu{number}"


def _docx_objectives(w: _DocxWriter, view: MinutesView) -> None:
    singular, plural = HEADINGS["objectives"]
    w.heading(plural if len(view.objectives) > 1 else singular, 1)
    for objective in view.objectives:
        w.bullet([objective])


def _docx_agenda(w: _DocxWriter, view: MinutesView) -> None:
    w.heading(HEADINGS["agenda"], 1)
    for item in view.agenda:
        w.paragraph([item], style="List Number")


def _docx_people(key: str, note_label: str = "") -> Callable[[_DocxWriter, MinutesView], None]:
    def write(w: _DocxWriter, view: MinutesView) -> None:
        w.heading(HEADINGS[key], 1)
        _docx_persons(w, getattr(view, key), note_label)

    return write


def _docx_entry_list(key: str) -> Callable[[_DocxWriter, MinutesView], None]:
    def write(w: _DocxWriter, view: MinutesView) -> None:
        w.heading(HEADINGS[key], 1)
        _docx_entries(w, getattr(view, key))

    return write


def _docx_meteo(w: _DocxWriter, view: MinutesView) -> None:
    assert view.meteo is not None
    w.heading(HEADINGS["meteo"], 1)
    if view.meteo.synthesis:
        w.paragraph([view.meteo.synthesis])
    for answer in view.meteo.answers:
        text = f" — {answer.text}" if answer.text else ""
        w.bullet([f"{answer.person}{NBSP}: {answer.mood}{text}"])


def _docx_local_news(w: _DocxWriter, view: MinutesView) -> None:
    w.heading(HEADINGS["local_news"], 1)
    for section in view.local_news:
        _docx_section(w, section, LABEL_NEWS)


def _docx_experiences(w: _DocxWriter, view: MinutesView) -> None:
    w.heading(HEADINGS["experiences"], 1)
    for experience in view.experiences:
        w.heading(experience.title, 2)
        if experience.presenter:
            w.paragraph([f"Présentation{NBSP}: {experience.presenter}"])
        if experience.description:
            w.paragraph([experience.description])
        if experience.url:
            w.paragraph([f"Lien{NBSP}: ", (experience.url, experience.url)])


def _docx_exchanges(w: _DocxWriter, view: MinutesView) -> None:
    w.heading(HEADINGS["exchanges"], 1)
    for section in view.exchanges:
        _docx_section(w, section, LABEL_POINTS)


def _docx_actions(w: _DocxWriter, view: MinutesView) -> None:
    w.heading(HEADINGS["actions"], 1)
    for group in view.actions:
        w.bullet([_Strong(group.owner)])
        for action in group.actions:
            number = f"n°{action.number} — " if action.number else ""
            due = f" — échéance{NBSP}: {action.due_text}" if action.due_text else ""
            origin = action.origin_text or ("reportée" if action.carried_over else "")
            origin = f" ({origin})" if origin else ""
            w.bullet([number + action.text + due + origin], level=1)


def _docx_resources(w: _DocxWriter, view: MinutesView) -> None:
    w.heading(HEADINGS["resources"], 1)
    for resource in view.resources:
        runs: list[Run] = [f"{resource.description}{NBSP}: "] if resource.description else []
        runs.append((resource.url, resource.url))
        if resource.shared_by:
            runs.append(f" — partagée par {resource.shared_by}")
        w.bullet(runs)


def _docx_next_meetings(w: _DocxWriter, view: MinutesView) -> None:
    w.heading(HEADINGS["next_meetings"], 1)
    for meeting in view.next_meetings:
        when = ", ".join(filter(None, (meeting.when_text, meeting.mode_text)))
        title = f" — {meeting.title}" if meeting.title else ""
        w.bullet([_Strong(when), title])
        if meeting.register_text:
            w.bullet([f"Inscription{NBSP}: {meeting.register_text}"], level=1)
    if view.register_text:
        w.paragraph([f"Pour vous inscrire{NBSP}: {view.register_text}"])
    if view.calendar_url:
        w.paragraph([f"Calendrier du réseau{NBSP}: ", (view.calendar_url, view.calendar_url)])


def _docx_sections(view: MinutesView) -> Iterator[Callable[[_DocxWriter, MinutesView], None]]:
    """The writers of the non-empty sections, in order."""
    writers: tuple[tuple[object, Callable[[_DocxWriter, MinutesView], None]], ...] = (
        (view.objectives, _docx_objectives),
        (view.agenda, _docx_agenda),
        (view.present, _docx_people("present")),
        (view.excused, _docx_people("excused", f"motif{NBSP}: ")),
        (view.facilitators, _docx_people("facilitators")),
        (view.meteo, _docx_meteo),
        (view.national_news, _docx_entry_list("national_news")),
        (view.regional_news, _docx_entry_list("regional_news")),
        (view.local_news, _docx_local_news),
        (view.experiences, _docx_experiences),
        (view.exchanges, _docx_exchanges),
        (view.questions, _docx_entry_list("questions")),
        (view.decisions, _docx_entry_list("decisions")),
        (view.actions, _docx_actions),
        (view.resources, _docx_resources),
        (view.next_meetings or view.calendar_url, _docx_next_meetings),
    )
    return (write for content, write in writers if content)


def _docx_properties(properties: CoreProperties, view: MinutesView) -> None:
    """Title, author… (replacing python-docx's own template values)."""
    now = datetime.now(UTC)
    properties.title = _clean(_title_text(view))
    properties.author = properties.last_modified_by = _clean(view.header.network_name or "Maillage")
    properties.subject = _clean(view.header.date_text)
    properties.comments = "Compte rendu produit par Maillage"
    properties.language = "fr-FR"
    properties.revision = max(view.header.version, 1)
    properties.created = properties.modified = now


def render_docx(view: MinutesView) -> bytes:
    """The minutes as a Word document (.docx), from the same view-model."""
    w = _DocxWriter()
    for lang in w.doc.styles.element.iter(qn("w:lang")):  # spelling: French, not en-US
        lang.set(qn("w:val"), "fr-FR")
    _docx_properties(w.doc.core_properties, view)
    _docx_header(w, view)
    for write in _docx_sections(view):
        write(w, view)
    return w.save()
