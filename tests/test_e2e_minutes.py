"""End-to-end: a séance in a real room, closed, then its minutes published by the real bot.

A facilitator opens a séance; members set their profile, post news, a reply to it, a
météo, an action, a resource and plain messages; one message is edited and another
redacted before the séance is closed. ``!seance clore`` posts the draft; ``!cr
publier`` posts the minutes and the ``.md``, ``.html``, ``.docx`` and ``.pdf`` files, which
are downloaded from the media repository (authenticated media) and read back. A
member is refused; a correction after publishing gives version 2; a second séance's
publication posts the charts of the météo and of participation (``m.image``).
"""

from __future__ import annotations

import io

import docx
import pytest

from tests.botproc import BOT, ask, start_world
from tests.matrix_user import MatrixUser, download_media, notices_from, replies_to
from tests.pdfcheck import pdf_text

pytestmark = pytest.mark.e2e
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
NBSP = "\u00a0"


def body_of(event: dict) -> str:
    return event["content"]["body"]


async def acknowledged(user: MatrixUser, room: str, event_id: str) -> None:
    """Wait for the bot's ✅ on a message: it was captured (and everything before it)."""
    def ack(events):
        return [e for e in events if e["type"] == "m.reaction" and e["sender"] == BOT
                and e["content"]["m.relates_to"]["event_id"] == event_id]
    await user.wait_for(room, ack, what=f"✅ on {event_id}")


async def captured(user: MatrixUser, room: str, text: str) -> str:
    event_id = await user.say(room, text)
    await acknowledged(user, room, event_id)
    return event_id


def after(events: list[dict], event_id: str) -> list[dict]:
    ids = [e["event_id"] for e in events]
    return events[ids.index(event_id) + 1:]


def bot_files(events: list[dict]) -> list[dict]:
    return [e for e in events if e["sender"] == BOT and e["type"] == "m.room.message"
            and e["content"].get("msgtype") == "m.file"]


async def publish(maita: MatrixUser, room: str) -> tuple[str, dict, list[dict]]:
    """``!cr publier``: (confirmation, minutes message, the four files)."""
    command = await maita.say(room, "!cr publier")

    def done(events):
        later = after(events, command)
        return replies_to(later, BOT, command) and len(bot_files(later)) == 4

    await maita.wait_for(room, done, what="the minutes and their files")
    later = after(await maita.messages(room), command)
    (confirmation,) = replies_to(later, BOT, command)
    (minutes,) = [n for n in notices_from(later, BOT)
                  if "Compte rendu n°" in body_of(n) and "m.relates_to" not in n["content"]]
    return body_of(confirmation), minutes, bot_files(later)


async def downloads(user: MatrixUser, files: list[dict]) -> dict[str, bytes]:
    found = {}
    for event in files:
        content = event["content"]
        data = await download_media(user.base_url, user.token, content["url"])
        assert len(data) == content["info"]["size"]
        found[content["info"]["mimetype"]] = data
    return found


@pytest.fixture
async def world(synapse, tmp_path, request):
    """The bot and, in a new room, facilitator maita with members anabela and quentin."""
    suffix = request.node.name.replace("_", "")[-10:].lower()
    bot, room, (maita, anabela, quentin) = await start_world(
        synapse, tmp_path / "bot", (f"maita-cr{suffix}", "Maïta Giraldi"),
        [(f"anabela-cr{suffix}", "Anabela De Castro"), (f"quentin-cr{suffix}", "Quentin Poilvé")])
    yield bot, room, maita, anabela, quentin
    if bot.alive():
        bot.stop()


