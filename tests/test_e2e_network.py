"""End-to-end, real bot (subprocess) on a real Synapse: a network across time zones.

- A date poll: the bot posts a native poll, members vote with the events Element sends
  (``org.matrix.msc3381.poll.response``, an ``m.reference`` to the poll), a vote is
  changed, the poll is closed (a poll end event) and the rencontre planned from it.
- An action reminder: due today, its time set a couple of minutes ahead; the bot is
  killed before it and restarted after: the owner gets the direct message once.
- A room set to ``Guyane``: its announcement, ``.ics`` and minutes show Guyane times.
- A poll in an encrypted room, voted from matrix-js-sdk (Element's client): counted.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from contextlib import closing
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.domain.dates import format_date_fr, format_day_fr
from tests.botproc import BotProcess
from tests.e2e_world import World, direct_room, open_world
from tests.icalcheck import check_rules, parse_both
from tests.matrix_user import MatrixUser, download_media

pytestmark = pytest.mark.e2e
PARIS = ZoneInfo("Europe/Paris")
CAYENNE = ZoneInfo("America/Cayenne")
POLL_START = "org.matrix.msc3381.poll.start"
POLL_RESPONSE = "org.matrix.msc3381.poll.response"
POLL_END = "org.matrix.msc3381.poll.end"
DAY1 = datetime.now(PARIS).date() + timedelta(days=200)
DAY2 = DAY1 + timedelta(days=1)


@pytest.fixture
async def world(synapse, tmp_path, request):
    """A bot of its own and a room with a facilitator and three members."""
    world = await open_world(synapse, tmp_path / "bot", request.node.name, "n", "[http]\nport = 0")
    yield world
    if world.bot.alive():
        world.bot.stop()


async def vote(user: MatrixUser, room: str, poll_id: str, answer: str) -> str:
    """What Element sends (matrix-js-sdk PollResponseEvent.from(answers, pollEventId))."""
    return await user.send(room, {"m.relates_to": {"rel_type": "m.reference", "event_id": poll_id},
                                  POLL_RESPONSE: {"answers": [answer]}}, POLL_RESPONSE)


async def test_poll_votes_close_and_plan(world):
    w = world
    reply = await w.ask(w.maita, f"!sondage Quelle date pour la rencontre ?\n"
                                 f"{format_date_fr(DAY1)} 14h-17h\n{format_date_fr(DAY2)} 9h30-12h")
    assert "1. " + f"{format_day_fr(DAY1)}, 14h–17h — 0 voix" in reply
    poll = await w.bot_event(POLL_START)
    block = poll["content"][POLL_START]
    assert block["kind"] == "org.matrix.msc3381.poll.disclosed" and block["max_selections"] == 1
    assert [a["org.matrix.msc1767.text"] for a in block["answers"]] == [
        f"{format_day_fr(DAY1)}, 14h–17h", f"{format_day_fr(DAY2)}, 9h30–12h"]
    first, second = (a["id"] for a in block["answers"])

    await vote(w.anabela, w.room, poll["event_id"], second)
    await vote(w.quentin, w.room, poll["event_id"], first)
    await vote(w.sophie, w.room, poll["event_id"], first)
    await vote(w.sophie, w.room, poll["event_id"], second)     # changed her mind
    await asyncio.sleep(3)                                      # votes get no reply: let them sync
    count = await w.ask(w.anabela, "!sondage")
    assert f"2. {format_day_fr(DAY2)}, 9h30–12h — 2 voix ⭐" in count and "3 personnes ont voté" in count

    closing = await w.ask(w.maita, "!sondage clore")
    assert f"Date retenue : {format_day_fr(DAY2)}, 9h30–12h (2 voix)" in closing
    end = await w.bot_event(POLL_END)
    assert end["content"]["m.relates_to"] == {"rel_type": "m.reference", "event_id": poll["event_id"]}
    await vote(w.quentin, w.room, poll["event_id"], first)      # too late: ignored
    await asyncio.sleep(2)

    planned = await w.ask(w.maita, "!rencontre planifier sondage Rencontre de printemps")
    assert "Rencontre #1 planifiée" in planned
    announcement = await w.notice("Nouvelle rencontre #1 : Rencontre de printemps")
    assert f"{format_day_fr(DAY2)}, 9h30–12h" in announcement["content"]["body"]




def bot_messages(events: list[dict], bot_id: str) -> list[dict]:
    return [e for e in events if e["sender"] == bot_id
            and e["type"] in ("m.room.encrypted", "m.room.message")]


def reminder_rows(w: World) -> list[dict]:
    """The bot's outbox rows of action reminders (its SQLite file, read-only)."""
    path = w.bot.config.parent / "maillage.db"
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        rows = db.execute("SELECT content, sent_event_id, dm_user FROM outbox "
                          "WHERE source_event_id LIKE 'action-reminder:%'").fetchall()
    return [{"body": json.loads(content)["body"], "sent_event_id": sent, "dm_user": user}
            for content, sent, user in rows]


