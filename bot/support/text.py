"""Text helpers shared by replies and minutes: Markdown escaping and safe HTML.

User text is data: it is escaped before it enters any Markdown, and the HTML made
from Markdown is sanitised by nh3 to what Element renders.
"""

from __future__ import annotations

import html as html_module
import re
import unicodedata
from urllib.parse import urlsplit

import markdown as markdown_lib
import nh3
from markupsafe import Markup, escape

# Tags and attributes that Element renders in a formatted_body.
# fmt: off
ROOM_TAGS = {
    "h1", "h2", "h3", "h4", "h5", "h6", "p", "ul", "ol", "li",
    "strong", "em", "a", "br", "blockquote", "code", "hr",
}
# fmt: on
ROOM_ATTRIBUTES = {"a": {"href"}, "ol": {"start"}}
SAFE_SCHEMES = frozenset({"http", "https"})


def normalize(text: str) -> str:
    """Lowercase, without accents: how command words are compared (`météo` = `meteo`)."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def md_code(text: str) -> str:
    """User text shown as inline code (backslash escapes do not apply inside)."""
    return "`" + text.replace("`", "'").replace("\n", " ") + "`"


def html_to_plain(html: str) -> str:
    """The plain ``body`` matching a formatted body: tags dropped, entities decoded."""
    html = html.replace("\n", "")
    html = re.sub(r"<li>", "• ", html)
    html = re.sub(r"</p>|</h\d>|</ul>|</ol>", "\n\n", html)
    html = re.sub(r"<br\s*/?>|</li>", "\n", html)
    text = html_module.unescape(nh3.clean(html, tags=set()))
    return re.sub(r"\n{3,}", "\n\n", text).strip()


# --- plain-text helpers ---------------------------------------------------------

# Control characters (tabs and line breaks aside) are dropped everywhere: they are
# invalid in XML (DOCX) and Python-Markdown uses STX/ETX as internal markers.
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean_text(text: str) -> str:
    return _CONTROL_RE.sub("", str(text)).replace("\t", " ")


def text_lines(text: str) -> list[str]:
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
    line = _MD_ENTITY_RE.sub("&amp;", clean_text(line)).translate(_MD_ANYWHERE)
    line = _MD_UNDERSCORE_RE.sub(r"\\_", line)
    return _MD_LINE_START_RE.sub(_md_line_start, line, count=1)


def md(value: object, indent: int | str = "") -> str:
    """Escape user text for Markdown; its line breaks become hard breaks.

    `indent` prefixes the continuation lines so that they stay inside the list
    item the text stands in (the item's content column: 2 for "- ", 6 for a
    nested "    - ").
    """
    pad = " " * indent if isinstance(indent, int) else str(indent)
    return f"  \n{pad}".join(_md_escape_line(line) for line in text_lines(str(value)))


def md_line(value: object) -> str:
    """Escape user text for Markdown on one line (headings, names, link text)."""
    return _md_escape_line(" ".join(text_lines(str(value))))


EXCERPT_LIMIT = 80   # characters of user text quoted back in a refusal


def excerpt(value: object, limit: int = EXCERPT_LIMIT) -> str:
    """At most ``limit`` characters of a user text, on one line, then "…": a refusal quotes
    enough to recognise what was typed, never a whole long message back."""
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[:limit].rstrip() + "…"


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
    return Markup("<br>\n").join(escape(clean_text(line)) for line in text_lines(str(value)))


def link(text: object, url: object) -> Markup:
    """An HTML link to `url` if it is http(s); otherwise the escaped text only."""
    label = " ".join(text_lines(clean_text(str(text)))) or " ".join(text_lines(clean_text(str(url))))
    href = safe_url(str(url))
    if not href:
        return escape(label)
    return Markup('<a href="{}">{}</a>').format(href, label)



def markdown_to_html(md_text: str) -> str:
    """Markdown → the HTML of a Matrix ``formatted_body``, sanitised for Element."""
    html = markdown_lib.markdown(md_text, extensions=["sane_lists"], output_format="html")
    return nh3.clean(html, tags=ROOM_TAGS, attributes=ROOM_ATTRIBUTES,
                     url_schemes=set(SAFE_SCHEMES), link_rel=None)

