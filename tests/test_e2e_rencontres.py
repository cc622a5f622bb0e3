"""End-to-end: rencontres with the real bot (subprocess) on a real Synapse.

A facilitator plans a rencontre with agenda lines, a member's attempt is refused,
``!rencontres`` lists it; members register by command and by ✅ on the announcement,
excuse themselves with a reason, withdraw by redacting their reaction; ``!inscrits``
shows names with profiles. Reminders: with a one-minute offset, the bot is killed
(-9) before the reminder is due and restarted after: the reminder is in the room
exactly once, before the rencontre starts.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.domain.dates import format_date_fr, format_day_fr
from tests.e2e_world import open_world
from tests.matrix_user import replies_to

pytestmark = pytest.mark.e2e
PARIS = ZoneInfo("Europe/Paris")
# One-minute reminders; any free port for the HTTP feed (tests may run side by side).
EXTRA_CONFIG = '[reminders]\noffsets = ["1m"]\n\n[http]\nport = 0'
# Against the real clock: a day some months ahead of today, never a fixed date that expires.
DAY = datetime.now(PARIS).date() + timedelta(days=200)
WHEN_TEXT = f"{format_day_fr(DAY)}, 14h–17h"        # "mercredi 9 juin 2027, 14h–17h"
PLAN = (f"!rencontre planifier {format_date_fr(DAY)} 14h-17h\n"
        "titre: Réseau CPO\n"
        "mode: visio\n"
        "lien: https://visio.example.net/reseau-cpo\n"
        "odj: Tour d'écran des participant·e·s\n"
        "odj: Présentation par la cité éducative d'Arras")


def body_of(event: dict) -> str:
    return event["content"]["body"]


@pytest.fixture
async def world(synapse, tmp_path, request):
    """A bot (one-minute reminders) and, in a new room, facilitator maita and three members."""
    world = await open_world(synapse, tmp_path / "bot", request.node.name, "r", EXTRA_CONFIG)
    yield world
    if world.bot.alive():
        world.bot.stop()


async def test_plan_list_register_react_excuse_withdraw(world):
    w = world
    await w.ask(w.anabela, "!profil Cheffe de projet cité éducative ; CE Beauvais")
    await w.ask(w.anabela, "!profil nom Mme De Castro Anabela")

    assert "Rencontre #1 planifiée" in await w.ask(w.maita, PLAN)
    announcement = await w.notice("Nouvelle rencontre #1 : Réseau CPO")
    assert WHEN_TEXT in body_of(announcement)
    html = announcement["content"]["formatted_body"]
    assert "<ol>" in html and html.index("Tour d'écran") < html.index("cité éducative d'Arras")
    assert "Réagissez ✅ à ce message" in body_of(announcement)

    refused = await w.ask(w.anabela, f"!rencontre planifier {format_date_fr(DAY + timedelta(days=1))} 14h\n"
                                     "titre: Pirate")
    assert "réservée à l'animation" in refused
    listing = await w.ask(w.anabela, "!rencontres")
    assert f"#1 — {WHEN_TEXT} — distanciel — Réseau CPO — aucun·e inscrit·e" in listing
    assert "Pirate" not in listing and "#2" not in listing

    assert "Vous êtes inscrit·e à la rencontre #1" in await w.ask(w.anabela, "!inscription 1")
    reaction = await w.quentin.react(w.room, announcement["event_id"], "✅")
    excuse = await w.sophie.say(w.room, "!excuse 1 réunion au rectorat")
    await w.sophie.wait_for(w.room, lambda ev: replies_to(ev, w.bot_id, excuse), what="excuse reply")

    attendees = await w.ask(w.maita, "!inscrits 1")
    assert "Inscrit·e·s (2)" in attendees
    assert "Mme De Castro Anabela (Cheffe de projet cité éducative ; CE Beauvais)" in attendees
    assert "Quentin Poilvé" in attendees
    assert "Excusé·e·s (1)" in attendees and "Sophie Jehl — réunion au rectorat" in attendees

    undo = await w.quentin.redact(w.room, reaction)
    attendees = await w.ask(w.maita, "!attendees")
    assert "Inscrit·e·s (1)" in attendees and "Quentin" not in attendees
    assert "Réseau CPO — 1 inscrit·e" in await w.ask(w.quentin, "!meetings")

    # Reactions and redactions are answered by nothing in the room.
    events = await w.maita.messages(w.room)
    ids = [e["event_id"] for e in events]
    assert w.notices(events[ids.index(reaction) + 1:ids.index(excuse)]) == []
    assert [e for e in w.notices(events)
            if e["content"].get("m.relates_to", {}).get("m.in_reply_to", {}).get("event_id")
            in (reaction, undo)] == []


async def test_reminder_missed_while_killed_is_sent_once(world):
    w = world
    now = datetime.now(PARIS)
    start = (now + timedelta(minutes=2)).replace(second=0, microsecond=0) + timedelta(minutes=1)
    end = start + timedelta(minutes=30)
    when = f"{start:%Y-%m-%d %H:%M}" + (f"-{end:%H:%M}" if end.date() == start.date() else "")
    due = start - timedelta(minutes=1)

    planned = await w.ask(w.maita, f"!rencontre planifier {when}\ntitre: Point rapide")
    assert "Rencontre #1 planifiée" in planned
    await w.ask(w.anabela, "!inscription")
    w.bot.kill()
    assert datetime.now(PARIS) < due - timedelta(seconds=5), "too slow: the reminder came due"
    assert w.notices(await w.maita.messages(w.room), "Rappel") == []

    await asyncio.sleep((due - datetime.now(PARIS)).total_seconds() + 2)
    w.bot.start()
    reminder = await w.notice("Rappel — rencontre #1 : Point rapide", timeout=50)
    assert "Anabela De Castro" in body_of(reminder) and "Inscrit·e·s (1)" in body_of(reminder)
    assert reminder["origin_server_ts"] / 1000 < start.timestamp()

    await asyncio.sleep(6)  # a few sync batches, each followed by a rebuild of the reminders
    assert len(w.notices(await w.maita.messages(w.room), "Rappel")) == 1
    assert "reminder:1:" in w.bot.log() and " sent" in w.bot.log()
