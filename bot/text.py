"""Text helpers shared by replies and minutes: Markdown escaping and safe HTML.

User text is data: it is escaped before it enters any Markdown, and the HTML made
from Markdown is sanitised by nh3 to what Element renders.
"""

from __future__ import annotations

import html as html_module
import re
import unicodedata

import markdown as markdown_lib
import nh3

# Python-Markdown's escapable characters; `<` and `&` become entities instead
# (a backslash does not neutralise raw HTML there).
MARKDOWN_SPECIALS = re.compile(r"([\\`*_{}\[\]()>#+\-.!])")
ROOM_HTML_TAGS = {"h1", "h2", "h3", "h4", "h5", "h6", "p", "ul", "ol", "li", "strong", "em",
                  "a", "br", "blockquote", "code", "pre", "hr", "del"}
ROOM_HTML_ATTRIBUTES = {"a": {"href"}}


def normalize(text: str) -> str:
    """Lowercase, without accents: how command words are compared (`météo` = `meteo`)."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def md_escape(text: str) -> str:
    """Make user text inert in Markdown (and in the HTML made from it)."""
    escaped = MARKDOWN_SPECIALS.sub(r"\\\1", text.replace("&", "&amp;").replace("<", "&lt;"))
    return escaped.replace("\n", "  \n")


def md_code(text: str) -> str:
    """User text shown as inline code (backslash escapes do not apply inside)."""
    return "`" + text.replace("`", "'").replace("\n", " ") + "`"


def markdown_to_html(text: str) -> str:
    """Markdown to the sanitised HTML of a Matrix ``formatted_body``."""
    html = markdown_lib.markdown(text, extensions=["sane_lists"])
    return nh3.clean(html, tags=ROOM_HTML_TAGS, attributes=ROOM_HTML_ATTRIBUTES,
                     url_schemes={"http", "https", "mailto"}, link_rel=None)


def html_to_plain(html: str) -> str:
    """The plain ``body`` matching a formatted body: tags dropped, entities decoded."""
    html = html.replace("\n", "")
    html = re.sub(r"<li>", "• ", html)
    html = re.sub(r"</p>|</h\d>|</ul>|</ol>", "\n\n", html)
    html = re.sub(r"<br\s*/?>|</li>", "\n", html)
    text = html_module.unescape(nh3.clean(html, tags=set()))
    return re.sub(r"\n{3,}", "\n\n", text).strip()
