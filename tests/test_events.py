"""Parsing raw Matrix events into records: edits, replies, threads, reactions, redactions."""

from __future__ import annotations

from datetime import datetime, timezone

from bot.engine.events import Edit, Message, Reaction, Redaction, parse_event, pills
from bot.engine.roomstate import RoomState
from bot.matrix.devclient import Pill, edit_content, message_content

ROOM = "!r:localhost"


def event(type_, content, event_id="$e", sender="@a:localhost", **extra):
    return {"type": type_, "content": content, "event_id": event_id, "sender": sender,
            "origin_server_ts": 1_700_000_000_000, **extra}


def test_plain_message():
    record = parse_event(event("m.room.message", {"msgtype": "m.text", "body": " !aide "}), ROOM)
    assert record == Message("$e", ROOM, "@a:localhost", "!aide",
                             datetime.fromtimestamp(1_700_000_000, timezone.utc))


def test_reply_fallback_is_stripped_and_parent_kept():
    content = {"msgtype": "m.text", "body": "> <@b:localhost> texte cité\n> suite\n\nma réponse",
               "format": "org.matrix.custom.html",
               "formatted_body": "<mx-reply><blockquote>texte cité</blockquote></mx-reply>ma réponse",
               "m.relates_to": {"m.in_reply_to": {"event_id": "$parent"}}}
    record = parse_event(event("m.room.message", content), ROOM)
    assert (record.body, record.reply_to, record.thread_root) == ("ma réponse", "$parent", None)


def test_a_quote_that_is_not_a_reply_is_kept():
    record = parse_event(event("m.room.message", {"msgtype": "m.text", "body": "> citation"}), ROOM)
    assert record.body == "> citation"


def test_thread_message_is_not_a_reply():
    content = {"msgtype": "m.text", "body": "dans le fil",
               "m.relates_to": {"rel_type": "m.thread", "event_id": "$root", "is_falling_back": True,
                                "m.in_reply_to": {"event_id": "$last"}}}
    record = parse_event(event("m.room.message", content), ROOM)
    assert (record.thread_root, record.reply_to, record.body) == ("$root", None, "dans le fil")


def test_edit_uses_new_content():
    content = {"msgtype": "m.text", "body": "* corrigé",
               "m.new_content": {"msgtype": "m.text", "body": "corrigé"},
               "m.relates_to": {"rel_type": "m.replace", "event_id": "$orig"}}
    record = parse_event(event("m.room.message", content, "$edit"), ROOM)
    assert isinstance(record, Edit) and (record.target_event_id, record.body) == ("$orig", "corrigé")


def test_edit_without_new_content_is_ignored():
    content = {"msgtype": "m.text", "body": "* x", "m.relates_to": {"rel_type": "m.replace", "event_id": "$o"}}
    assert parse_event(event("m.room.message", content), ROOM) is None


def test_reaction():
    content = {"m.relates_to": {"rel_type": "m.annotation", "event_id": "$ann", "key": "✅"}}
    record = parse_event(event("m.reaction", content, "$r"), ROOM)
    assert isinstance(record, Reaction) and (record.target_event_id, record.key) == ("$ann", "✅")


def test_redaction_in_content_v11_and_top_level_older():
    v11 = parse_event(event("m.room.redaction", {"redacts": "$x"}, "$red1"), ROOM)
    older = parse_event(event("m.room.redaction", {}, "$red2", redacts="$y"), ROOM)
    assert isinstance(v11, Redaction) and v11.redacts == "$x"
    assert older.redacts == "$y"


def test_ignored_events():
    assert parse_event(event("m.room.message", {"msgtype": "m.image", "body": "x.png"}), ROOM) is None
    assert parse_event(event("m.room.member", {"membership": "join"}, state_key="@a:localhost"), ROOM) is None
    redacted = event("m.room.message", {}, unsigned={"redacted_because": {}})
    assert parse_event(redacted, ROOM) is None


