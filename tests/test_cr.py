"""``!cr`` / ``!cr publier`` with a recording Context over a real database."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import docx
import pytest
from sqlmodel import select

from bot.app.wiring import build_core, build_registry
from bot.engine.context import Context
from bot.engine.events import Message
from bot.engine.registry import (
    PERMISSION_REPLY,
    PermissionDenied,
    UsageError,
    dispatch,
    parse_invocation,
)
from bot.minutes.export import MEDIA_TYPES
from bot.minutes.summary import LONG_MARKDOWN
from bot.storage.db import Database
from bot.storage.models import CalendarFeed, Item, ItemKind, Outbox, Publication, Seance
from tests.conftest import make_config
from tests.pdfcheck import pdf_text
from tests.test_minutes_build import (
    FEED_TOKEN,
    ROOM,
    START,
    close,
    cr4_database,
    open_seance,
    room_state,
)

NOW = datetime(2022, 5, 12, 9, 0, tzinfo=UTC)
MAITA = "@maita:localhost"
ANABELA = "@anabela:localhost"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"




def run(database, config, text: str, sender: str = MAITA, now: datetime = NOW) -> Context:
    """Run one command like the core does (one transaction, committed unless it fails)."""
    with database.session() as session:
        state = room_state()
        ctx = Context(config=config, session=session, room=state, sender=sender, event_id="$cmd", now=now,
                      registry=build_registry(), bot_user_id="@maillage:localhost",
                      is_facilitator=state.power_level(sender) >= 50)
        dispatch(ctx, parse_invocation(text, "!", ctx.registry))
        return ctx


def publications(database) -> list[Publication]:
    with database.session() as session:
        return list(session.exec(select(Publication).order_by(Publication.version)).all())


def messages(ctx: Context) -> list[dict]:
    return [o.content for o in ctx.outgoing if o.event_type == "m.room.message"]


def files(ctx: Context) -> list[tuple[str, str, bytes]]:
    return [(o.content["filename"], o.content["info"]["mimetype"], o.file_data)
            for o in ctx.outgoing if o.content.get("msgtype") == "m.file"]


# --- preview ---------------------------------------------------------------------------------


def test_preview_of_the_last_closed_seance_is_a_draft(database, config):
    ctx = run(database, config, "!cr")
    (reply,) = messages(ctx)
    assert reply["m.relates_to"]["m.in_reply_to"]["event_id"] == "$cmd"
    assert reply["body"].startswith("Réseau régional des CPO — Compte rendu n°4")
    assert "Projet — document provisoire" in reply["body"]
    assert "<h2>Météo du jour</h2>" in reply["formatted_body"]
    assert publications(database) == []


def test_preview_prefers_the_open_seance_and_takes_a_number(database, config):
    with database.session() as session:
        s = open_seance(session, 5, NOW - timedelta(hours=1), title="Séance ouverte")
        s.attend(MAITA)
        s.say(ANABELA, "Un message de la séance ouverte")
    assert "Séance ouverte — Compte rendu n°5" in messages(run(database, config, "!cr"))[0]["body"]
    assert "Compte rendu n°4" in messages(run(database, config, "!minutes #4"))[0]["body"]
    assert "Compte rendu n°3" in messages(run(database, config, "!cr 3"))[0]["body"]   # rencontre #3
    assert "Compte rendu n°4" in messages(run(database, config, "!cr n°4"))[0]["body"]


def test_preview_footer_says_how_to_publish(database, config):
    closed = messages(run(database, config, "!cr"))[0]
    assert "<hr" in closed["formatted_body"] and "!cr publier 4" in closed["body"]
    with database.session() as session:
        open_seance(session, 5, NOW - timedelta(hours=1))
    still_open = messages(run(database, config, "!cr"))[0]["body"]
    assert "!seance clore" in still_open and "!cr publier" in still_open


def test_closing_a_seance_posts_the_draft(database, config):
    with database.session() as session:
        s = open_seance(session, 5, NOW - timedelta(hours=1), title="Séance du jour")
        s.attend(MAITA, ANABELA)
        s.say(ANABELA, "Bilan de la journée")
    ctx = run(database, config, "!seance clore")
    summary, draft = messages(ctx)
    assert summary["m.relates_to"]["m.in_reply_to"]["event_id"] == "$cmd"  # the séance's own reply
    assert "m.relates_to" not in draft
    assert draft["body"].startswith("Séance du jour — Compte rendu n°5")
    assert "Projet — document provisoire" in draft["body"] and "Bilan de la journée" in draft["body"]
    assert "!cr publier n°5" in draft["body"]   # an ad-hoc séance: named by its CR number
    assert publications(database) == []


@pytest.mark.parametrize("text, message", [
    ("!cr 99", "aucune séance n'a été tenue pour la rencontre #99"),
    ("!cr 5", "aucune séance n'a été tenue pour la rencontre #5"),   # planned, not held
    ("!cr n°99", "pas de compte rendu n°99"),
    ("!cr quatre", "n'est pas un numéro de rencontre"),
    ("!cr publier #99", "aucune séance n'a été tenue pour la rencontre #99"),
])
def test_bad_numbers_are_usage_errors(database, config, text, message):
    with pytest.raises(UsageError) as error:
        run(database, config, text)
    assert message in error.value.message


def test_a_huge_argument_is_quoted_as_an_excerpt(database, config):
    with pytest.raises(UsageError) as error:
        run(database, config, "!cr " + "z" * 19_900)
    assert len(error.value.message) < 300 and "z" * 80 + "…" in error.value.message


def test_no_seance_yet(config, db):
    with db.session() as session:
        state = room_state()
        ctx = Context(config=config, session=session, room=state, sender=MAITA, event_id="$cmd", now=NOW,
                      registry=build_registry(), is_facilitator=True)
        dispatch(ctx, parse_invocation("!cr publier", "!", ctx.registry))
    assert "Aucune séance" in ctx.replies[0] and "!seance ouvrir" in ctx.replies[0]


# --- publication -------------------------------------------------------------------------------


def test_publish_posts_the_minutes_and_four_files(database, config):
    ctx = run(database, config, "!cr publier")
    minutes, *_files, confirmation = messages(ctx)
    assert "m.relates_to" not in minutes  # a message of its own, not a reply
    assert minutes["body"].startswith("Réseau régional des CPO — Compte rendu n°4")
    assert "Projet" not in minutes["body"] and "Version" not in minutes["body"]
    assert "<h3>Actualités de la cité éducative de Soissons</h3>" in minutes["formatted_body"]
    assert "publié" in confirmation["body"] and confirmation["m.relates_to"]["m.in_reply_to"]

    (publication,) = publications(database)
    assert (publication.version, publication.published_by, publication.published_at) == (1, MAITA, NOW)
    assert [(name, mimetype) for name, mimetype, _ in files(ctx)] == [
        ("compte-rendu-4-v1.md", "text/markdown"), ("compte-rendu-4-v1.html", "text/html"),
        ("compte-rendu-4-v1.docx", DOCX), ("compte-rendu-4-v1.pdf", "application/pdf")]
    (_, _, md), (_, _, html), (_, _, word), (_, _, pdf) = files(ctx)
    assert md.decode() == publication.markdown and html.decode() == publication.html
    assert word == publication.docx and pdf == publication.pdf
    assert pdf.startswith(b"%PDF-") and "Compte rendu n°4" in pdf_text(pdf)
    assert publication.html.startswith("<!DOCTYPE html>")
    document = docx.Document(io.BytesIO(word))
    assert document.paragraphs[0].text == "Réseau régional des CPO — Compte rendu n°4"
    assert all(o.content["info"]["size"] == len(o.file_data) for o in ctx.outgoing if o.file_data)


def test_republishing_after_an_edit_makes_version_2(database, config):
    run(database, config, "!cr publier")
    with database.session() as session:  # what the capture does with an edit in the room
        item = session.exec(select(Item).where(Item.kind == ItemKind.QUESTION)).one()
        item.text = "Comment coopérer sans logique de guichet ? (corrigé)"
        item.edited_at = NOW + timedelta(hours=1)
    later = NOW + timedelta(days=2)
    ctx = run(database, config, "!minutes publish 4", now=later)
    minutes, *_rest, confirmation = messages(ctx)
    assert "Version 2, mise à jour du samedi 14 mai 2022" in minutes["body"]
    assert "(corrigé)" in minutes["body"]
    assert "version 2, mise à jour du samedi 14 mai 2022" in confirmation["body"]
    assert [name for name, _, _ in files(ctx)] == [
        "compte-rendu-4-v2.md", "compte-rendu-4-v2.html", "compte-rendu-4-v2.docx",
        "compte-rendu-4-v2.pdf"]
    first, second = publications(database)
    assert (first.version, second.version) == (1, 2)
    assert "(corrigé)" not in first.markdown and "(corrigé)" in second.markdown
    assert "Version 2" in second.html and second.published_at == later


def test_an_open_seance_cannot_be_published(database, config):
    with database.session() as session:
        open_seance(session, 5, NOW - timedelta(hours=1))
    with pytest.raises(UsageError) as error:
        run(database, config, "!cr publier")
    assert "encore ouverte" in error.value.message and "!seance clore" in error.value.message
    assert publications(database) == []


def test_formats_from_config_and_archive_link(tmp_path):
    config = make_config(tmp_path, minutes={"formats": ["docx"]})
    database = Database(config.database.url)
    database.upgrade()
    with database.session() as session:
        cr4_database(session)
    ctx = run(database, config, "!cr publier")
    assert [(name, mimetype) for name, mimetype, _ in files(ctx)] == [("compte-rendu-4-v1.docx", DOCX)]
    confirmation = messages(ctx)[-1]["body"]
    assert f"http://127.0.0.1:8080/minutes/{FEED_TOKEN}/4/1.html" in confirmation
    assert "Fichiers : .docx" in confirmation
    (publication,) = publications(database)
    assert publication.pdf is None  # not asked for: not made (the archive prints it on demand)
    with database.session() as session:
        session.delete(session.get(CalendarFeed, ROOM))
    assert "Archive" not in messages(run(database, config, "!cr publier"))[-1]["body"]
    database.dispose()


def test_template_override_is_used(tmp_path):
    templates = tmp_path / "gabarits"
    templates.mkdir()
    (templates / "minutes.md.j2").write_text(
        "# CR {{ view.header.number }} — {{ view.header.title | md_line }}\n", encoding="utf-8")
    config = make_config(tmp_path, minutes={"templates_dir": str(templates)})
    database = Database(config.database.url)
    database.upgrade()
    with database.session() as session:
        cr4_database(session)
    ctx = run(database, config, "!cr publier")
    assert messages(ctx)[0]["body"] == "CR 4 — Réseau régional des CPO"
    assert files(ctx)[0][2] == "# CR 4 — Réseau régional des CPO\n".encode()
    assert files(ctx)[1][2].startswith(b"<!DOCTYPE html>")  # the HTML template is not overridden
    database.dispose()


def test_long_minutes_are_summarised(database, config):
    with database.session() as session:
        s = open_seance(session, 5, START + timedelta(days=29))
        s.attend(MAITA, ANABELA)
        s.point("Un long point")
        for n in range(300):
            s.say(ANABELA, f"Message {n} : un retour d'expérience détaillé sur la mobilisation des parents.")
        close(s, START + timedelta(days=29, hours=2))
    ctx = run(database, config, "!cr publier n°5")
    minutes = messages(ctx)[0]
    assert len(minutes["body"]) < LONG_MARKDOWN
    assert "trop long pour un message" in minutes["body"]
    assert "les fichiers joints (.md, .html, .docx, .pdf)" in minutes["body"]
    assert "Échanges\u00a0: 1 point, 300 messages" in minutes["body"]
    assert "Présent·e·s\u00a0: 1 personne" in minutes["body"]
    (publication,) = publications(database)
    assert len(publication.markdown) > LONG_MARKDOWN and "Message 299" in publication.markdown
    assert files(ctx)[0][2].decode() == publication.markdown

    preview = run(database, config, "!cr n°5")
    assert "trop long" in messages(preview)[0]["body"]
    assert [(name, mimetype) for name, mimetype, _ in files(preview)] == [
        ("compte-rendu-5-projet.md", MEDIA_TYPES["md"])]
    assert b"Projet \xe2\x80\x94 document provisoire" in files(preview)[0][2]


# --- permission, through the core ---------------------------------------------------------------


def test_members_are_refused_and_nothing_is_published(database, config):
    with pytest.raises(PermissionDenied):
        run(database, config, "!cr publier", sender=ANABELA)
    core = build_core(config, database, "@maillage:localhost", clock=lambda: NOW)
    for n, text in enumerate(("!cr publier", "!cr", "!minutes")):
        event = Message(f"$m{n}", ROOM, ANABELA, text, NOW)
        assert core.handle(event, room_state()) == 1
    with database.session() as session:
        bodies = [row.content["body"] for row in session.exec(select(Outbox)).all()]
    assert bodies == [PERMISSION_REPLY] * 3
    assert publications(database) == []


def test_publication_through_the_core_queues_the_files(database, config):
    core = build_core(config, database, "@maillage:localhost", clock=lambda: NOW)
    core.handle(Message("$pub", ROOM, MAITA, "!cr publier", NOW), room_state())
    with database.session() as session:
        rows = session.exec(select(Outbox).order_by(Outbox.id)).all()
        seance = session.exec(select(Seance).where(Seance.number == 4)).one()
        (publication,) = session.exec(select(Publication)).all()
    assert publication.seance_id == seance.id
    uploads = [(r.content["info"]["mimetype"], r.file_data) for r in rows if r.file_data is not None]
    assert uploads == [("text/markdown", publication.markdown.encode()),
                       ("text/html", publication.html.encode()), (DOCX, publication.docx),
                       ("application/pdf", publication.pdf), ("image/png", uploads[4][1]),
                       ("image/png", uploads[5][1])]  # the charts: this room's second séance
    assert [r.content["msgtype"] for r in rows if r.file_data is not None][-2:] == ["m.image"] * 2
    assert len({r.txn_id for r in rows}) == len(rows) == 8