@pytest.mark.timeout(600)   # may first wait out the last minutes of the day
async def test_action_reminder_dm_once_across_a_restart(world):
    w = world
    now = datetime.now(PARIS)
    at = (now + timedelta(minutes=2)).replace(second=0, microsecond=0) + timedelta(minutes=1)
    if at.date() != now.date():
        # Too close to midnight for a reminder due today: wait for the new day (≤ 4 min)
        # rather than skip, so the test always runs.
        tomorrow = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), PARIS)
        await asyncio.sleep((tomorrow - now).total_seconds() + 1)
        now = datetime.now(PARIS)
        at = (now + timedelta(minutes=2)).replace(second=0, microsecond=0) + timedelta(minutes=1)
    settings = await w.ask(w.maita, f"!salon actions aucun à {at:%H}h{at:%M}")
    assert f"le jour même seulement, à {at.hour}h{at:%M}".removesuffix("00") in settings
    await w.ask(w.maita, "!seance ouvrir Point d'étape")
    noted = await w.maita.say(w.room, "!action Envoyer le bilan @Anabela De Castro pour aujourd'hui")
    await w.maita.wait_for(w.room, lambda evs: [
        e for e in evs if e["sender"] == w.bot_id and e["type"] == "m.reaction"
        and e["content"]["m.relates_to"]["event_id"] == noted], what="✅ on the action")
    await w.ask(w.maita, "!seance clore")
    w.bot.kill()
    assert datetime.now(PARIS) < at - timedelta(seconds=5), "too slow: the reminder came due"

    await asyncio.sleep((at - datetime.now(PARIS)).total_seconds() + 2)
    w.bot.start()
    dm = await direct_room(w.anabela, timeout=90)
    # The DM room is end-to-end encrypted (bot.matrix.client.create_direct_room): the owner's
    # plain client sees one encrypted event; what it says is read from the bot's outbox.
    [sent] = await w.anabela.wait_for(dm, lambda evs: bot_messages(evs, w.bot_id), timeout=60,
                                      what="action reminder DM")
    [row] = reminder_rows(w)
    assert row["sent_event_id"] == sent["event_id"]
    assert "Action à suivre n°1 — échéance aujourd'hui" in row["body"]
    assert "« Envoyer le bilan »" in row["body"]
    await asyncio.sleep(6)      # sync batches, each followed by a rebuild of the reminders
    w.bot.stop()
    w.bot.start()
    w.bot.wait_log("logged in as")
    await asyncio.sleep(6)
    assert len(bot_messages(await w.anabela.messages(dm), w.bot_id)) == 1
    assert len(reminder_rows(w)) == 1
    assert "action-reminder:" in w.bot.log() and " sent" in w.bot.log()