def test_room_state_power_and_names():
    state = RoomState(ROOM)
    state.apply(event("m.room.create", {"room_version": "12", "additional_creators": ["@b:localhost"]},
                      state_key=""))
    state.apply(event("m.room.power_levels", {"users": {"@c:localhost": 50}, "users_default": 0},
                      state_key=""))
    state.apply(event("m.room.member", {"membership": "join", "displayname": "Chloé"},
                      state_key="@c:localhost"))
    assert state.power_level("@a:localhost") == state.power_level("@b:localhost") == float("inf")
    assert state.power_level("@c:localhost") == 50 and state.power_level("@d:localhost") == 0
    assert state.find_member("chloé") == "@c:localhost" and state.display_name("@c:localhost") == "Chloé"
    state.apply(event("m.room.member", {"membership": "leave"}, state_key="@c:localhost"))
    assert state.find_member("Chloé") is None


# --- Element's real shapes (bot.matrix.devclient mirrors element-web's builders) ------------------

ANABELA = Pill("@anabela:localhost", "Anabela De Castro")


def test_an_element_edit_carries_the_full_mentions_and_html_of_its_new_content():
    original = message_content("@a:localhost", "!action ", ANABELA, " envoie la plaquette")
    content = edit_content("@a:localhost", "$orig", original, "!action ", ANABELA,
                           " envoie la plaquette pour lundi")
    assert content["m.mentions"] == {}           # Anabela is not *newly* mentioned
    record = parse_event(event("m.room.message", content, "$edit"), ROOM)
    assert isinstance(record, Edit)
    assert (record.body, record.mentions) == ("!action Anabela De Castro envoie la plaquette pour lundi",
                                              ("@anabela:localhost",))
    assert pills(record.formatted_body) == (("@anabela:localhost", "Anabela De Castro"),)


def test_a_fallback_less_reply_keeps_its_own_leading_quote():
    """Matrix v1.13: a reply has no fallback; its text may start with a quote of its own."""
    content = message_content("@a:localhost", "> Le COPIL est reporté\nQui a l'info ?",
                              reply_to=("$parent", "@b:localhost"))
    assert "m.in_reply_to" in content["m.relates_to"] and "<mx-reply>" not in content["formatted_body"]
    record = parse_event(event("m.room.message", content), ROOM)
    assert (record.body, record.reply_to) == ("> Le COPIL est reporté\nQui a l'info ?", "$parent")
    assert record.mentions == ("@b:localhost",)  # Element mentions the replied-to sender


def test_a_plain_fallback_without_html_is_still_stripped():
    content = {"msgtype": "m.text", "body": "> <@b:localhost> le message\n\n> ma citation\nma réponse",
               "m.relates_to": {"m.in_reply_to": {"event_id": "$parent"}}}
    assert parse_event(event("m.room.message", content), ROOM).body == "> ma citation\nma réponse"


def test_pills_of_the_html_without_the_reply_fallback():
    content = {"msgtype": "m.text", "body": "> <@b:localhost> x\n\nmerci Anabela De Castro & #salon",
               "format": "org.matrix.custom.html",
               "formatted_body": '<mx-reply><blockquote><a href="https://matrix.to/#/$p">In reply to</a> '
                                 '<a href="https://matrix.to/#/@b:localhost">@b:localhost</a><br>x'
                                 '</blockquote></mx-reply>merci <a href="https://matrix.to/#/%40anabela'
                                 '%3Alocalhost?via=localhost">Anabela De Castro</a> &amp; <a href='
                                 '"https://matrix.to/#/#salon:localhost">#salon</a>',
               "m.relates_to": {"m.in_reply_to": {"event_id": "$p"}}}
    record = parse_event(event("m.room.message", content), ROOM)
    assert record.body == "merci Anabela De Castro & #salon"
    assert pills(record.formatted_body) == (("@anabela:localhost", "Anabela De Castro"),)
