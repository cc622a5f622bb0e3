"""End-to-end: a whole séance on a real Synapse, the bot as a subprocess.

Three people (a facilitator, two members of different cités éducatives) hold a séance:
météo by command and by reply to the prompt, local news from two structures, a
partage, an action with owner and due date, a resource, edits of a free message and of
a command, a redaction, an off-record message, a thread message, a graceful restart and
a kill -9 with messages (and an edit) posted while the bot is down. At the end the
bot's SQLite file, read directly, holds exactly what a reader of the room would keep.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import col, select

from bot.domain.attendance import attendance
from bot.matrix.devclient import Pill
from bot.storage.db import Database
from bot.storage.models import Item, ItemEdit, ItemKind, Seance, SeanceStatus, Topic
from tests.botproc import BOT, ask, start_world
from tests.matrix_user import MatrixUser, notices_from, replies_to

pytestmark = pytest.mark.e2e
PARIS = ZoneInfo("Europe/Paris")


def reactions_from_bot(events: list[dict], event_id: str) -> list[dict]:
    return [e for e in events if e["sender"] == BOT and e["type"] == "m.reaction"
            and e["content"].get("m.relates_to", {}).get("event_id") == event_id]


async def acked(user: MatrixUser, room: str, text: str, **relation) -> str:
    """Send a command (or a reply to the prompt) and wait for the bot's ✅."""
    content = {"msgtype": "m.text", "body": text}
    if relation:
        content["m.relates_to"] = relation
    event_id = await user.send(room, content)
    await user.wait_for(room, lambda ev: reactions_from_bot(ev, event_id), what=f"✅ on {text!r}")
    return event_id


@pytest.fixture
async def people(synapse, tmp_path):
    bot, room, (maita, anabela, quentin) = await start_world(
        synapse, tmp_path / "bot", ("maita-seance", "Maïta Giraldi"),
        [("anabela-seance", "Anabela De Castro"), ("quentin-seance", "Quentin Poilvé")])
    yield bot, room, maita, anabela, quentin
    if bot.alive():
        bot.stop()


