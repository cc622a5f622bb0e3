"""Charts of the séances (bot.minutes.charts), in the minutes and in the room."""

from __future__ import annotations

import dataclasses
import io
import struct
from datetime import timedelta

import docx
from pypdf import PdfReader

from bot.minutes.charts import SeancePoint, history_charts, meteo_alt, participation_alt
from bot.minutes.docx import render_docx
from bot.minutes.pdf import render_pdf
from bot.minutes.render import render_html, render_markdown, with_charts
from bot.storage.db import Database
from tests.conftest import make_config
from tests.pdfcheck import pdf_text
from tests.test_cr import run
from tests.test_minutes_build import START, close, open_seance
from tests.test_minutes_render import cr4_view

POINTS = (
    SeancePoint(2, "02/03/2022", {5: 1, 4: 2, 2: 1}, present=9, excused=2, cites=6),
    SeancePoint(3, "06/04/2022", {4: 3, 3: 2}, present=6, excused=0, cites=5),
    SeancePoint(4, "11/05/2022", {5: 2, 4: 2, 3: 1}, present=12, excused=3, cites=10, current=True),
)


def png_size(data: bytes) -> tuple[int, int]:
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    return struct.unpack(">II", data[16:24])


def test_text_alternatives_state_the_numbers() -> None:
    assert meteo_alt(POINTS) == (
        "Météo du jour par séance — "
        "n°2 (02/03/2022) : 4 réponses, moyenne 3,8/5 (☀️ 5 : 1, 🌤️ 4 : 2, 🌧️ 2 : 1) ; "
        "n°3 (06/04/2022) : 5 réponses, moyenne 3,6/5 (🌤️ 4 : 3, ⛅ 3 : 2) ; "
        "n°4 (11/05/2022, cette séance) : 5 réponses, moyenne 4,2/5 (☀️ 5 : 2, 🌤️ 4 : 2, ⛅ 3 : 1).")
    assert participation_alt(POINTS) == (
        "Participation par séance — "
        "n°2 (02/03/2022) : 9 présent·e·s, 2 excusé·e·s, 6 cités éducatives représentées ; "
        "n°3 (06/04/2022) : 6 présent·e·s, 0 excusé·e·s, 5 cités éducatives représentées ; "
        "n°4 (11/05/2022, cette séance) : 12 présent·e·s, 3 excusé·e·s, 10 cités éducatives représentées.")
    lonely = SeancePoint(5, "01/06/2022", present=1, cites=1)
    assert "n°5 (01/06/2022) : pas de réponse" in meteo_alt([lonely])
    assert "1 cité éducative représentée" in participation_alt([lonely])


def test_charts_are_pngs_with_their_alternative() -> None:
    meteo, participation = history_charts(POINTS)
    for chart, alt in ((meteo, meteo_alt(POINTS)), (participation, participation_alt(POINTS))):
        assert png_size(chart.png) == (chart.width, chart.height) and chart.width > 500
        assert chart.alt == alt
        assert chart.data_uri.startswith("data:image/png;base64,iVBORw0KGgo")
    assert meteo.png != participation.png
    assert history_charts(POINTS) == (meteo, participation)  # same data, same bytes


def test_no_chart_before_the_second_seance_and_only_the_latest_twelve() -> None:
    assert history_charts(POINTS[-1:]) == () and history_charts(()) == ()
    many = [dataclasses.replace(POINTS[0], number=n, current=n == 20) for n in range(1, 21)]
    meteo, _ = history_charts(many)
    assert "n°8 (" not in meteo.alt and "n°9 (" in meteo.alt and meteo.alt.count("réponses") == 12


def test_charts_are_in_the_html_the_docx_and_the_pdf() -> None:
    view = with_charts(dataclasses.replace(cr4_view(), history=POINTS))
    html = render_html(view)
    assert html.count('<img src="data:image/png;base64,') == 2
    assert f"<figcaption>{participation_alt(POINTS).replace(chr(39), '&#39;')}</figcaption>" in html
    assert html.index("<h2>Présent·e·s</h2>") < html.index('alt="Participation par séance"') \
        < html.index("<h2>Excusé·e·s</h2>")
    assert html.index("<h2>Météo du jour</h2>") < html.index('alt="Météo du jour par séance"') \
        < html.index("<h2>Actualité nationale</h2>")
    assert "data:image" not in render_markdown(view)

    document = docx.Document(io.BytesIO(render_docx(view)))
    assert len(document.inline_shapes) == 2
    descriptions = [shape._inline.docPr.get("descr") for shape in document.inline_shapes]
    assert descriptions == [participation_alt(POINTS), meteo_alt(POINTS)]
    assert meteo_alt(POINTS) in [p.text for p in document.paragraphs]

    pdf = render_pdf(html)
    # WeasyPrint lists the document's images in every page's resources (count them once);
    # the colour emoji font's glyphs are images too: keep the charts' size.
    sizes = {(image.data, image.image.size) for page in PdfReader(io.BytesIO(pdf)).pages
             for image in page.images}
    assert sorted(size for _, size in sizes if size[0] > 500) == [(view.meteo_chart.width, view.meteo_chart.height)] * 2
    text = " ".join(pdf_text(pdf).split())
    assert "n°4 (11/05/2022, cette séance) : 5 réponses, moyenne 4,2/5" in text
    assert "12 présent·e·s, 3 excusé·e·s, 10 cités éducatives représentées" in text


def test_no_chart_in_the_documents_with_one_seance() -> None:
    view = with_charts(dataclasses.replace(cr4_view(), history=POINTS[-1:]))
    assert view.meteo_chart is None and "<img" not in render_html(view)
    assert len(docx.Document(io.BytesIO(render_docx(view))).inline_shapes) == 0


# --- in the room ----------------------------------------------------------------------------------


def images(ctx) -> list[dict]:
    return [o.content for o in ctx.outgoing if o.content.get("msgtype") == "m.image"]


def test_publication_posts_the_charts_from_the_second_seance(database, config) -> None:
    ctx = run(database, config, "!cr publier")
    meteo, participation = images(ctx)
    assert meteo["filename"] == "meteo-cr4.png" and participation["filename"] == "participation-cr4.png"
    assert meteo["body"].startswith("Météo du jour par séance — n°3 (06/04/2022) : 5 réponses, moyenne 3,6/5")
    assert "n°4 (11/05/2022, cette séance) : 5 réponses, moyenne 4,2/5" in meteo["body"]
    assert "n°3 (06/04/2022) : 6 présent·e·s, 0 excusé·e·s, 5 cités éducatives" in participation["body"]
    uploads = {o.content["filename"]: o.file_data for o in ctx.outgoing if o.file_data}
    for content in (meteo, participation):
        data = uploads[content["filename"]]
        assert content["info"] == {"mimetype": "image/png", "w": png_size(data)[0], "h": png_size(data)[1],
                                   "size": len(data)}


def test_no_chart_is_posted_for_the_first_seance(tmp_path) -> None:
    config = make_config(tmp_path)
    database = Database(config.database.url)
    database.upgrade()
    with database.session() as session:
        script = open_seance(session, 1, START)
        script.attend("@maita:localhost", "@anabela:localhost")
        close(script, START + timedelta(hours=2))
    ctx = run(database, config, "!cr publier")
    assert images(ctx) == [] and ctx.outgoing  # published, no image
    database.dispose()