async def test_seance_close_publish_and_republish(world):
    _bot, room, maita, anabela, quentin = world
    await ask(maita, room, "!profil Chargée de mission cohésion sociale ; IREV")
    await ask(maita, room, "!profil nom Mme Giraldi Maïta")
    await ask(anabela, room, "!profil Cheffe de projet cité éducative ; CE Beauvais")
    await ask(anabela, room, "!profil nom Mme De Castro Anabela")
    await ask(quentin, room, "!profil Chef de projet cité éducative ; CE Soissons")
    await ask(quentin, room, "!profil nom M. Poilvé Quentin")
    await ask(maita, room, "!seance ouvrir Réseau régional des CPO")
    await captured(maita, room, "!point Tour d'écran des participant·e·s")

    news = await captured(quentin, room, "!actu Organisation le 23 juin d'un comité de copilotage.")
    await anabela.send(room, {"msgtype": "m.text", "body": "Nous faisons le bilan avec des indicateurs agrégés.",
                              "m.relates_to": {"m.in_reply_to": {"event_id": news}}})
    typo = await anabela.say(room, "Les fêtes d'écoles aident a mobilisé les parents.")
    await quentin.send(room, {"msgtype": "m.text", "body": "Retenez **le 23 juin** : [programme](https://exemple.fr/p)",
                              "format": "org.matrix.custom.html",
                              "formatted_body": "Retenez <strong>le 23 juin</strong> : "
                                                "<a href=\"https://exemple.fr/p\">programme</a>"
                                                "<img src=x onerror=alert(1)>"})
    gone = await quentin.say(room, "Ce message sera retiré.")
    await captured(anabela, room, "!meteo 4 Belle dynamique autour de la fête de quartier")
    await anabela.edit(room, typo, "Les fêtes d'écoles aident à mobiliser les parents.")
    await quentin.redact(room, gone)
    await captured(quentin, room, "!action Partager le support du copil")
    await captured(maita, room, "!ressource https://gogocarto.fr/ Gogocarto, outil de cartographie")

    close = await maita.say(room, "!seance clore")
    draft = await maita.wait_for(room, lambda ev: [n for n in notices_from(after(ev, close), BOT)
                                                   if "Projet — document provisoire" in body_of(n)],
                                 what="the draft minutes after closing")
    assert "à mobiliser les parents" in body_of(draft[0])

    assert "réservée à l'animation" in await ask(anabela, room, "!cr publier")

    confirmation, minutes, files = await publish(maita, room)
    assert "Compte rendu n°1 publié" in confirmation
    text = body_of(minutes)
    assert text.startswith("Réseau régional des CPO — Compte rendu n°1")
    assert "Projet" not in text and "Version" not in text
    assert minutes["content"]["format"] == "org.matrix.custom.html"
    assert "<h3>Actualités de la cité éducative de Soissons</h3>" in minutes["content"]["formatted_body"]
    assert [(f["content"]["body"], f["content"]["info"]["mimetype"]) for f in files] == [
        ("compte-rendu-1-v1.md", "text/markdown"), ("compte-rendu-1-v1.html", "text/html"),
        ("compte-rendu-1-v1.docx", DOCX), ("compte-rendu-1-v1.pdf", "application/pdf")]

    data = await downloads(anabela, files)
    markdown = data["text/markdown"].decode("utf-8")
    assert markdown.startswith("# Réseau régional des CPO — Compte rendu n°1\n")
    assert "- Mme De Castro Anabela (Cheffe de projet cité éducative ; CE Beauvais)" in markdown
    assert "## Animation\n\n- Mme Giraldi Maïta (Chargée de mission cohésion sociale ; IREV)" in markdown
    assert f"- Mme De Castro Anabela{NBSP}: 🌤️ 4/5 — Belle dynamique" in markdown
    assert f"- Mme De Castro Anabela{NBSP}: Nous faisons le bilan avec des indicateurs agrégés." in markdown
    assert "Les fêtes d'écoles aident à mobiliser les parents." in markdown  # the edit
    assert "a mobilisé" not in markdown and "sera retiré" not in markdown  # the redaction
    assert "Partager le support du copil" in markdown and "<https://gogocarto.fr/>" in markdown
    assert "Retenez **le 23 juin** : [programme](https://exemple.fr/p)" in markdown  # Element's formatting
    assert "<strong>le 23 juin</strong>" in data["text/html"].decode() and "onerror" not in data["text/html"].decode()
    html = data["text/html"].decode("utf-8")
    assert html.startswith("<!DOCTYPE html>") and "à mobiliser les parents" in html
    document = docx.Document(io.BytesIO(data[DOCX]))
    headings = [p.text for p in document.paragraphs if p.style.name == "Heading 1"]
    assert headings[:4] == ["Ordre du jour", "Présent·e·s", "Animation", "Météo du jour"]
    assert "Actions à suivre" in headings
    pdf = pdf_text(data["application/pdf"])
    assert "Réseau régional des CPO — Compte rendu n°1" in pdf and "à mobiliser les parents" in pdf

    # A correction after publishing (edits still reach the closed séance's items): version 2.
    await anabela.edit(room, typo, "Les fêtes d'écoles et les kermesses aident à mobiliser les parents.")
    confirmation, minutes, files = await publish(maita, room)
    assert "version 2, mise à jour du" in confirmation
    assert "Version 2, mise à jour du" in body_of(minutes)
    assert files[0]["content"]["body"] == "compte-rendu-1-v2.md"
    markdown = (await downloads(maita, files))["text/markdown"].decode("utf-8")
    assert "les kermesses aident" in markdown
    assert not [e for e in after(await maita.messages(room), files[0]["event_id"])
                if e["content"].get("msgtype") == "m.image"]  # one séance: no chart yet

    # A second séance: its publication posts the charts of the météo and of participation.
    await ask(maita, room, "!seance ouvrir Deuxième séance")
    await captured(anabela, room, "!meteo 5 Très bonne période")
    await quentin.say(room, "Un message de la deuxième séance.")
    await ask(maita, room, "!seance clore")
    command = await maita.say(room, "!cr publier n°2")
    charts = await maita.wait_for(room, lambda ev: (lambda found: found if len(found) == 2 else None)(
        [e for e in after(ev, command) if e["sender"] == BOT and e["content"].get("msgtype") == "m.image"]),
        what="the two charts")
    assert [c["content"]["filename"] for c in charts] == ["meteo-cr2.png", "participation-cr2.png"]
    assert "n°1 (" in body_of(charts[0]) and "n°2 (" in body_of(charts[0])  # the text alternative
    assert "moyenne 5,0/5" in body_of(charts[0])
    image = await download_media(maita.base_url, maita.token, charts[1]["content"]["url"])
    info = charts[1]["content"]["info"]
    assert image.startswith(b"\x89PNG") and info["mimetype"] == "image/png" and info["size"] == len(image)
    assert info["w"] > 500 and info["h"] > 200
