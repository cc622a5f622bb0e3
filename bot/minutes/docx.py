"""The compte-rendu as a Word document (DOCX), from the same view-model as the other formats.

python-docx's document (imported on first use: start-up time) gives the styles; the
paragraphs and runs are written as plain lxml elements (``_DocxWriter``), which is what
makes a 20,000-message DOCX as fast as its Markdown. User text is set as element text
(lxml escapes XML) and links go only to http/https; a participant's own formatting
(`Entry.rich`) becomes styled runs. Headings and labels are the other formats' own
(:mod:`bot.minutes.render`).
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from bot.minutes.charts import Chart
from bot.minutes.view import Entry, MinutesView, Person, Section
from bot.support.richtext import Line, Span
from bot.support.text import clean_text, safe_url, text_lines

if TYPE_CHECKING:   # python-docx and lxml are imported when a DOCX is made (start-up time)
    from docx.opc.coreprops import CoreProperties
    from lxml import etree

from bot.minutes.render import (
    DRAFT_TEXT,
    HEADINGS,
    LABEL_DISCUSSION,
    LABEL_NEWS,
    LABEL_POINTS,
    NBSP,
)

_HYPERLINK_COLOR = "1F4E79"
_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_W_P, _W_PPR, _W_PSTYLE, _W_R, _W_RPR, _W_T = (_W + "p", _W + "pPr", _W + "pStyle", _W + "r",
                                               _W + "rPr", _W + "t")
_W_RFONTS, _W_B, _W_I, _W_COLOR, _W_U = _W + "rFonts", _W + "b", _W + "i", _W + "color", _W + "u"
_W_BR, _W_TAB, _W_HYPERLINK = _W + "br", _W + "tab", _W + "hyperlink"
_W_VAL, _W_ASCII, _W_HANSI = _W + "val", _W + "ascii", _W + "hAnsi"
_R_ID = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
_XML_SPACE = "{http://www.w3.org/XML/1998/namespace}space"
_RELATIONSHIP_HYPERLINK = ("http://schemas.openxmlformats.org/officeDocument/2006/relationships/"
                           "hyperlink")
_LIST_STYLES = ("List Bullet", "List Bullet 2", "List Bullet 3")
_CONTINUE_STYLES = ("List Continue", "List Continue 2", "List Continue 3")


class _Strong(str):
    """Text of a paragraph to set in bold."""


class _Styled(str):
    """Text of a participant's formatted message: bold, italic and/or code."""

    bold = italic = code = False

    @classmethod
    def of(cls, span: Span) -> _Styled:
        styled = cls(span.text)
        styled.bold, styled.italic, styled.code = span.bold, span.italic, span.code
        return styled


class _Break(str):
    """A line break inside a paragraph."""


# A paragraph's content: text (bold if _Strong, styled if _Styled), or (text, url) for a link.
Run = str | tuple[str, str]
_CODE_FONT = "Consolas"


_LINE_BREAK_RE = re.compile(r"(\t|\r|\n)")


