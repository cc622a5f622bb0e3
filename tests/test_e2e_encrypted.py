"""End-to-end: Maillage in an encrypted room, with people on a client that enforces MSC4153.

The people are matrix-js-sdk 37.5 with its Rust crypto in Element's device-isolation mode
(``OnlySignedDevicesIsolationMode``), their own cross-signing bootstrapped, as Element
users are (tests/e2ee_client.py). Nobody verifies the bot by hand: its messages are
readable only because its device is signed by its own identity. The room is created as
Element creates a private room (encrypted). Covered: welcome, commands and replies,
announcement with its ``.ics`` as an encrypted attachment, registration by ✅ reaction
(sent in the clear, as Element does), a séance with an edit, a reply, a thread message
and a redaction, published minutes downloaded and decrypted; a DM invite; kill -9
during a burst; a message whose key arrives late (captured) and one whose key never
arrives (counted in the séance summary and the minutes).
"""

from __future__ import annotations

import io
from datetime import date, timedelta

import docx
import pytest

from bot.matrix.devclient import MatrixUser, replies_to
from tests.botproc import BotProcess, ensure_bot_account, write_config
from tests.e2ee_client import JsUser
from tests.latekey import LateKeySender

pytestmark = pytest.mark.e2e
BOT_LOCALPART = "maillage-chiffre"
BOT = f"@{BOT_LOCALPART}:localhost"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def readable(events: list[dict]) -> list[dict]:
    return [e for e in events if not e["decryption_failure"] and e["type"] != "m.room.encrypted"]


def from_bot(events: list[dict], msgtype: str = "m.notice") -> list[dict]:
    return [e for e in readable(events) if e["sender"] == BOT and e["type"] == "m.room.message"
            and e["content"].get("msgtype") == msgtype]


def after(events: list[dict], event_id: str) -> list[dict]:
    ids = [e["event_id"] for e in events]
    return events[ids.index(event_id) + 1:] if event_id in ids else []


async def ask(user: JsUser, room: str, text: str) -> dict:
    """Send a command; return the bot's single (decrypted, encrypted-on-the-wire) reply."""
    event_id = await user.say(room, text)
    replies = await user.wait_for(room, lambda ev: replies_to(readable(ev), BOT, event_id),
                                  what=f"reply to {text.splitlines()[0]!r}")
    assert len(replies) == 1
    assert replies[0]["encrypted"] is True
    return replies[0]


async def acked(user: JsUser, room: str, event_id: str) -> None:
    """The bot's ✅ on a message: it was captured."""
    await user.wait_for(room, lambda ev: [
        e for e in ev if e["type"] == "m.reaction" and e["sender"] == BOT
        and e["content"]["m.relates_to"]["event_id"] == event_id], what=f"✅ on {event_id}")


@pytest.fixture
async def world(synapse, tmp_path, request):
    """The bot; facilitator Maïta's new encrypted room (Element's defaults) with Anabela."""
    suffix = request.node.name.replace("_", "")[-8:].lower()
    await ensure_bot_account(synapse, BOT_LOCALPART)
    bot = BotProcess(write_config(tmp_path / "bot", synapse.base_url, bot_localpart=BOT_LOCALPART,
                                  extra=""))
    bot.start()
    bot.wait_log("logged in as")
    maita = await JsUser.create(synapse, f"maita-enc{suffix}", "Maïta Giraldi", log_dir=tmp_path)
    anabela = await JsUser.create(synapse, f"anabela-enc{suffix}", "Anabela De Castro",
                                  log_dir=tmp_path)
    room = await maita.create_room(invite=[BOT, anabela.user_id], encrypted=True)
    await anabela.join(room)
    await maita.wait_membership(room, BOT)
    await anabela.wait_membership(room, BOT)
    await maita.wait_for(room, lambda ev: from_bot(ev), what="the bot's welcome, decrypted")
    yield bot, room, maita, anabela
    for user in (maita, anabela):
        await user.close()
    if bot.alive():
        bot.stop()