async def test_a_whole_seance_is_captured_as_a_reader_would_keep_it(people, tmp_path):
    bot, room, maita, anabela, quentin = people
    today = datetime.now(PARIS).date()
    first_due, due = today + timedelta(days=20), today + timedelta(days=30)

    assert "CE Beauvais" in await ask(anabela, room, "!profil Cheffe de projet cité éducative ; CE Beauvais")
    assert "CE Soissons" in await ask(quentin, room, "!profil Chef de projet cité éducative ; CE Soissons")
    assert "compte rendu n°1" in await ask(maita, room, "!seance ouvrir Réseau régional des CPO")
    [prompt] = await maita.wait_for(room, lambda ev: [n for n in notices_from(ev, BOT)
                                                      if "Météo du jour" in n["content"]["body"]],
                                    what="météo prompt")

    # Météo by command, then by a reply to the prompt (with the reply fallback a client adds).
    await acked(anabela, room, "!meteo 4 Bonne dynamique")
    await acked(quentin, room, f"> <{BOT}> Météo du jour…\n\n3 Beaucoup de dossiers avant le COPIL",
                **{"m.in_reply_to": {"event_id": prompt["event_id"]}})

    await acked(maita, room, "!point Actualités locales")
    await acked(anabela, room, "!actu Fête de quartier le 2 juillet")
    news = await acked(quentin, room, "!news COPIL le 23 juin : bilan de la première année")
    await maita.say(room, "Bravo pour ces actualités")
    thread = await anabela.send(room, {"msgtype": "m.text", "body": "Comment préparez-vous le COPIL ?",
                                       "m.relates_to": {"rel_type": "m.thread", "event_id": news,
                                                        "is_falling_back": True,
                                                        "m.in_reply_to": {"event_id": news}}})
    typo = await quentin.say(room, "Nous présentons un bilan par enjeu priortaire")
    await quentin.edit(room, typo, "Nous présentons un bilan par enjeu prioritaire")
    await acked(quentin, room, "!partage L'école des sports — Une offre de 3 à 25 ans "
                               "https://www.arras.fr/ecole-des-sports")
    action = await acked(maita, room, f"!action Envoyer le bilan @Anabela De Castro pour {first_due:%d/%m/%Y}")
    await maita.edit(room, action, f"!action Envoyer le bilan @Anabela De Castro pour {due:%d/%m/%Y}")
    await acked(anabela, room, "!ressource https://irev.fr/evaluation Évaluation des cités éducatives")
    await quentin.say(room, "(hors cr) je dois partir 5 minutes")
    oops = await anabela.say(room, "message envoyé par erreur")
    await anabela.redact(room, oops)
    await acked(maita, room, "#info Point notable avant le redémarrage")

    # A graceful restart, with a message posted while the bot is stopped.
    assert bot.stop() == 0
    await anabela.say(room, "Message pendant l'arrêt")
    bot.start()
    await acked(anabela, room, "!question Comment mobiliser les parents ?")

    # kill -9 right after a message; a message, an edit and a command while the bot is down.
    before_kill = await quentin.say(room, "Message juste avant le kill")
    bot.kill()
    await quentin.say(room, "Message pendant la panne")
    await quentin.edit(room, before_kill, "Message juste avant la panne")
    decision = await maita.say(room, "!decision On garde le rythme mensuel")
    bot.start()
    await maita.wait_for(room, lambda ev: reactions_from_bot(ev, decision), timeout=90,
                         what="the decision captured after the kill")

    summary = await ask(maita, room, "!seance clore")
    assert "1 météo" not in summary and "2 météos" in summary and "Ont participé (3)" in summary
    assert bot.stop() == 0

    db = Database(f"sqlite:///{tmp_path / 'bot' / 'maillage.db'}")
    try:
        with db.session() as session:
            [seance] = session.exec(select(Seance)).all()
            stored = list(session.exec(select(Item).where(Item.seance_id == seance.id)
                                       .order_by(col(Item.created_at), col(Item.id))))
            [topic] = session.exec(select(Topic)).all()
            history = {e.item_event_id: e.text for e in session.exec(select(ItemEdit))
                       if e.event_id != e.item_event_id}
            present, excused, facilitators = attendance(session, seance)
    finally:
        db.dispose()

    M, A, Q = maita.user_id, anabela.user_id, quentin.user_id
    assert [(i.kind, i.sender, i.text) for i in stored] == [
        (ItemKind.METEO, A, "Bonne dynamique"),
        (ItemKind.METEO, Q, "Beaucoup de dossiers avant le COPIL"),
        (ItemKind.LOCAL_NEWS, A, "Fête de quartier le 2 juillet"),
        (ItemKind.LOCAL_NEWS, Q, "COPIL le 23 juin : bilan de la première année"),
        (ItemKind.DISCUSSION, M, "Bravo pour ces actualités"),
        (ItemKind.DISCUSSION, A, "Comment préparez-vous le COPIL ?"),
        (ItemKind.DISCUSSION, Q, "Nous présentons un bilan par enjeu prioritaire"),
        (ItemKind.SHARED_EXPERIENCE, Q, "Une offre de 3 à 25 ans"),
        (ItemKind.ACTION, M, "Envoyer le bilan"),
        (ItemKind.RESOURCE, A, "Évaluation des cités éducatives"),
        (ItemKind.INFO, M, "Point notable avant le redémarrage"),
        (ItemKind.DISCUSSION, A, "Message pendant l'arrêt"),
        (ItemKind.QUESTION, A, "Comment mobiliser les parents ?"),
        (ItemKind.DISCUSSION, Q, "Message juste avant la panne"),
        (ItemKind.DISCUSSION, Q, "Message pendant la panne"),
        (ItemKind.DECISION, M, "On garde le rythme mensuel"),
    ]
    by_event = {i.event_id: i for i in stored}
    meteo_a, meteo_q, actu_a, actu_q = stored[:4]
    assert (meteo_a.mood, meteo_q.mood, meteo_q.parent_event_id) == (4, 3, prompt["event_id"])
    assert (actu_a.structure, actu_q.structure) == ("CE Beauvais", "CE Soissons")
    assert all(i.topic_id == topic.id for i in stored[2:]) and topic.title == "Actualités locales"
    assert by_event[thread].parent_event_id == news
    partage = stored[7]
    assert (partage.title, partage.url) == ("L'école des sports", "https://www.arras.fr/ecole-des-sports")
    action_item = by_event[action]
    assert (action_item.owner, action_item.due_date, action_item.action_number) == (A, due, 1)
    assert stored[9].url == "https://irev.fr/evaluation"
    assert history[typo] == "Nous présentons un bilan par enjeu prioritaire"
    assert history[action].endswith(f"pour {due:%d/%m/%Y}")
    assert seance.status == SeanceStatus.CLOSED
    assert (sorted(present), excused, facilitators) == (sorted([A, Q]), [], [M])


