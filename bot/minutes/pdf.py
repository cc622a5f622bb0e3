"""The compte-rendu as PDF: the standalone HTML (`render_html`) printed by WeasyPrint.

The page layout lives in the style sheet the HTML already carries (``minutes.css``,
overridable like the templates): ``@page`` (A4, margins), the network's name and
the title in the page header (``string-set``), "page n / N" in the footer, no break
inside a table, a figure or a list item. Browsers printing the HTML use the same rules.

Rendering is CPU-bound and blocking (a second or more for long minutes): call it
from the worker thread (commands, ``ServiceHost.in_worker``), never on the event loop.
WeasyPrint is imported lazily, so that the bot starts without loading Pango.

Nothing outside the document is fetched: the minutes link to web pages, they do not
embed them. Only ``data:`` URLs (our own chart images) are read.
"""

from __future__ import annotations

import re

# Text between tags, and <style>/<script> elements whose content is not prose.
_TAG_RE = re.compile(r"(<style\b.*?</style>|<script\b.*?</script>|<[^>]*>)", re.DOTALL | re.IGNORECASE)
# A run of characters with no line-break opportunity (no space, no URL punctuation,
# no entity): WeasyPrint's line breaking is quadratic in such a run's length.
_UNBREAKABLE_RE = re.compile(r"[^\s<>&/\-?=.,;:_]{60,}")
_CHUNK = 40
ZWSP = "\u200b"


def data_urls_only() -> object:
    """A WeasyPrint URL fetcher that reads inline ``data:`` URLs and refuses any other."""
    from weasyprint.urls import URLFetcher

    return URLFetcher(allowed_protocols={"data"}, allow_redirects=False, timeout=1)


def _with_breaks(run: re.Match[str]) -> str:
    word = run.group()
    return ZWSP.join(word[i:i + _CHUNK] for i in range(0, len(word), _CHUNK))


def breakable(html: str) -> str:
    """``html`` with a zero-width space every 40 characters of very long words.

    A participant's 10,000-character word would otherwise take WeasyPrint seconds to
    wrap (minutes for a few of them), holding the worker thread. Only text between
    tags changes; attributes (links, inline images) are left alone.
    """
    parts = _TAG_RE.split(html)
    for i in range(0, len(parts), 2):  # even indexes: text between tags
        parts[i] = _UNBREAKABLE_RE.sub(_with_breaks, parts[i])
    return "".join(parts)


def render_pdf(html: str) -> bytes:
    """The PDF of a standalone minutes HTML document (A4, paginated)."""
    import logging

    from weasyprint import HTML

    # WeasyPrint logs every refused resource and unknown CSS property as a warning;
    # an admin's template may have some: they are not the bot's errors.
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    return HTML(string=breakable(html), url_fetcher=data_urls_only()).write_pdf()