async def test_a_whole_cycle_in_an_encrypted_room(world):
    bot, room, maita, anabela = world
    welcome = from_bot(await maita.events(room))[0]
    assert welcome["encrypted"] and "Maillage" in welcome["content"]["body"]
    device = bot.log().split("(device ")[-1].split(")")[0]
    trust = await maita.device_trust(BOT, device)
    assert trust["signedByOwner"] and not trust["localVerified"]  # nobody verified it by hand

    assert "!profil" in (await ask(anabela, room, "!aide"))["content"]["body"]
    await ask(anabela, room, "!profil Cheffe de projet cité éducative ; CE Beauvais")

    day = date.today() + timedelta(days=20)
    plan = await maita.say(room, f"!rencontre planifier {day.isoformat()} 14:00-17:00\n"
                                 "titre: Réseau régional des CPO")
    ics_event = (await maita.wait_for(room, lambda ev: from_bot(after(ev, plan), "m.file"),
                                      what="the .ics in the room"))[0]
    assert "url" not in ics_event["content"] and "file" in ics_event["content"]
    ics = (await maita.download(ics_event["content"])).decode("utf-8")
    assert "BEGIN:VCALENDAR" in ics and "Réseau régional des CPO" in ics
    announcement = next(e for e in from_bot(after(await maita.events(room), plan))
                        if "Réseau régional des CPO" in e["content"]["body"]
                        and "m.relates_to" not in e["content"])
    await anabela.react(room, announcement["event_id"], "\U0001F44D\uFE0F")  # 👍️ as Element sends it
    # Handled in timeline order: the reaction (in the clear) comes before this command.
    assert "Anabela De Castro" in (await ask(maita, room, "!inscrits"))["content"]["body"]

    await ask(maita, room, "!seance ouvrir")
    news = await anabela.say(room, "!actu Lancement du comité de copilotage en juin.")
    await acked(anabela, room, news)
    typo = await anabela.say(room, "Les fêtes d'écoles aident a mobilisé les parents.")
    await anabela.reply(room, news, "Nous faisons le bilan avec des indicateurs agrégés.",
                        mention=anabela.user_id)
    await maita.say(room, "Dans le fil : la kermesse a réuni 200 familles.", thread_id=news)
    gone = await maita.say(room, "Ce message sera retiré.")
    await anabela.edit(room, typo, "Les fêtes d'écoles aident à mobiliser les parents.")
    await maita.redact(room, gone)
    meteo = await anabela.say(room, "!meteo 4 Belle dynamique")
    await acked(anabela, room, meteo)
    close = await ask(maita, room, "!seance clore")
    assert "Séance close" in close["content"]["body"]
    assert "déchiffré" not in close["content"]["body"]  # every message was readable

    publish = await maita.say(room, "!cr publier")
    files = await maita.wait_for(room, lambda ev: (lambda f: f if len(f) >= 3 else None)(
        from_bot(after(ev, publish), "m.file")), what="the minutes files", timeout=60)
    by_type = {f["content"]["info"]["mimetype"]: f["content"] for f in files}
    assert all("file" in c and "url" not in c for c in by_type.values())
    markdown = (await anabela.download(by_type["text/markdown"])).decode("utf-8")
    assert "Lancement du comité de copilotage" in markdown
    assert "à mobiliser les parents" in markdown and "a mobilisé" not in markdown
    assert "indicateurs agrégés" in markdown and "200 familles" in markdown
    assert "sera retiré" not in markdown
    assert "Belle dynamique" in markdown
    document = docx.Document(io.BytesIO(await anabela.download(by_type[DOCX])))
    assert any("à mobiliser les parents" in p.text for p in document.paragraphs)
    assert "Traceback" not in bot.log()


async def test_kill_during_a_burst_answers_each_command_once(world):
    bot, room, maita, anabela = world
    await ask(maita, room, "!seance ouvrir")
    commands = [await anabela.say(room, f"!aide profil {i}" if i % 2 else "!profil")
                for i in range(8)]
    for i in range(6):
        await maita.say(room, f"Message capturé numéro {i}")
    await maita.wait_for(room, lambda ev: replies_to(readable(ev), BOT, commands[0]),
                         what="a first reply")
    bot.kill()
    bot.start()
    for command in commands:
        await maita.wait_for(room, lambda ev, c=command: replies_to(readable(ev), BOT, c),
                             what=f"reply to {command}", timeout=60)
    # Plain messages are captured silently; the closing command comes after them in the
    # timeline, so it is handled after them.
    await ask(maita, room, "!seance clore")
    events = readable(await maita.events(room))
    assert all(len(replies_to(events, BOT, c)) == 1 for c in commands)
    preview = await ask(maita, room, "!cr")
    for i in range(6):
        assert f"Message capturé numéro {i}" in preview["content"]["body"]