class _DocxWriter:
    """Thin helper over a python-docx Document: headings, paragraphs, bullets, links.

    python-docx builds each run through its generic element machinery (child order
    lookups, per-character text appending, a style lookup per paragraph): 10 s for the
    minutes of 20,000 messages. Paragraphs and runs are therefore written here as plain
    lxml elements — the same XML python-docx would write (``w:p``/``w:pPr``/``w:pStyle``,
    ``w:r``/``w:rPr``/``w:t``, a tab as ``w:tab``, a line end as ``w:br``) — while the
    document shell (styles, section, properties, relationships, pictures) stays
    python-docx's."""

    def __init__(self) -> None:
        import docx
        from lxml import etree

        self._element, self._sub = etree.Element, etree.SubElement
        self.doc = docx.Document()
        body = self.doc.element.body
        # Paragraphs go before the body's final w:sectPr (python-docx's add_paragraph()
        # looks for it among all the body's children on every call: quadratic).
        self._section_properties = body.sectPr
        self._style_ids: dict[str, str] = {}
        self._link_ids: dict[str, str] = {}

    def heading(self, text: str, level: int) -> None:
        """Level 0 is the document title."""
        self.paragraph([text], "Title" if level == 0 else f"Heading {level}")

    def paragraph(self, runs: list[Run], style: str | None = None) -> None:
        self._fill(self._add_paragraph(style), runs)

    def bullet(self, runs: list[Run], level: int = 0) -> None:
        self.paragraph(runs, _LIST_STYLES[min(level, len(_LIST_STYLES) - 1)])

    def _add_paragraph(self, style: str | None) -> etree._Element:
        p = self._element(_W_P)
        if style:
            properties = self._sub(p, _W_PPR)
            self._sub(properties, _W_PSTYLE).set(_W_VAL, self._style_id(style))
        self._place(p)
        return p

    def _place(self, paragraph: etree._Element) -> None:
        if self._section_properties is None:
            self.doc.element.body.append(paragraph)
        else:
            self._section_properties.addprevious(paragraph)

    def _style_id(self, name: str) -> str:
        if name not in self._style_ids:
            self._style_ids[name] = self.doc.styles[name].style_id
        return self._style_ids[name]

    def _fill(self, paragraph: etree._Element, runs: list[Run]) -> None:
        for run in runs:
            if isinstance(run, tuple):
                self._link(paragraph, *run)
            elif isinstance(run, _Break):
                self._sub(self._sub(paragraph, _W_R), _W_BR)
            elif isinstance(run, _Styled):
                self._run(paragraph, clean_text(run), bold=run.bold, italic=run.italic,
                          font=_CODE_FONT if run.code else None)
            elif run:
                self._run(paragraph, clean_text(run), bold=isinstance(run, _Strong))

    def _link(self, paragraph: etree._Element, text: str, url: str) -> None:
        """A real w:hyperlink (external relationship) for http(s) URLs, else plain text."""
        label = clean_text(" ".join(text_lines(text)) or url)
        href = safe_url(url)
        if not href:
            self._run(paragraph, label)
            return
        if href not in self._link_ids:   # python-docx's relate_to scans every relationship
            self._link_ids[href] = self.doc.part.relate_to(href, _RELATIONSHIP_HYPERLINK,
                                                           is_external=True)
        hyperlink = self._sub(paragraph, _W_HYPERLINK)
        hyperlink.set(_R_ID, self._link_ids[href])
        self._run(hyperlink, label, color=_HYPERLINK_COLOR, underline=True)

    def _run(self, parent: etree._Element, text: str, *, bold: bool = False, italic: bool = False,
             font: str | None = None, color: str | None = None, underline: bool = False) -> None:
        """A ``w:r`` with its properties (in the schema's order) and its text, as python-docx
        writes it: runs of characters in ``w:t``, a tab as ``w:tab``, a line end as ``w:br``."""
        run = self._sub(parent, _W_R)
        if bold or italic or font or color or underline:
            properties = self._sub(run, _W_RPR)
            if font:
                fonts = self._sub(properties, _W_RFONTS)
                fonts.set(_W_ASCII, font)
                fonts.set(_W_HANSI, font)
            if bold:
                self._sub(properties, _W_B)
            if italic:
                self._sub(properties, _W_I)
            if color:
                self._sub(properties, _W_COLOR).set(_W_VAL, color)
            if underline:
                self._sub(properties, _W_U).set(_W_VAL, "single")
        for piece in _LINE_BREAK_RE.split(text):
            if piece == "\t":
                self._sub(run, _W_TAB)
            elif piece in ("\r", "\n"):
                self._sub(run, _W_BR)
            elif piece:
                element = self._sub(run, _W_T)
                element.text = piece
                if len(piece.strip()) < len(piece):
                    element.set(_XML_SPACE, "preserve")

    def picture(self, chart: Chart) -> None:
        """The chart across the text width, its description set, then its text alternative."""
        from docx.oxml import OxmlElement
        from docx.shared import Cm
        from docx.text.paragraph import Paragraph

        element = OxmlElement("w:p")   # python-docx's own element: it adds the picture
        self._place(element)
        run = Paragraph(element, self.doc).add_run()
        shape = run.add_picture(io.BytesIO(chart.png), width=Cm(16))
        shape._inline.docPr.set("descr", clean_text(chart.alt))
        shape._inline.docPr.set("title", clean_text(chart.title))
        caption = self._add_paragraph("Caption" if "Caption" in self._styles() else None)
        self._fill(caption, [chart.alt])

    def _styles(self) -> set[str]:
        return {style.name for style in self.doc.styles}

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


