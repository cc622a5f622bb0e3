"""The participants' own formatting in the minutes (bot.support.richtext and the renderers)."""

from __future__ import annotations

import dataclasses
import io
import re

import docx
from docx.opc.constants import RELATIONSHIP_TYPE

from bot.minutes.docx import render_docx
from bot.minutes.render import render_html, render_markdown
from bot.minutes.view import Entry, MinutesView, Section
from bot.support.richtext import Line, Span, parse_formatted, plain_text, rich_html, rich_markdown
from bot.support.text import markdown_to_html
from tests.test_minutes_render import cr4_view

ELEMENT_HTML = (
    "<mx-reply><blockquote><a href='https://matrix.to/#/!r/$e'>In reply to</a> citation "
    "<b>ancienne</b></blockquote></mx-reply>"
    "Voici <strong>l'essentiel</strong> et <em>la nuance</em>, <code>a*b_c</code>, "
    "<a href='https://exemple.fr/guide?a=1&amp;b=2'>le guide</a><br>deuxième ligne"
    "<ul><li>premier point</li><li>second <b>point</b><ol><li>sous un</li><li>sous deux</li></ol></li></ul>"
)
HOSTILE_HTML = (
    "<script>alert('script')</script><img src=x onerror=alert('img')>"
    "<a href='javascript:alert(1)'>clic</a> <a href=' JaVaScRiPt:alert(2)'>encore</a> "
    "<a href='data:text/html,<script>alert(3)</script>'>données</a> "
    "<style>body{display:none}</style><iframe src='https://pirate.example'></iframe>"
    "<span onclick='alert(4)' style='color:red'>texte</span> &lt;b&gt;échappé&lt;/b&gt; "
    "<a href='https://matrix.to/#/@anabela:localhost'>Anabela</a>"
)


def test_element_html_becomes_lines_of_styled_spans() -> None:
    rich = parse_formatted(ELEMENT_HTML)
    assert rich == (
        Line((Span("Voici "), Span("l'essentiel", bold=True), Span(" et "), Span("la nuance", italic=True),
              Span(", "), Span("a*b_c", code=True), Span(", "),
              Span("le guide", url="https://exemple.fr/guide?a=1&b=2"))),
        Line((Span("deuxième ligne"),)),
        Line((Span("premier point"),), "-"),
        Line((Span("second "), Span("point", bold=True)), "-"),
        Line((Span("sous un"),), "1.", 1),
        Line((Span("sous deux"),), "2.", 1),
    )
    assert "citation" not in plain_text(rich) and "In reply to" not in plain_text(rich)


def test_markdown_of_formatted_text() -> None:
    markdown = rich_markdown(parse_formatted(ELEMENT_HTML), pad="")
    assert markdown == (
        "Voici **l'essentiel** et *la nuance*, `a*b_c`, [le guide](https://exemple.fr/guide?a=1&b=2)  \n"
        "  deuxième ligne\n"
        "    - premier point\n"
        "    - second **point**\n"
        "        1. sous un\n"
        "        2. sous deux"
    )
    room = markdown_to_html(f"- Mme X : {markdown}")
    assert "<strong>l'essentiel</strong>" in room and "<em>la nuance</em>" in room
    assert "<code>a*b_c</code>" in room and '<a href="https://exemple.fr/guide?a=1&amp;b=2">le guide</a>' in room
    assert re.search(r"<li>premier point</li>\s*<li>second <strong>point</strong><ol>\s*<li>sous un</li>", room)


def test_html_of_formatted_text() -> None:
    html = str(rich_html(parse_formatted(ELEMENT_HTML)))
    assert html == (
        "Voici <strong>l'essentiel</strong> et <em>la nuance</em>, <code>a*b_c</code>, "
        '<a href="https://exemple.fr/guide?a=1&amp;b=2">le guide</a><br>deuxième ligne'
        "<ul><li>premier point</li><li>second <strong>point</strong>"
        "<ol><li>sous un</li><li>sous deux</li></ol></li></ul>"
    )


def _view_with(entry: Entry) -> MinutesView:
    return MinutesView(header=cr4_view().header, exchanges=(Section("Point", discussion=(entry,)),))