async def test_a_room_in_guyane(world):
    w = world
    reply = await w.ask(w.maita, "!salon fuseau Guyane")
    assert "America/Cayenne (heure de Guyane)" in reply
    await w.ask(w.maita, "!salon reseau Cités éducatives de Guyane")
    await w.ask(w.maita, f"!rencontre planifier {format_date_fr(DAY1)} 14h-17h\ntitre: Réseau guyanais")
    announcement = await w.notice("Nouvelle rencontre #1 : Réseau guyanais")
    assert f"{format_day_fr(DAY1)}, 14h–17h (heure de Guyane)" in announcement["content"]["body"]
    ics_event = await w.maita.wait_for(
        w.room, lambda evs: [e for e in evs if e["sender"] == w.bot_id
                             and e["content"].get("msgtype") == "m.file"], what=".ics file")
    data = await download_media(w.maita.base_url, w.maita.token, ics_event[0]["content"]["url"])
    assert f"DTSTART;TZID=America/Cayenne:{DAY1:%Y%m%d}T140000" in data.decode()
    check_rules(data, "PUBLISH")
    [event] = parse_both(data)
    assert event["startZone"] == "America/Cayenne"
    start = datetime(DAY1.year, DAY1.month, DAY1.day, 14, tzinfo=CAYENNE)
    assert datetime.fromisoformat(event["start"]) == start

    # The minutes: a séance held now, its header in Guyane time under the room's network.
    await w.ask(w.maita, "!seance ouvrir Point d'étape")
    await w.anabela.say(w.room, "!info Le réseau démarre")
    opened = datetime.now(CAYENNE)
    await w.ask(w.maita, "!seance clore")
    minutes = await w.ask(w.maita, "!cr")
    assert "Cités éducatives de Guyane" in minutes
    assert f"{format_day_fr(opened.date())}, {opened.hour}h" in minutes
    assert "(heure de Guyane)" in minutes


async def test_a_poll_in_an_encrypted_room(synapse, tmp_path):
    """Element's own client (matrix-js-sdk with its Rust crypto, tests/e2ee_client.py): the
    bot's poll arrives encrypted and readable as a poll; an encrypted vote is counted."""
    from tests.botproc import ensure_bot_account, write_config
    from tests.e2ee_client import JsUser
    localpart = "maillage-chiffre-sondage"
    bot_id = f"@{localpart}:localhost"
    await ensure_bot_account(synapse, localpart)
    bot = BotProcess(write_config(tmp_path / "bot", synapse.base_url, bot_localpart=localpart))
    bot.start()
    bot.wait_log("logged in as")
    maita = await JsUser.create(synapse, "maita-encpoll", "Maïta Giraldi", log_dir=tmp_path)
    anabela = await JsUser.create(synapse, "anabela-encpoll", "Anabela De Castro", log_dir=tmp_path)
    try:
        room = await maita.create_room(invite=[bot_id, anabela.user_id], encrypted=True)
        await anabela.join(room)
        await maita.wait_membership(room, bot_id)
        await anabela.wait_membership(room, bot_id)
        await maita.say(room, f"!sondage Quelle date ?\n{format_date_fr(DAY1)} 14h-17h\n"
                              f"{format_date_fr(DAY2)} 14h-17h")
        [poll] = await anabela.wait_for(room, lambda evs: [
            e for e in evs if e["sender"] == bot_id and e["type"] == POLL_START], what="the poll")
        assert poll["encrypted"] is True
        second = poll["content"][POLL_START]["answers"][1]["id"]
        await anabela.send(room, POLL_RESPONSE, {
            "m.relates_to": {"rel_type": "m.reference", "event_id": poll["event_id"]},
            POLL_RESPONSE: {"answers": [second]}})
        asked = await maita.say(room, "!sondage")
        [reply] = await maita.wait_for(room, lambda evs: [
            e for e in evs if e["sender"] == bot_id and e["type"] == "m.room.message"
            and e["content"].get("m.relates_to", {}).get("m.in_reply_to", {}).get("event_id") == asked],
            what="the count")
        assert f"2. {format_day_fr(DAY2)}, 14h–17h — 1 voix ⭐" in reply["content"]["body"]
    finally:
        for user in (maita, anabela):
            await user.close()
        if bot.alive():
            bot.stop()