def _span_runs(line: Line) -> list[Run]:
    return [(span.text, span.url) if span.url else _Styled.of(span) for span in line.spans]


def _entry_runs(entry: Entry, text: list[Run] | None = None) -> list[Run]:
    runs: list[Run] = [f"{entry.author}{NBSP}: "] if entry.author else []
    runs += text if text is not None else [entry.text]
    if entry.url:
        runs += [" — ", (entry.url, entry.url)]
    return runs


def _docx_rich_entry(w: _DocxWriter, entry: Entry, level: int) -> None:
    """A formatted message: its first lines in the bullet, its list items nested under it,
    a line after a list in a paragraph of its own."""
    lines = list(entry.rich)
    first: list[Run] = []
    while lines and not lines[0].marker:
        first += ([_Break()] if first else []) + _span_runs(lines.pop(0))
    w.bullet(_entry_runs(entry, first), level)
    for line in lines:
        if line.marker:
            marker = [] if line.marker == "-" else [f"{line.marker} "]
            w.bullet(marker + _span_runs(line), level + 1 + line.level)
        else:
            w.paragraph(_span_runs(line), _CONTINUE_STYLES[min(level, len(_CONTINUE_STYLES) - 1)])


def _docx_entries(w: _DocxWriter, entries: tuple[Entry, ...], level: int = 0) -> None:
    for entry in entries:
        if entry.rich:
            _docx_rich_entry(w, entry, level)
        else:
            w.bullet(_entry_runs(entry), level)
        _docx_entries(w, entry.children, level + 1)


def _docx_persons(w: _DocxWriter, persons: tuple[Person, ...], note_label: str = "") -> None:
    for person in persons:
        w.bullet(_person_runs(person, note_label))


def _docx_section(w: _DocxWriter, section: Section, entries_label: str) -> None:
    w.heading(section.title, 2)
    for label, value in section.fiche:   # a cité's fiche opens its first news section
        w.bullet([f"{label}{NBSP}: {value}"])
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
    if view.unreadable_note:
        w.paragraph([view.unreadable_note])


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
        if key == "present" and view.participation_chart is not None:
            w.picture(view.participation_chart)

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
    if view.meteo_chart is not None:
        w.picture(view.meteo_chart)
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
        if experience.discussion:
            w.paragraph([_Strong(LABEL_DISCUSSION)])
            _docx_entries(w, experience.discussion)


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
    properties.title = clean_text(_title_text(view))
    properties.author = properties.last_modified_by = clean_text(view.header.network_name or "Maillage")
    properties.subject = clean_text(view.header.date_text)
    properties.comments = "Compte rendu produit par Maillage"
    properties.language = "fr-FR"
    properties.revision = max(view.header.version, 1)
    properties.created = properties.modified = now


def render_docx(view: MinutesView) -> bytes:
    """The minutes as a Word document (.docx), from the same view-model."""
    w = _DocxWriter()
    for lang in w.doc.styles.element.iter(_W + "lang"):  # spelling: French, not en-US
        lang.set(_W_VAL, "fr-FR")
    _docx_properties(w.doc.core_properties, view)
    _docx_header(w, view)
    for write in _docx_sections(view):
        write(w, view)
    return w.save()
