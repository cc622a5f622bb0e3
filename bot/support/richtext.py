"""The participants' own formatting (Element's ``formatted_body``), kept safely in the minutes.

Element sends a formatted message twice: ``body`` holds the Markdown the person typed
("**urgent**") and ``formatted_body`` the HTML it made (``<strong>urgent</strong>``).
The minutes keep bold, italics, inline code, links (http/https only), line breaks and
lists; everything else is reduced to its text, and reply fallbacks (``<mx-reply>``),
scripts and styles are dropped with their content.

`parse_formatted` reads the HTML with the standard library's parser (never with
regular expressions) into `RichText`: lines of styled spans, plain data that each
renderer maps to its own format — `rich_markdown` (escaped like every user text,
see `bot.support.text.md`), `rich_html` (escaped, then cleaned by the same nh3 allowlist as
the room's messages) and, in `bot.minutes.docx`, DOCX runs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from html.parser import HTMLParser

import nh3
from markupsafe import Markup, escape

from bot.support.text import ROOM_ATTRIBUTES, ROOM_TAGS, SAFE_SCHEMES, clean_text, md_line, safe_url

MAX_LIST_DEPTH = 3  # as many levels as the DOCX list styles
PILL_PREFIX = "https://matrix.to/#/"  # a mention: shown as the name, not as a link


@dataclass(frozen=True)
class Span:
    """A piece of text and its style; ``url`` is an http(s) link target, else ""."""

    text: str
    bold: bool = False
    italic: bool = False
    code: bool = False
    url: str = ""


@dataclass(frozen=True)
class Line:
    """A line of text (after a line break or a paragraph), or a list item.

    ``marker`` is "" for a plain line, "-" for a bullet, "1.", "2."… in an ordered
    list; ``level`` is the list's depth (0: top-level list).
    """

    spans: tuple[Span, ...]
    marker: str = ""
    level: int = 0


RichText = tuple[Line, ...]

_BLOCK_TAGS = frozenset({"p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre",
                         "table", "tr", "hr", "details", "summary"})
_DROPPED_TAGS = frozenset({"mx-reply", "script", "style", "head", "title", "template", "noscript"})
_WHITESPACE_RE = re.compile(r"\s+")


class _Reader(HTMLParser):
    """Builds `RichText` from a formatted_body, tag by tag."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[Line] = []
        self.spans: list[Span] = []
        self.marker, self.level = "", 0
        self.bold = self.italic = self.code = self.pre = 0
        self.links: list[str] = []
        self.lists: list[list[int | str]] = []  # [kind, next number]
        self.dropped: list[str] = []  # open dropped elements: their content is skipped

    # -- lines

    def end_line(self, item_done: bool = True) -> None:
        """Close the current line. A paragraph opening inside a list item that has no
        text yet (``<li><p>…``, Element's loose lists) keeps the item's marker."""
        spans = _trimmed(self.spans)
        if not spans and self.marker and not item_done:
            return
        if spans:
            self.lines.append(Line(spans, self.marker, self.level))
        self.spans, self.marker, self.level = [], "", 0

    # -- parser callbacks

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.dropped or tag in _DROPPED_TAGS:
            if tag in _DROPPED_TAGS:
                self.dropped.append(tag)
            return
        if tag in ("b", "strong"):
            self.bold += 1
        elif tag in ("i", "em"):
            self.italic += 1
        elif tag == "code":
            self.code += 1
        elif tag == "a":
            href = dict(attrs).get("href") or ""
            self.links.append("" if href.startswith(PILL_PREFIX) else safe_url(href))
        elif tag == "br":
            self.end_line()
        elif tag in ("ul", "ol"):
            self.end_line()
            self.lists.append([tag, _start(attrs)])
        elif tag == "li":
            self.end_line()
            self._open_item()
        elif tag in _BLOCK_TAGS:
            self.end_line(item_done=False)
            self.pre += tag == "pre"

    def _open_item(self) -> None:
        if not self.lists:
            self.marker = "-"
            return
        kind, number = self.lists[-1]
        if kind == "ol":
            self.marker = f"{number}."
            self.lists[-1][1] = int(number) + 1
        else:
            self.marker = "-"
        self.level = min(len(self.lists), MAX_LIST_DEPTH) - 1

    def handle_endtag(self, tag: str) -> None:
        if self.dropped:
            if tag == self.dropped[-1]:
                self.dropped.pop()
            return
        if tag in ("b", "strong"):
            self.bold = max(self.bold - 1, 0)
        elif tag in ("i", "em"):
            self.italic = max(self.italic - 1, 0)
        elif tag == "code":
            self.code = max(self.code - 1, 0)
        elif tag == "a" and self.links:
            self.links.pop()
        elif tag in ("ul", "ol"):
            self.end_line()
            if self.lists:
                self.lists.pop()
        elif tag == "li" or tag in _BLOCK_TAGS:
            self.end_line()
            self.pre -= tag == "pre" and self.pre > 0

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br" and not self.dropped:
            self.end_line()

    def handle_data(self, data: str) -> None:
        if self.dropped or not data:
            return
        if self.pre:  # preformatted: its line breaks are kept
            first, *rest = data.split("\n")
            self._add(first)
            for line in rest:
                self.end_line()
                self._add(line)
            return
        self._add(_WHITESPACE_RE.sub(" ", data))

    def _add(self, text: str) -> None:
        text = clean_text(text)
        if text:
            self.spans.append(Span(text, self.bold > 0, self.italic > 0, self.code > 0 or self.pre > 0,
                                   next((u for u in reversed(self.links) if u), "") if self.links else ""))