async def test_late_key_is_captured_and_a_missing_one_is_counted(world, synapse, tmp_path):
    bot, room, maita, anabela = world
    quentin = await LateKeySender.create(synapse, "quentin-late", tmp_path / "quentin")
    await maita.invite(room, quentin.user_id)
    await quentin.join(room)
    await ask(maita, room, "!seance ouvrir")
    late = await quentin.send_without_key(room, "Message dont la clé arrive en retard.")
    never = await quentin.send_without_key(room, "Message dont la clé n'arrive jamais.")
    deleted = await quentin.send_without_key(room, "Message supprimé avant d'être lu.")
    after = await quentin.send_without_key(room, "Message dont la clé arrive après la clôture.")
    for event_id in (late, never, deleted, after):
        bot.wait_log(f"cannot decrypt {event_id}")
    await quentin.deliver_key(late)
    bot.wait_log(f"decrypted {late}")
    await quentin.redact(room, deleted)
    await quentin.deliver_key(deleted)
    close = await ask(maita, room, "!seance clore")
    assert "2 messages chiffrés n'ont pas pu être déchiffrés" in close["content"]["body"]
    await quentin.deliver_key(after)
    bot.wait_log(f"decrypted {after} in {room} too late")
    preview = (await ask(maita, room, "!cr"))["content"]["body"]
    assert "clé arrive en retard" in preview
    assert "n'arrive jamais" not in preview and "supprimé avant" not in preview
    assert "après la clôture" not in preview             # never filed in the wrong place…
    assert "2 messages chiffrés n'ont pas pu être déchiffrés" in preview   # …but counted
    assert f"decrypted {deleted}" not in bot.log()
    await quentin.close()


async def test_invites_by_direct_message_are_encrypted(world, synapse):
    bot, room, maita, anabela = world
    await ask(anabela, room, "!abonner")
    day = date.today() + timedelta(days=30)
    await maita.say(room, f"!rencontre planifier {day.isoformat()} 10:00-12:00\ntitre: Visio DM")
    raw = await direct_room_invite(synapse, anabela)
    await anabela.join(raw)
    files = await anabela.wait_for(raw, lambda ev: from_bot(ev, "m.file"), what="the .ics by DM",
                                   timeout=60)
    assert "file" in files[0]["content"]
    ics = (await anabela.download(files[0]["content"])).decode("utf-8")
    assert "METHOD:REQUEST" in ics and "Visio DM" in ics


async def test_a_direct_chat_opened_from_element_works(world):
    bot, room, maita, anabela = world
    direct = await anabela.create_room(invite=[BOT], encrypted=True, is_direct=True, name="",
                                       preset="trusted_private_chat")
    await anabela.wait_membership(direct, BOT)
    await anabela.wait_for(direct, lambda ev: from_bot(ev), what="the welcome in the direct chat")
    reply = await ask(anabela, direct, "!aide profil")
    assert "!profil" in reply["content"]["body"]


async def test_a_gap_after_downtime_is_back_filled_and_decrypted(synapse, tmp_path):
    await ensure_bot_account(synapse, BOT_LOCALPART)
    bot = BotProcess(write_config(tmp_path / "bot", synapse.base_url, bot_localpart=BOT_LOCALPART,
                                  timeline_limit=5))
    bot.start()
    bot.wait_log("logged in as")
    maita = await JsUser.create(synapse, "maita-encgap", "Maïta Giraldi", log_dir=tmp_path)
    try:
        room = await maita.create_room(invite=[BOT], encrypted=True)
        await maita.wait_membership(room, BOT)
        await ask(maita, room, "!seance ouvrir")
        assert bot.stop() == 0
        for i in range(25):   # five times the bot's timeline limit: a limited sync
            await maita.say(room, f"Pendant l'absence du bot, message {i:02d}.")
        bot.start()
        bot.wait_log("back-filled")
        await ask(maita, room, "!seance clore")
        preview = (await ask(maita, room, "!cr"))["content"]["body"]
        assert all(f"message {i:02d}." in preview for i in range(25))
        assert "déchiffré" not in preview
    finally:
        await maita.close()
        if bot.alive():
            bot.stop()


async def direct_room_invite(synapse, user: JsUser) -> str:
    """The room the bot invited ``user`` to, read from raw incremental syncs (an initial
    sync repeated with the same parameters is served from Synapse's cache)."""
    raw = MatrixUser(synapse.base_url, user.user_id, user.access_token)
    since = None
    for _ in range(60):
        params = {"timeout": "1000", **({"since": since} if since else {})}
        sync = await raw.request("GET", "/sync", params=params)
        invites = [room for room, info in sync.get("rooms", {}).get("invite", {}).items()
                   if any(e.get("sender") == BOT for e in info["invite_state"]["events"])]
        if invites:
            return invites[0]
        since = sync["next_batch"]
    raise AssertionError("the bot never invited the subscriber to a direct chat")
