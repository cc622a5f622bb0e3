"""End-to-end: the encrypted-room test client itself (tests/e2ee_client.py), no bot.

Two or more matrix-js-sdk users (Rust crypto, OnlySignedDevicesIsolationMode, their own
cross-signing bootstrapped) on a real Synapse prove that the client the bot's encrypted
tests rely on really encrypts, decrypts, handles attachments, and really refuses a
device that is not cross-signed (MSC4153).
"""

from __future__ import annotations

import uuid

import pytest

from bot.matrix.devclient import MatrixUser, download_media
from tests.e2ee_client import JsUser

pytestmark = pytest.mark.e2e


def unique(name: str) -> str:
    return f"{name}{uuid.uuid4().hex[:6]}"


@pytest.fixture
async def pair(synapse, tmp_path):
    """Two cross-signed JS users, ``a`` and ``b``, in a fresh encrypted room."""
    a = await JsUser.create(synapse, unique("maita"), "Maïta Giraldi", log_dir=tmp_path)
    b = await JsUser.create(synapse, unique("anabela"), "Anabela De Castro", log_dir=tmp_path)
    room = await a.create_room(invite=[b.user_id], encrypted=True)
    await b.join(room)
    await a.wait_membership(room, b.user_id)
    yield a, b, room
    await a.close()
    await b.close()


def by_id(event_id: str):
    """Predicate for wait_for: the event, once it is there and not failed."""
    def find(events):
        return [e for e in events if e["event_id"] == event_id and not e["decryption_failure"]
                and e["type"] != "m.room.encrypted"]
    return find


async def wire_event(synapse, user: JsUser, room: str, event_id: str) -> dict:
    """The event as the homeserver stores it, read with plain HTTP (no crypto)."""
    raw = MatrixUser(synapse.base_url, user.user_id, user.access_token)
    return next(e for e in await raw.messages(room) if e["event_id"] == event_id)


async def test_message_is_encrypted_on_the_wire_and_decrypted(synapse, pair):
    a, b, room = pair
    event_id = await a.say(room, "Bonjour, réunion chiffrée")

    [event] = await b.wait_for(room, by_id(event_id), what="A's message decrypted by B")
    assert event["type"] == "m.room.message" and event["encrypted"] is True
    assert event["content"] == {"msgtype": "m.text", "body": "Bonjour, réunion chiffrée",
                                "m.mentions": {}}
    stored = await wire_event(synapse, b, room, event_id)
    assert stored["type"] == "m.room.encrypted"
    assert stored["content"]["algorithm"] == "m.megolm.v1.aes-sha2"
    assert "Bonjour" not in str(stored["content"])

    # B trusts A's device only because A cross-signed it: nobody verified anything.
    assert await b.device_trust(a.user_id, a.device_id) == {
        "signedByOwner": True, "crossSigningVerified": False, "localVerified": False,
        "isVerified": False}


async def test_reaction_edit_reply_thread_redaction(synapse, pair):
    a, b, room = pair
    root = await a.say(room, "Point 1 : budget")
    reaction = await b.react(room, root, "👍")
    edit = await a.edit(room, root, "Point 1 : budget 2027")
    reply = await b.reply(room, root, "D'accord", mention=a.user_id)
    in_thread = await b.say(room, "Détail dans le fil", thread_id=root)
    redaction = await a.redact(room, edit)

    def all_there(events):
        ids = {e["event_id"] for e in events if not e["decryption_failure"]}
        return events if {root, reaction, reply, in_thread, redaction} <= ids else None
    events = {e["event_id"]: e for e in await a.wait_for(room, all_there, what="every kind")}

    # As Element does, the SDK sends reactions in the clear, the rest encrypted.
    assert events[reaction]["type"] == "m.reaction" and events[reaction]["encrypted"] is False
    assert events[reaction]["content"]["m.relates_to"] == {
        "rel_type": "m.annotation", "event_id": root, "key": "👍"}
    assert (await wire_event(synapse, a, room, reaction))["type"] == "m.reaction"
    for event_id in (root, reply, in_thread):
        assert events[event_id]["encrypted"] is True
        assert (await wire_event(synapse, a, room, event_id))["type"] == "m.room.encrypted"
    assert events[reply]["content"]["m.relates_to"] == {"m.in_reply_to": {"event_id": root}}
    assert events[reply]["content"]["m.mentions"] == {"user_ids": [a.user_id]}
    thread = events[in_thread]["content"]["m.relates_to"]
    assert thread["rel_type"] == "m.thread" and thread["event_id"] == root
    assert events[in_thread]["content"]["body"] == "Détail dans le fil"
    assert events[redaction]["type"] == "m.room.redaction"
    assert events[redaction]["redacts"] == edit
    # The edit was sent encrypted with its relation in the clear part, then redacted.
    assert events[edit]["redacted"] is True