def test_docx_runs_of_formatted_text() -> None:
    rich = parse_formatted(ELEMENT_HTML)
    document = docx.Document(io.BytesIO(render_docx(_view_with(Entry("brut", "Mme X", rich=rich)))))
    paragraphs = [p for p in document.paragraphs if p.style.name.startswith("List Bullet")]
    first = paragraphs[0]
    runs = {run.text: run for run in first.runs}
    assert runs["l'essentiel"].bold and not runs["Voici "].bold
    assert runs["la nuance"].italic and runs["a*b_c"].font.name == "Consolas"
    assert first.text.startswith("Mme X\u00a0: Voici l'essentiel") and "le guide" in first.text
    assert "\n" in first.text and first.text.endswith("deuxième ligne")  # the line break
    links = [r.target_ref for r in document.part.rels.values() if r.reltype == RELATIONSHIP_TYPE.HYPERLINK]
    assert links == ["https://exemple.fr/guide?a=1&b=2"]
    items = [(p.style.name, p.text) for p in paragraphs[1:]]
    assert items == [("List Bullet 2", "premier point"), ("List Bullet 2", "second point"),
                     ("List Bullet 3", "1. sous un"), ("List Bullet 3", "2. sous deux")]
    assert [run.bold for run in paragraphs[2].runs] == [None, True]


def test_hostile_html_never_survives_in_any_format() -> None:
    rich = parse_formatted(HOSTILE_HTML)
    assert plain_text(rich) == "clic encore données texte <b>échappé</b> Anabela"
    assert all(not span.url for line in rich for span in line.spans)
    view = _view_with(Entry("brut", "Mme X", rich=rich))
    markdown, html = render_markdown(view), render_html(view)
    room = markdown_to_html(markdown)
    for text in (markdown, html.split("<body>")[1], room):
        lowered = text.lower()
        for bad in ("<script", "<img", "onerror", "javascript:", "data:text", "<iframe", "onclick",
                    "<style", "alert", "<b>", "matrix.to"):
            assert bad not in lowered, (bad, text)
    assert "&lt;b&gt;échappé&lt;/b&gt;" in html and "&lt;b&gt;échappé&lt;/b&gt;" in room
    document = docx.Document(io.BytesIO(render_docx(view)))
    assert "clic encore données texte <b>échappé</b> Anabela" in "\n".join(p.text for p in document.paragraphs)
    assert not [r for r in document.part.rels.values() if r.reltype == RELATIONSHIP_TYPE.HYPERLINK]


def test_markdown_special_characters_in_formatted_text_stay_literal() -> None:
    rich = parse_formatted("<b>*pas* en italique</b> [lien](javascript:x) # titre <code>`tic`</code>")
    markdown = rich_markdown(rich)
    room = markdown_to_html(f"- {markdown}")
    assert "<strong>*pas* en italique</strong>" in room and "<em>" not in room
    assert "<a " not in room and "[lien](javascript:x)" in room
    assert "<code>`tic`</code>" in room


def test_without_formatting_the_plain_text_is_rendered_as_before() -> None:
    plain = Entry("**pas de gras** <i>x</i>", "Mme X")
    assert render_markdown(_view_with(plain)) == render_markdown(
        _view_with(dataclasses.replace(plain, rich=())))
    assert "\\*\\*pas de gras\\*\\*" in render_markdown(_view_with(plain))
    assert parse_formatted("") == () and parse_formatted("<p>  </p><mx-reply>x</mx-reply>") == ()


def test_the_builder_reads_the_stored_formatting() -> None:
    from bot.minutes.build import rich_text
    from bot.storage.models import Item

    item = Item(seance_id=1, kind="discussion", event_id="$e", sender="@a:localhost",
                text="**gras**", formatted="<strong>gras</strong>")
    assert rich_text(item) == (Line((Span("gras", bold=True),)),)
    assert rich_text(Item(seance_id=1, kind="discussion", event_id="$f", sender="@a:localhost",
                          text="**gras**")) == ()


def test_loose_lists_and_paragraphs() -> None:
    """Element wraps list items in <p> when they are separated by blank lines."""
    rich = parse_formatted("<p>Intro</p><ul><li><p>un</p></li><li><p><em>deux</em></p></li></ul><p>Fin</p>")
    assert rich == (Line((Span("Intro"),)), Line((Span("un"),), "-"), Line((Span("deux", italic=True),), "-"),
                    Line((Span("Fin"),)))
    assert parse_formatted("<ul><li></li></ul>après") == (Line((Span("après"),)),)
