"""The compte-rendu as PDF (bot.minutes.pdf): WeasyPrint over the standalone HTML.

Read back with pypdf (text, page size, links) and pdftoppm (a rendered page).
"""

from __future__ import annotations

import io
import re
import subprocess
from pathlib import Path

import pytest
from pypdf import PdfReader

from bot.minutes.pdf import ZWSP, breakable, data_urls_only, render_pdf
from bot.minutes.render import render_html, render_markdown
from bot.minutes.view import Entry, MinutesView
from bot.support.richtext import plain_text
from tests.pdfcheck import ink_ratio, page_count, pdf_text, render_first_page
from tests.test_minutes_render import CR4_HEADINGS, HOSTILE, cr4_view, hostile_view

A4_POINTS = (595, 842)


@pytest.fixture(scope="module")
def cr4_pdf() -> bytes:
    return render_pdf(render_html(cr4_view()))


def flat(text: str) -> str:
    """Whitespace and hyphens removed: the PDF wraps lines (long URLs too) where the view
    has no space, and pdftotext joins a word cut after its hyphen ("écoles-familles")."""
    return "".join(text.split()).replace("-", "").replace(ZWSP, "")


def _entry_texts(entries: tuple[Entry, ...]) -> list[str]:
    found = []
    for entry in entries:
        found.append(plain_text(entry.rich) if entry.rich else entry.text)
        found += _entry_texts(entry.children)
    return found


def items_in_order(view: MinutesView) -> list[str]:
    """The user items of the view, in the order every format lays them out."""
    found = [*view.objectives, *view.agenda, *(p.name for p in view.present),
             *(p.name for p in view.excused), *(p.name for p in view.facilitators)]
    found += [a.text for a in view.meteo.answers] if view.meteo else []
    found += _entry_texts(view.national_news) + _entry_texts(view.regional_news)
    for section in view.local_news:
        found += [section.title, *_entry_texts(section.entries), *_entry_texts(section.discussion)]
    for experience in view.experiences:
        found += [experience.title, *_entry_texts(experience.discussion)]
    for section in view.exchanges:
        found += [section.title, *_entry_texts(section.entries), *_entry_texts(section.discussion)]
    found += _entry_texts(view.questions) + _entry_texts(view.decisions)
    found += [a.text for group in view.actions for a in group.actions]
    found += [r.url for r in view.resources]
    return [text for text in found if text]


def positions(haystack: str, needles: list[str]) -> list[int]:
    """Where each needle is found, searching each one after the previous (-1: missing)."""
    found, start = [], 0
    for needle in needles:
        at = haystack.find(flat(needle), start)
        found.append(at)
        start = max(at, start)
    return found


def test_pdf_has_the_sections_in_the_reference_order(cr4_pdf: bytes) -> None:
    text = flat(pdf_text(cr4_pdf))
    assert -1 not in positions(text, CR4_HEADINGS), text[:2000]


def test_pdf_has_the_same_items_as_the_markdown_in_the_same_order(cr4_pdf: bytes) -> None:
    view = cr4_view()
    items = items_in_order(view)
    assert len(items) > 30
    markdown = flat(render_markdown(view).replace("\\", "").replace("**", ""))
    text = flat(pdf_text(cr4_pdf))
    for item in items:
        assert flat(item) in markdown
    found = positions(text, items)
    missing = [item for item, at in zip(items, found, strict=True) if at == -1]
    assert not missing


def test_pdf_pages_are_a4_numbered_with_the_network_in_the_header(cr4_pdf: bytes) -> None:
    reader = PdfReader(io.BytesIO(cr4_pdf))
    pages = len(reader.pages)
    assert pages >= 2
    for page in reader.pages:
        assert (round(float(page.mediabox.width)), round(float(page.mediabox.height))) == A4_POINTS
    assert f"page {pages} / {pages}" in pdf_text(cr4_pdf, pages, pages)
    assert "page 1 / " in pdf_text(cr4_pdf, 1, 1)
    second = pdf_text(cr4_pdf, 2, 2)
    assert "Cités éducatives des Hauts-de-France" in second and "Compte rendu n°4" in second
    assert reader.metadata.title.startswith("Réseau régional des CPO — Compte rendu n°4")


def test_pdf_fonts_draw_the_meteo_emojis_and_the_page_header(cr4_pdf: bytes, tmp_path: Path) -> None:
    """DejaVu lacks 🌤️ and 🌧️ (they came out as empty boxes): an emoji font is embedded;
    the page header is in the body's sans-serif, not the default serif."""
    path = tmp_path / "cr4.pdf"
    path.write_bytes(cr4_pdf)
    fonts = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True, check=True).stdout
    assert "Emoji" in fonts
    assert "Serif" not in fonts


def test_pdf_first_page_is_not_blank(cr4_pdf: bytes, tmp_path: Path) -> None:
    assert ink_ratio(render_first_page(cr4_pdf, tmp_path)) > 0.01


def test_hostile_text_stays_inert_text_in_the_pdf() -> None:
    data = render_pdf(render_html(hostile_view()))
    text = pdf_text(data)
    folded = flat(text)
    for hostile in HOSTILE[:-1]:
        assert flat(hostile) in folded, hostile
    # The long word wraps (over pages: their header and footer lines set aside), all there.
    margins = {"<script>alert(1)</script>", "{{ 7*7 }} — Compte rendu n°1"}
    body = [line for line in text.splitlines()
            if line.strip() not in margins and not re.fullmatch(r"page \d+ / \d+", line.strip())]
    assert "x" * 10_000 in flat("".join(body))
    assert "49" not in flat("".join(body))  # no template expression evaluated
    uris = [str(annotation.get_object()["/A"].get("/URI", ""))
            for page in PdfReader(io.BytesIO(data)).pages
            for annotation in page.get("/Annots", []) or []]
    assert not [uri for uri in uris if not uri.startswith("https://")]
    assert b"/JavaScript" not in data and b"/JS " not in data


def test_nothing_outside_the_document_is_fetched() -> None:
    for url in ("http://127.0.0.1:1/chart.png", "file:///etc/passwd", "https://example.org/x.css"):
        with pytest.raises(ValueError, match="disallowed protocol"):
            data_urls_only().fetch(url)
    assert data_urls_only().fetch("data:text/plain,ok").read() == b"ok"
    html = render_html(cr4_view()).replace(
        "<body>", '<body><img src="file:///etc/passwd"><link rel="stylesheet" href="http://127.0.0.1:1/x.css">')
    assert render_pdf(html).startswith(b"%PDF-")  # refused resources are skipped, not fatal
    assert page_count(render_pdf(html)) >= 2


def test_very_long_words_get_break_opportunities_in_text_only() -> None:
    word = "x" * 100
    html = f'<p title="{word}">{word} https://exemple.fr/{"a" * 50}/b &amp; {"é" * 59}</p>'
    broken = breakable(html)
    assert broken == (f'<p title="{word}">{"x" * 40}{ZWSP}{"x" * 40}{ZWSP}{"x" * 20} '
                      f'https://exemple.fr/{"a" * 50}/b &amp; {"é" * 59}</p>')
    style = f"<style>.{word} {{}}</style>"
    assert breakable(style) == style