async def test_encrypted_attachment_round_trip(synapse, pair):
    a, b, room = pair
    data = "BEGIN:VCALENDAR\r\nSUMMARY:Séance\r\nEND:VCALENDAR\r\n".encode() + bytes(range(256))
    event_id, sent = await a.upload_file(room, "seance.ics", "text/calendar", data)
    assert "url" not in sent and sent["file"]["v"] == "v2"

    [event] = await b.wait_for(room, by_id(event_id), what="the file event decrypted by B")
    content = event["content"]
    assert event["encrypted"] is True and content["msgtype"] == "m.file"
    assert content["body"] == "seance.ics" and content["info"]["mimetype"] == "text/calendar"
    assert await b.download(content) == data
    # The media repository only ever saw ciphertext.
    ciphertext = await download_media(synapse.base_url, b.access_token, content["file"]["url"])
    assert len(ciphertext) == len(data) and ciphertext != data

    tampered = {**content, "file": {**content["file"], "hashes": {"sha256": "A" * 43}}}
    with pytest.raises(AssertionError, match="sha256"):
        await b.download(tampered)
    with pytest.raises(AssertionError, match="neither file nor url"):
        await b.download({"msgtype": "m.text", "body": "pas un fichier"})


async def test_isolation_mode_refuses_a_device_that_is_not_cross_signed(synapse, pair, tmp_path):
    a, b, room = pair
    # C's only device never got cross-signed: a legacy client (an MSC4153 client would not
    # even send from it, hence isolation off on C). W, a control witness, decrypts every
    # device.
    c = await JsUser.create(synapse, unique("quentin"), "Quentin", log_dir=tmp_path,
                            cross_sign=False, isolation=False)
    witness = await JsUser.create(synapse, unique("temoin"), "Témoin", log_dir=tmp_path,
                                  isolation=False)
    try:
        for user in (c, witness):
            await a.invite(room, user.user_id)
            await user.join(room)
        for sender in (a, b, c, witness):
            for member in (c, witness):
                if member is not sender:
                    await sender.wait_membership(room, member.user_id)

        from_c = await c.say(room, "Message d'un appareil non signé")
        # The witness decrypts it: C did share its room key; only the isolation refuses it.
        await witness.wait_for(room, by_id(from_c), what="C's message at the witness")

        # B got the key as well but refuses the sender's device (not a missing key).
        def refused_as_unsigned(events):
            return [e for e in events if e["event_id"] == from_c
                    and e["decryption_failure"] == "UNSIGNED_SENDER_DEVICE"]
        [refused] = await b.wait_for(room, refused_as_unsigned, what="C's message refused by B")
        assert refused["content"] == {} and refused["type"] == "m.room.encrypted"
        assert (await b.device_trust(c.user_id, c.device_id))["signedByOwner"] is False

        # The refusal is about C's device only: A's next message is still read by B.
        after = await a.say(room, "Et celui-ci ?")
        await b.wait_for(room, by_id(after), what="A's message after C's")
    finally:
        await c.close()
        await witness.close()