async def thread_latest(user: MatrixUser, room: str, root: str, count: int) -> str:
    """The latest event of ``root``'s thread, once Synapse's thread summary counts ``count``."""
    deadline = asyncio.get_running_loop().time() + 30
    while True:
        root_event = await user.request("GET", f"/rooms/{quote(room)}/event/{quote(root)}")
        thread = root_event.get("unsigned", {}).get("m.relations", {}).get("m.thread", {})
        if thread.get("count") == count:
            return thread["latest_event"]["event_id"]
        assert asyncio.get_running_loop().time() < deadline, f"thread summary: {thread}"
        await asyncio.sleep(0.3)


async def test_a_command_typed_in_a_thread_is_answered_in_that_thread(synapse, tmp_path):
    """Element's thread composer (is_falling_back: true); the bot's reply is a real reply
    inside the thread, and Synapse counts it in the thread. Also in the thread: an action
    whose owner is an Element pill, then edited by Element (pill only in m.new_content)."""
    bot, room, (maita, anabela) = await start_world(
        synapse, tmp_path / "bot", ("maita-fil", "Maïta Giraldi"), [("anabela-fil", "Anabela De Castro")])
    try:
        root = await maita.say(room, "Le COPIL de juin : qui prépare le bilan ?")
        command = await anabela.say(room, "!profil", thread=(root, root))
        [answer] = await anabela.wait_for(room, lambda ev: replies_to(ev, BOT, command),
                                          what="the bot's answer to !profil in the thread")
        assert answer["content"]["m.relates_to"] == {
            "rel_type": "m.thread", "event_id": root, "is_falling_back": False,
            "m.in_reply_to": {"event_id": command}}
        assert await thread_latest(anabela, room, root, count=2) == answer["event_id"]
        plain = await anabela.say(room, "!profil")             # outside a thread: as before
        [reply] = await anabela.wait_for(room, lambda ev: replies_to(ev, BOT, plain),
                                         what="the bot's answer to !profil")
        assert reply["content"]["m.relates_to"] == {"m.in_reply_to": {"event_id": plain}}

        assert "compte rendu n°1" in await ask(maita, room, "!seance ouvrir")
        pill = Pill(maita.user_id, "Maïta Giraldi")
        action = await anabela.say(room, "!action ", pill, " envoie le bilan",
                                   thread=(root, answer["event_id"]))
        await anabela.wait_for(room, lambda ev: reactions_from_bot(ev, action), what="✅ on the action")
        await anabela.edit(room, action, "!action ", pill, " envoie le bilan et la synthèse")
        await ask(maita, room, "!seance clore")
        assert bot.stop() == 0
    finally:
        if bot.alive():
            bot.stop()
    db = Database(f"sqlite:///{tmp_path / 'bot' / 'maillage.db'}")
    try:
        with db.session() as session:
            item = session.exec(select(Item).where(Item.event_id == action)).one()
            assert (item.kind, item.owner, item.text) == (ItemKind.ACTION, maita.user_id,
                                                          "envoie le bilan et la synthèse")
    finally:
        db.dispose()
