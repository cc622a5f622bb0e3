"""End-to-end: the real bot (subprocess) against a real Synapse.

Covers: invite → join, `!aide`, `!profil`, unknown command, a refused stranger
invite, restart without repeated replies, kill -9 in the
middle of a burst (every command answered exactly once), a limited sync
back-filled after downtime, v11/v12 facilitator rights, and `maillage check`.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.botproc import (
    BOT,
    BOT_PASSWORD,
    BotProcess,
    ask,
    ensure_bot_account,
    start_world,
    write_config,
)
from tests.matrix_user import MatrixUser, notices_from, replies_to

pytestmark = pytest.mark.e2e


@pytest.fixture
async def world(synapse, tmp_path, request):
    """A fresh bot process and a facilitator ``maita`` with ``anabela`` in a new room."""
    suffix = request.node.name.replace("[", "_").replace("]", "")[-20:].lower()
    bot, room, (maita, anabela) = await start_world(
        synapse, tmp_path / "bot", (f"maita{suffix}", "Maïta Giraldi"),
        [(f"anabela{suffix}", "Anabela De Castro")])
    yield bot, room, maita, anabela
    if bot.alive():
        bot.stop()


def body_of(event: dict) -> str:
    return event["content"]["body"]


async def test_invite_join_help_profile_unknown(world):
    bot, room, maita, anabela = world
    events = await maita.messages(room)
    welcome = notices_from(events, BOT)
    assert len(welcome) == 1 and "!aide" in body_of(welcome[0])
    assert welcome[0]["content"]["format"] == "org.matrix.custom.html"

    help_text = await ask(anabela, room, "!aide")
    assert "!profil nom <Civilité Nom Prénom>" in help_text and "!aide [commande]" in help_text

    assert "Profil enregistré" in await ask(anabela, room, "!PROFIL Cheffe de projet cité éducative ; CE Beauvais")
    await ask(anabela, room, "!profile nom Mme De Castro Anabela")
    shown = await ask(anabela, room, "!profil")
    assert "Mme De Castro Anabela (Cheffe de projet cité éducative ; CE Beauvais)" in shown

    unknown = await ask(anabela, room, "!profill")
    assert "Commande inconnue" in unknown and "!aide" in unknown and "!profil" in unknown
    missing = await ask(anabela, room, "!profil seulement une fonction")
    assert "point-virgule" in missing and "Usage" in missing
    assert "Mme De Castro Anabela (Cheffe de projet cité éducative ; CE Beauvais)" in await ask(
        anabela, room, "!profil")

    # A plain message (not a command) gets no answer.
    chat = await anabela.say(room, "bonjour à toutes et tous")
    await ask(anabela, room, "!aide profil")
    assert replies_to(await maita.messages(room), BOT, chat) == []


async def test_stranger_invite_is_refused(world, synapse):
    bot, _room, _maita, _anabela = world
    stranger = await MatrixUser.create(synapse, "intrus-e2e", "Intrus")
    room = await stranger.create_room(invite=[BOT])
    await stranger.wait_for(room, lambda ev: any(
        e["type"] == "m.room.member" and e["state_key"] == BOT and e["content"]["membership"] == "leave"
        for e in ev), what="bot rejects the invite")
    assert await stranger.membership(room, BOT) == "leave"
    assert "refusing invite" in bot.log()


async def test_restart_does_not_repeat_replies(world):
    bot, room, maita, anabela = world
    first = await anabela.say(room, "!aide")
    await maita.wait_for(room, lambda ev: replies_to(ev, BOT, first), what="first reply")
    assert bot.stop() == 0
    bot.start()
    second = await anabela.say(room, "!profil")
    await maita.wait_for(room, lambda ev: replies_to(ev, BOT, second), what="reply after restart")
    events = await maita.messages(room)
    assert len(replies_to(events, BOT, first)) == 1
    assert len(replies_to(events, BOT, second)) == 1
    assert len([n for n in notices_from(events, BOT) if "Bonjour" in body_of(n)]) == 1
    devices = re.findall(r"logged in as \S+ \(device (\w+)\)", bot.log())
    assert len(devices) == 2 and devices[0] == devices[1]  # no new device per restart


async def test_history_before_the_bot_joined_is_ignored(world):
    bot, _room, maita, anabela = world
    room = await maita.create_room(version="11", invite=[anabela.user_id])
    await anabela.join(room)
    old = await anabela.say(room, "!aide")
    await maita.invite(room, BOT)
    await maita.wait_for(room, lambda ev: notices_from(ev, BOT), what="welcome")
    new = await anabela.say(room, "!profil")
    await maita.wait_for(room, lambda ev: replies_to(ev, BOT, new), what="reply to the new command")
    assert replies_to(await maita.messages(room), BOT, old) == []


async def test_kill_9_mid_burst_loses_and_repeats_nothing(world):
    bot, room, maita, anabela = world
    commands = [await anabela.say(room, "!aide profil") for _ in range(3)]
    await maita.wait_for(room, lambda ev: len(notices_from(ev, BOT)) >= 2, what="first replies")
    commands += [await anabela.say(room, "!aide") for _ in range(12)]
    bot.kill()
    commands += [await anabela.say(room, "!profil") for _ in range(3)]
    bot.start()

    def all_answered(events):
        return all(replies_to(events, BOT, c) for c in commands)

    await maita.wait_for(room, all_answered, timeout=90, what="every command answered")
    events = await maita.messages(room)
    assert [len(replies_to(events, BOT, c)) for c in commands] == [1] * len(commands)


async def test_limited_sync_is_back_filled(synapse, tmp_path):
    """Downtime longer than the sync timeline: the gap is fetched, nothing is skipped."""
    await ensure_bot_account(synapse)
    maita = await MatrixUser.create(synapse, "maita-gap", "Maïta")
    bot = BotProcess(write_config(tmp_path / "bot", synapse.base_url, timeline_limit=3))
    bot.start()
    room = await maita.create_room(version="11", invite=[BOT])
    await maita.wait_for(room, lambda ev: notices_from(ev, BOT), what="welcome")
    bot.stop()
    commands = [await maita.say(room, "!aide profil") for _ in range(8)]
    bot.start()
    try:
        await maita.wait_for(room, lambda ev: all(replies_to(ev, BOT, c) for c in commands),
                             what="all commands sent during downtime answered")
        events = await maita.messages(room)
        assert [len(replies_to(events, BOT, c)) for c in commands] == [1] * 8
        assert "back-filled" in bot.log()
    finally:
        bot.stop()


@pytest.mark.parametrize("version", ["11", "12"])
async def test_room_creator_is_facilitator(world, synapse, version):
    bot, _room, maita, anabela = world
    room = await maita.create_room(version=version, invite=[BOT, anabela.user_id])
    await anabela.join(room)
    await maita.wait_for(room, lambda ev: notices_from(ev, BOT), what="welcome")
    if version == "12":
        create = next(e for e in await maita.messages(room) if e["type"] == "m.room.create")
        assert "creator" not in create["content"]  # v12: power comes from being the creator
    assert "animation" in await ask(maita, room, "!profil")
    assert "animation" not in await ask(anabela, room, "!profil")


def test_check_command(synapse, tmp_path):
    import asyncio

    asyncio.run(ensure_bot_account(synapse, "maillage-check"))   # an account never run yet
    config = write_config(tmp_path / "ok", synapse.base_url, bot_localpart="maillage-check")
    ok = subprocess.run([sys.executable, "-m", "bot.ops.cli", "check", "-c", str(config)],
                        capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    assert "login: OK" in ok.stdout and BOT_PASSWORD not in ok.stdout + ok.stderr
    assert "cross-signing: not set up yet" in ok.stdout

    bad = write_config(tmp_path / "bad", synapse.base_url)
    bad.write_text(bad.read_text().replace(BOT_PASSWORD, "wrong-password"))
    refused = subprocess.run([sys.executable, "-m", "bot.ops.cli", "check", "-c", str(bad)],
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 4 and "login" in refused.stderr
    assert "wrong-password" not in refused.stderr + refused.stdout