def _start(attrs: list[tuple[str, str | None]]) -> int:
    value = dict(attrs).get("start") or "1"
    return int(value) if value.isdigit() and len(value) < 7 else 1


def _merged(spans: list[Span]) -> list[Span]:
    """Neighbour spans of the same style as one (no "**a****b**" in Markdown)."""
    merged: list[Span] = []
    for span in spans:
        if merged and replace(merged[-1], text="") == replace(span, text=""):
            merged[-1] = replace(span, text=merged[-1].text + span.text)
        else:
            merged.append(span)
    return merged


def _trimmed(spans: list[Span]) -> tuple[Span, ...]:
    """No space at the start or end of a line; empty spans dropped."""
    spans = _merged(spans)
    if spans:
        spans[0] = replace(spans[0], text=spans[0].text.lstrip())
        spans[-1] = replace(spans[-1], text=spans[-1].text.rstrip())
    return tuple(span for span in spans if span.text)


def parse_formatted(formatted_body: str) -> RichText:
    """The lines of a formatted_body; () when it holds no text (the plain body is used)."""
    reader = _Reader()
    reader.feed(formatted_body)
    reader.close()
    reader.end_line()
    lines = tuple(line for line in reader.lines if line.spans)
    return lines


def plain_text(rich: RichText) -> str:
    """The text alone, one line per line (for a title, a search, a length)."""
    return "\n".join("".join(span.text for span in line.spans) for line in rich)


# --- Markdown ---------------------------------------------------------------------------


def _md_code(text: str) -> str:
    """An inline code span whose fence is longer than any backtick run inside."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _md_span(span: Span) -> str:
    core = span.text.strip()
    if not core:
        return " " if span.text else ""
    lead = " " if span.text[:1].isspace() else ""
    trail = " " if span.text[-1:].isspace() else ""
    if span.code:
        text = _md_code(" ".join(core.split()))
    elif span.url:
        href = span.url.replace("(", "%28").replace(")", "%29").replace(" ", "%20")
        text = f"[{md_line(core)}]({href})"
    else:
        text = md_line(core)
    if span.italic:
        text = f"*{text}*"
    if span.bold:
        text = f"**{text}**"
    return lead + text + trail


def rich_markdown(rich: RichText, pad: str = "") -> str:
    """Markdown of the lines, inside a list item whose marker starts at ``pad``.

    Plain lines are hard breaks (continuation indented by ``pad`` + 2); list items
    become a nested list (4 more spaces per level, as Python-Markdown requires).
    """
    parts: list[str] = []
    for index, line in enumerate(rich):
        text = "".join(_md_span(span) for span in line.spans)
        if line.marker:
            indent = pad + "    " * (line.level + 1)
            parts.append(f"\n{indent}{line.marker} {text}")
        elif index == 0:
            parts.append(text)
        else:
            after_list = rich[index - 1].marker
            # After a list, a paragraph of the item: indented like the nested list.
            parts.append(f"\n\n{pad}    {text}" if after_list else f"  \n{pad}  {text}")
    return "".join(parts)


# --- HTML ---------------------------------------------------------------------------------


def _html_span(span: Span) -> Markup:
    html = escape(span.text)
    if span.code:
        html = Markup("<code>{}</code>").format(html)
    if span.italic:
        html = Markup("<em>{}</em>").format(html)
    if span.bold:
        html = Markup("<strong>{}</strong>").format(html)
    if span.url:
        html = Markup('<a href="{}">{}</a>').format(span.url, html)
    return html


def _html_lines(rich: RichText) -> str:
    out: list[str] = []
    open_lists: list[str] = []  # the tag of each open list, outermost first
    for index, line in enumerate(rich):
        content = "".join(_html_span(span) for span in line.spans)
        if not line.marker:
            while open_lists:
                out.append(f"</li></{open_lists.pop()}>")
            if index and not rich[index - 1].marker:
                out.append("<br>")
            out.append(content)
            continue
        kind = "ol" if line.marker[0].isdigit() else "ul"
        depth = line.level + 1
        while len(open_lists) > depth:
            out.append(f"</li></{open_lists.pop()}>")
        if len(open_lists) == depth and open_lists[-1] != kind:
            out.append(f"</li></{open_lists.pop()}>")
        if len(open_lists) == depth:
            out.append("</li><li>")
        else:
            while len(open_lists) < depth:
                start = line.marker[:-1] if kind == "ol" and line.marker != "1." else ""
                out.append(f'<{kind} start="{start}"><li>' if start else f"<{kind}><li>")
                open_lists.append(kind)
        out.append(content)
    while open_lists:
        out.append(f"</li></{open_lists.pop()}>")
    return "".join(out)


def rich_html(rich: RichText) -> Markup:
    """HTML of the lines: escaped by construction, then cleaned by the room's nh3 allowlist."""
    html = nh3.clean(_html_lines(rich), tags=ROOM_TAGS, attributes=ROOM_ATTRIBUTES,
                     url_schemes=set(SAFE_SCHEMES), link_rel=None)
    return Markup(html)
