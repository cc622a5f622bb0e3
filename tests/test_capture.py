"""Capture through the core: free discussion, replies and threads, the météo prompt,
off-record messages, Matrix edits and redactions, reactions, attendance and the
météo synthesis. Events go through ``Core.handle`` as plain records, as in production."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import col, select

from bot.app.wiring import SENT_HOOKS, build_core
from bot.domain import capture_parse
from bot.domain.attendance import attendance
from bot.domain.capture_parse import parse_mood
from bot.domain.meteo import MeteoSummary, meteo_summary, trend
from bot.engine import outbox
from bot.engine.events import Edit, Message, Redaction, parse_event
from bot.matrix.devclient import Pill, edit_content, message_content
from bot.storage.models import Attendance, Item, ItemEdit, ItemKind, Outbox, Seance, Topic
from tests.conftest import FACILITATOR, MEMBER, NOW, ROOM
from tests.test_items import FRIDAY, QUENTIN

BOT = "@maillage:localhost"


class Room:
    """A séance driven through the core, one record at a time."""

    def __init__(self, config, db, room):
        self.db, self.room = db, room
        self.core = build_core(config, db, BOT, clock=lambda: self.now)
        self.now = NOW
        self.count = 0

    def tick(self) -> datetime:
        self.now += timedelta(seconds=10)
        return self.now

    def say(self, body: str, sender: str = MEMBER, event_id: str | None = None, **relation) -> str:
        self.count += 1
        event_id = event_id or f"$m{self.count}"
        self.core.handle(Message(event_id, ROOM, sender, body, self.tick(), **relation), self.room)
        return event_id

    def edit(self, target: str, body: str, sender: str = MEMBER, event_id: str | None = None,
             at: datetime | None = None) -> str:
        self.count += 1
        event_id = event_id or f"$edit{self.count}"
        self.core.handle(Edit(event_id, ROOM, sender, target, body, at or self.tick()), self.room)
        return event_id

    def receive(self, content: dict, sender: str = MEMBER) -> str:
        """A raw event (Element's content), parsed as in production."""
        self.count += 1
        event_id = f"$raw{self.count}"
        source = {"type": "m.room.message", "event_id": event_id, "sender": sender,
                  "content": content, "origin_server_ts": int(self.tick().timestamp() * 1000)}
        self.core.handle(parse_event(source, ROOM), self.room)
        return event_id

    def redact(self, target: str, sender: str = MEMBER) -> None:
        self.count += 1
        self.core.handle(Redaction(f"$red{self.count}", ROOM, sender, target, self.tick()), self.room)

    def open(self, args: str = "") -> str:
        """Open a séance; the météo prompt is then 'sent' (its event id is $prompt<n>)."""
        self.say(f"!seance ouvrir {args}".strip(), FACILITATOR)
        with self.db.session() as session:
            seance = session.exec(select(Seance).order_by(col(Seance.id).desc())).first()
            row = session.exec(select(Outbox).where(Outbox.tag == f"meteo:{seance.id}")).one()
        outbox.mark_sent(self.db, row.id, f"$prompt{seance.id}", SENT_HOOKS)
        return f"$prompt{seance.id}"

    def items(self) -> list[Item]:
        with self.db.session() as session:
            return list(session.exec(select(Item).order_by(col(Item.created_at), col(Item.id))))

    def rows(self) -> list[tuple[str, str, str]]:
        return [(i.kind, i.sender, i.text) for i in self.items()]

    def item(self, event_id: str) -> Item | None:
        return next((i for i in self.items() if i.event_id == event_id), None)

    def replies_to(self, event_id: str) -> list[str]:
        with self.db.session() as session:
            rows = session.exec(select(Outbox).where(Outbox.event_type == "m.room.message"))
            return [r.content["body"] for r in rows
                    if r.content.get("m.relates_to", {}).get("m.in_reply_to", {}).get("event_id") == event_id]

    def reactions_to(self, event_id: str) -> list[str]:
        with self.db.session() as session:
            rows = session.exec(select(Outbox).where(Outbox.event_type == "m.reaction"))
            return [r.content["m.relates_to"]["key"] for r in rows
                    if r.content["m.relates_to"]["event_id"] == event_id]

    def notices(self) -> list[dict]:
        with self.db.session() as session:
            rows = session.exec(select(Outbox).where(Outbox.event_type == "m.room.message"))
            return [r.content for r in rows]

    def versions(self, event_id: str) -> list[str]:
        with self.db.session() as session:
            rows = session.exec(select(ItemEdit).where(ItemEdit.item_event_id == event_id)
                                .order_by(col(ItemEdit.edited_at)))
            return [r.text for r in rows]


@pytest.fixture
def seance(config, db, room):
    room.joined.add(QUENTIN)
    room.display_names[QUENTIN] = "Quentin Poilvé"
    return Room(config, db, room)


# --- discussion -----------------------------------------------------------------------------------

def test_free_messages_are_discussion_under_the_current_point(seance):
    seance.say("avant l'ouverture")
    seance.open()
    hello = seance.say("bonjour à toutes et tous")
    seance.say("!point Mobilisation des parents", FACILITATOR)
    seance.say("S'appuyer sur le milieu associatif", QUENTIN)
    seance.say("* s'étire", msgtype="m.emote")
    seance.say("notice d'un autre robot", QUENTIN, msgtype="m.notice")
    seance.say("message du bot lui-même", BOT)
    with seance.db.session() as session:
        topic = session.exec(select(Topic)).one()
    assert [(i.kind, i.sender, i.text, i.topic_id) for i in seance.items()] == [
        (ItemKind.DISCUSSION, MEMBER, "bonjour à toutes et tous", None),
        (ItemKind.DISCUSSION, QUENTIN, "S'appuyer sur le milieu associatif", topic.id),
        (ItemKind.DISCUSSION, MEMBER, "* s'étire", topic.id)]
    assert seance.reactions_to(hello) == [] and seance.replies_to(hello) == []   # silent capture


@pytest.mark.parametrize("body", ["(hors cr) je reviens dans 5 minutes", "(HORS CR) pause",
                                  "  (Hors Cr) coupure réseau", "(hors cr)"])
def test_off_record_messages_are_not_captured_but_count_as_presence(seance, body):
    seance.open()
    seance.say(body, QUENTIN)
    assert seance.items() == []
    with seance.db.session() as session:
        assert session.get(Attendance, (1, QUENTIN)).present


def test_off_record_marker_is_accent_insensitive(config, db, room, tmp_path):
    from tests.conftest import make_config

    custom = make_config(tmp_path, bot={"off_record_marker": "[Hors-CR]", "allowed_inviters": ["@*:x"]})
    seance = Room(custom, db, room)
    seance.open()
    seance.say("[hors-cr] pas pour le compte rendu")
    seance.say("[HÔRS-CR] pas davantage")
    seance.say("dans le compte rendu [hors-cr]")
    assert seance.rows() == [(ItemKind.DISCUSSION, MEMBER, "dans le compte rendu [hors-cr]")]


def test_nothing_is_captured_outside_a_seance(seance):
    seance.say("bonjour")
    seance.open()
    seance.say("!seance clore", FACILITATOR)
    seance.say("après la clôture")
    assert seance.items() == []


def test_stored_text_is_the_plain_body_never_html(seance):
    seance.open()
    raw = {"type": "m.room.message", "event_id": "$html", "sender": MEMBER, "origin_server_ts": 1,
           "content": {"msgtype": "m.text", "body": "**Important** : <b>pas de HTML</b>",
                       "format": "org.matrix.custom.html",
                       "formatted_body": "<strong>Important</strong> : &lt;b&gt;pas de HTML&lt;/b&gt;"}}
    seance.core.handle(parse_event(raw, ROOM), seance.room)
    assert seance.item("$html").text == "**Important** : <b>pas de HTML</b>"


# --- replies and threads --------------------------------------------------------------------------

def test_replies_hang_under_the_root_of_their_chain_and_its_point(seance):
    seance.open()
    seance.say("!point Actualités locales", FACILITATOR)
    news = seance.say("!actu COPIL le 23 juin", QUENTIN)
    reply = seance.say("Bravo !", reply_to=news)
    reply_to_reply = seance.say("Merci", QUENTIN, reply_to=reply)
    seance.say("!point Partage", FACILITATOR)
    late = seance.say("Et le bilan ?", reply_to=reply_to_reply)
    thread = seance.say("Dans le fil", FACILITATOR, thread_root=news)
    explicit = seance.say("Réponse dans le fil", thread_root=news, reply_to=thread)
    loose = seance.say("Réponse à un message non noté", reply_to="$inconnu")
    by_event = {i.event_id: i for i in seance.items()}
    news_topic = by_event[news].topic_id
    for event_id in (reply, reply_to_reply, late, thread, explicit):
        assert (by_event[event_id].parent_event_id, by_event[event_id].topic_id) == (news, news_topic)
    assert by_event[loose].parent_event_id is None and by_event[loose].topic_id != news_topic


def test_a_reply_to_an_item_of_an_earlier_seance_is_top_level(seance):
    seance.open()
    old = seance.say("hier")
    seance.say("!seance clore", FACILITATOR)
    seance.open()
    now = seance.say("réponse", reply_to=old)
    assert seance.item(now).parent_event_id is None and seance.item(now).seance_id == 2


# --- the météo prompt ---------------------------------------------------------------------------

def test_replies_and_thread_answers_to_the_prompt_are_meteo(seance):
    prompt = seance.open()
    by_reply = seance.say("3 beaucoup de dossiers", QUENTIN, reply_to=prompt)
    in_thread = seance.say("🌤️ ça avance", thread_root=prompt)
    no_mood = seance.say("bonjour !", FACILITATOR, reply_to=prompt)
    cheer = seance.say("Courage !", FACILITATOR, reply_to=by_reply)
    assert [(i.kind, i.sender, i.mood, i.text) for i in seance.items()] == [
        (ItemKind.METEO, QUENTIN, 3, "beaucoup de dossiers"),
        (ItemKind.METEO, MEMBER, 4, "ça avance"),
        (ItemKind.DISCUSSION, FACILITATOR, None, "Courage !")]
    assert seance.item(cheer).parent_event_id == by_reply
    assert seance.reactions_to(by_reply) == ["✅"] and seance.reactions_to(in_thread) == ["✅"]
    [refusal] = seance.replies_to(no_mood)
    assert "humeur" in refusal and "n'a pas été noté" in refusal


def test_a_meteo_by_reply_replaces_my_meteo_by_command(seance):
    prompt = seance.open()
    seance.say("!meteo 2 fatigué")
    again = seance.say("5 finalement super", reply_to=prompt)
    [meteo] = seance.items()
    assert (meteo.event_id, meteo.mood, meteo.text) == (again, 5, "finalement super")


# --- edits ----------------------------------------------------------------------------------------

def test_an_edit_replaces_the_text_and_keeps_the_history(seance):
    seance.open()
    typo = seance.say("Quels leviers pour mobiliser les parnets ?")
    first = seance.edit(typo, "Quels leviers pour mobiliser les parents ?")
    seance.edit(typo, "pirate", sender=QUENTIN)          # not the sender's: ignored
    seance.edit("$inconnu", "rien à modifier")
    item = seance.item(typo)
    assert (item.text, item.kind, item.edited_at) == ("Quels leviers pour mobiliser les parents ?",
                                                      ItemKind.DISCUSSION, seance.now - timedelta(seconds=20))
    assert seance.versions(typo) == ["Quels leviers pour mobiliser les parnets ?",
                                     "Quels leviers pour mobiliser les parents ?"]
    assert first in {e for e in _edit_ids(seance)}


def _edit_ids(seance) -> set[str]:
    with seance.db.session() as session:
        return {r.event_id for r in session.exec(select(ItemEdit))}


def test_the_latest_edit_wins_even_when_an_older_one_arrives_late(seance):
    seance.open()
    message = seance.say("v0")
    t = seance.now
    seance.edit(message, "v1", event_id="$e1", at=t + timedelta(minutes=1))
    seance.edit(message, "v3", event_id="$e3", at=t + timedelta(minutes=3))
    seance.edit(message, "v2 en retard", event_id="$e2", at=t + timedelta(minutes=2))
    assert seance.item(message).text == "v3"
    seance.redact("$e3")                                  # back to the latest remaining edit
    assert seance.item(message).text == "v2 en retard"
    seance.redact("$e2")
    seance.redact("$e1")
    item = seance.item(message)
    assert (item.text, item.edited_at) == ("v0", None)
    assert seance.versions(message) == ["v0"]


def test_same_timestamp_edits_are_ordered_by_event_id(seance):
    seance.open()
    message = seance.say("v0")
    at = seance.now + timedelta(minutes=1)
    seance.edit(message, "par $b", event_id="$b", at=at)
    seance.edit(message, "par $a", event_id="$a", at=at)
    assert seance.item(message).text == "par $b"


def test_an_edited_command_is_read_again(seance):
    seance.open()
    action = seance.say("!action Envoyer la plaquette @Maïta Giraldi pour vendredi")
    seance.say("!action Une autre")
    seance.edit(action, "!action Envoyer la plaquette et le bilan @Quentin Poilvé pour lundi")
    item = seance.item(action)
    assert (item.kind, item.text, item.owner, item.due_date, item.action_number) == (
        ItemKind.ACTION, "Envoyer la plaquette et le bilan", QUENTIN, date(2026, 11, 23), 1)
    assert seance.reactions_to(action) == ["✅"]         # acknowledged once, not again on edit
    seance.edit(action, "!decision Finalement, une décision")
    item = seance.item(action)
    assert (item.kind, item.text, item.owner, item.due_date, item.action_number) == (
        ItemKind.DECISION, "Finalement, une décision", "", None, None)


def test_an_edit_that_makes_a_command_invalid_is_refused_and_changes_nothing(seance):
    seance.open()
    action = seance.say("!action Relancer pour vendredi")
    bad = seance.edit(action, "!action Relancer pour le 3 janvier 2020")
    item = seance.item(action)
    assert (item.text, item.due_date, item.edited_at) == ("Relancer", FRIDAY, None)
    [answer] = seance.replies_to(action)
    assert "Modification non prise en compte" in answer and "passé" in answer and "Usage : !action" in answer
    assert bad not in _edit_ids(seance)


def test_an_edit_refused_in_a_backlog_is_answered_and_the_run_is_kept(seance):
    # The refusal rolls back the run it arrived in; its events are handled again one by one.
    seance.open()
    action = seance.say("!action Relancer pour vendredi")
    backlog = [Message("$b1", ROOM, MEMBER, "avant", seance.tick()),
               Edit("$bad", ROOM, MEMBER, action, "!action Relancer pour le 3 janvier 2020",
                    seance.tick()),
               Message("$b2", ROOM, MEMBER, "après", seance.tick())]
    seance.core.handle_all(backlog, seance.room)
    assert [i.text for i in seance.items()] == ["Relancer", "avant", "après"]
    assert seance.item(action).due_date == FRIDAY and "$bad" not in _edit_ids(seance)
    [answer] = seance.replies_to(action)
    assert answer.startswith("⚠️ Modification non prise en compte") and "Usage : !action" in answer


def test_redacting_an_edit_of_a_command_restores_the_previous_reading(seance):
    seance.open()
    action = seance.say("!action Relancer pour vendredi")
    seance.now += timedelta(days=2)                       # "vendredi" keeps meaning that Friday
    edit = seance.edit(action, "!action Relancer les écoles pour le 15 décembre")
    assert seance.item(action).due_date.day == 15
    seance.redact(edit)
    item = seance.item(action)
    assert (item.text, item.due_date, item.edited_at) == ("Relancer", FRIDAY, None)


def test_an_action_survives_a_redacted_edit_and_an_edit_into_fait_words_is_refused(seance):
    seance.open()
    action = seance.say("!action faire le point avec la mairie pour vendredi")
    edit = seance.edit(action, "!action faire le point avec la mairie pour lundi")
    assert seance.item(action).due_date == date(2026, 11, 23)
    seance.redact(edit)
    item = seance.item(action)
    assert (item.kind, item.text, item.due_date) == (ItemKind.ACTION, "faire le point avec la mairie",
                                                     FRIDAY)
    # "fait <words>" is never guessed into an action named "fait …" (issue 9): the edit is
    # refused and the item stays as it was.
    seance.edit(action, "!action fait le point avec la mairie pour lundi")
    item = seance.item(action)
    assert (item.text, item.due_date) == ("faire le point avec la mairie", FRIDAY)


def test_plain_message_and_command_turned_into_each_other(seance):
    prompt = seance.open()
    plain = seance.say("on valide le calendrier")
    seance.edit(plain, "!decision On valide le calendrier")
    command = seance.say("!info à retenir")
    seance.edit(command, "à retenir, sans commande")
    answer = seance.say("2 bof", QUENTIN, reply_to=prompt)
    seance.edit(answer, "4 mieux après le café", QUENTIN)
    refused = seance.edit(answer, "sans humeur", QUENTIN)
    assert [(i.kind, i.text, i.mood) for i in seance.items()] == [
        (ItemKind.DECISION, "On valide le calendrier", None),
        (ItemKind.DISCUSSION, "à retenir, sans commande", None),
        (ItemKind.METEO, "mieux après le café", 4)]
    assert "humeur" in seance.replies_to(answer)[0] and refused not in _edit_ids(seance)


def test_edits_never_run_commands_and_can_take_a_message_off_the_record(seance):
    seance.open()
    first = seance.say("un message")
    second = seance.say("!info un point")
    emptied = seance.say("bientôt vide")
    seance.edit(first, "(hors cr) finalement non")
    seance.edit(second, "!aide")
    seance.edit(emptied, "")
    assert seance.items() == [] and seance.versions(first) == [] and seance.versions(second) == []
    assert seance.replies_to(second) == []                # !aide was not run
    seance.edit(first, "de nouveau visible")              # no item any more: nothing happens
    assert seance.items() == []


def test_edits_apply_after_the_seance_is_closed(seance):
    seance.open()
    message = seance.say("texte")
    news = seance.say("!actu texte")
    seance.say("!seance clore", FACILITATOR)
    seance.edit(message, "texte corrigé")
    seance.edit(news, "!actu actualité corrigée")
    assert [i.text for i in seance.items()] == ["texte corrigé", "actualité corrigée"]


def test_a_meteo_command_edited_keeps_one_per_person(seance):
    seance.open()
    seance.say("!meteo 2 bof")
    plain = seance.say("bonne nouvelle")
    seance.edit(plain, "!meteo 5 bonne nouvelle")
    [meteo] = seance.items()
    assert (meteo.event_id, meteo.mood) == (plain, 5)


# --- Element's pills in edits and replies, commands in threads ---------------------------------------

MAITA_PILL = Pill(FACILITATOR, "Maïta Giraldi")
QUENTIN_PILL = Pill(QUENTIN, "Quentin Poilvé")


def test_an_element_edit_keeps_the_pilled_owner_and_so_does_redacting_it(seance):
    seance.open()
    first = message_content(MEMBER, "!action Envoyer la plaquette ", MAITA_PILL, " pour vendredi")
    action = seance.receive(first)
    assert (seance.item(action).owner, seance.item(action).text) == (FACILITATOR, "Envoyer la plaquette")
    # Element's edit: the pill is only in m.new_content's m.mentions (not newly mentioned).
    edit = seance.receive(edit_content(MEMBER, action, first, "!action Envoyer la plaquette et le bilan ",
                                       MAITA_PILL, " pour lundi"))
    item = seance.item(action)
    assert (item.owner, item.text, item.due_date) == (FACILITATOR, "Envoyer la plaquette et le bilan",
                                                      date(2026, 11, 23))
    seance.redact(edit)                                   # back to the original, owner included
    item = seance.item(action)
    assert (item.owner, item.text, item.due_date, item.edited_at) == (
        FACILITATOR, "Envoyer la plaquette", FRIDAY, None)


def test_an_element_edit_can_change_the_pilled_owner(seance):
    seance.open()
    first = message_content(MEMBER, "!action Relancer les écoles")
    action = seance.receive(first)
    seance.receive(edit_content(MEMBER, action, first, "!action Relancer les écoles ", QUENTIN_PILL))
    assert (seance.item(action).owner, seance.item(action).text) == (QUENTIN, "Relancer les écoles")


def test_a_pill_in_a_reply_names_the_owner_not_the_replied_to_sender(seance):
    seance.open()
    question = seance.say("Qui envoie le bilan ?", QUENTIN)
    content = message_content(MEMBER, "!action ", MAITA_PILL, " envoie le bilan",
                              reply_to=(question, QUENTIN))
    assert content["m.mentions"] == {"user_ids": [QUENTIN, FACILITATOR]}
    action = seance.receive(content)
    item = seance.item(action)
    assert (item.kind, item.owner, item.text) == (ItemKind.ACTION, FACILITATOR, "envoie le bilan")


def _reply_target(content: dict) -> str | None:
    return content.get("m.relates_to", {}).get("m.in_reply_to", {}).get("event_id")


def test_a_command_in_a_thread_is_answered_in_the_thread(seance):
    root = seance.say("On parle du COPIL ?", QUENTIN)
    command = seance.receive(message_content(MEMBER, "!profil", thread=(root, root)))
    [answer] = [c for c in seance.notices() if _reply_target(c) == command]
    assert answer["m.relates_to"] == {"rel_type": "m.thread", "event_id": root, "is_falling_back": False,
                                      "m.in_reply_to": {"event_id": command}}
    outside = seance.say("!profil")
    [answer] = [c for c in seance.notices() if _reply_target(c) == outside]
    assert answer["m.relates_to"] == {"m.in_reply_to": {"event_id": outside}}


# --- redactions -----------------------------------------------------------------------------------

def test_redacting_a_message_removes_its_item_and_edits(seance):
    seance.open()
    message = seance.say("à supprimer")
    seance.edit(message, "à supprimer vraiment")
    reply = seance.say("réponse", QUENTIN, reply_to=message)
    seance.redact(message, sender=FACILITATOR)           # a moderator may redact too
    assert seance.rows() == [(ItemKind.DISCUSSION, QUENTIN, "réponse")]
    assert seance.item(reply).parent_event_id is None and seance.versions(message) == []
    seance.redact("$nimporte-quoi")
    assert len(seance.items()) == 1


def test_redacting_a_command_removes_its_item(seance):
    seance.open()
    action = seance.say("!action Relancer")
    seance.redact(action)
    assert seance.items() == []


# --- restart --------------------------------------------------------------------------------------

def test_state_lives_in_the_database_across_a_restart(config, db, room, seance):
    seance.open()
    seance.say("!point Premier point", FACILITATOR)
    first = seance.say("avant le redémarrage")
    restarted = Room(config, db, room)                    # a new core over the same database
    restarted.now, restarted.count = seance.now, 100
    restarted.say("après le redémarrage")
    restarted.edit(first, "avant le redémarrage (corrigé)")
    restarted.say("après le redémarrage", event_id="$m101")   # the same event again: once only
    assert [(i.text, i.topic_id is not None) for i in restarted.items()] == [
        ("avant le redémarrage (corrigé)", True), ("après le redémarrage", True)]


# --- attendance and météo synthesis ---------------------------------------------------------------

def test_attendance_separates_facilitators(config, db, room, seance):
    room.joined.add("@florian:localhost")
    room.power_users["@florian:localhost"] = 50
    seance.open()
    seance.say("bonjour", QUENTIN)
    seance.say("bonjour", "@florian:localhost")
    seance.say("!info un point")
    with db.session() as session:
        current = session.get(Seance, 1)
        assert attendance(session, current) == ([QUENTIN, "@florian:localhost", MEMBER], [], [FACILITATOR])
        assert attendance(session, current, config, room) == (
            [QUENTIN, MEMBER], [], [FACILITATOR, "@florian:localhost"])


def test_meteo_summary_and_trend(seance):
    prompt = seance.open()
    seance.say("!meteo 4 bien")
    seance.say("2 bof", QUENTIN, reply_to=prompt)
    seance.say("!meteo ☀️", FACILITATOR)
    seance.say("!seance clore", FACILITATOR)
    seance.open("Sans météo")
    seance.say("!seance clore", FACILITATOR)
    seance.open()
    seance.say("!meteo 5")
    seance.say("!meteo 4", QUENTIN)
    with seance.db.session() as session:
        first, empty, third = (session.get(Seance, n) for n in (1, 2, 3))
        assert meteo_summary(session, first) == MeteoSummary(3, {1: 0, 2: 1, 3: 0, 4: 1, 5: 1},
                                                             11 / 3, None, None)
        assert meteo_summary(session, empty) == MeteoSummary(0, {m: 0 for m in range(1, 6)}, None,
                                                             11 / 3, None)
        assert meteo_summary(session, third) == MeteoSummary(2, {1: 0, 2: 0, 3: 0, 4: 1, 5: 1}, 4.5,
                                                             11 / 3, "en hausse")


@pytest.mark.parametrize("mean, previous, expected", [
    (3.0, 3.2, "stable"), (3.2, 3.0, "stable"), (3.5, 3.0, "en hausse"), (2.0, 3.0, "en baisse"),
    (None, 3.0, None), (3.0, None, None)])
def test_trend(mean, previous, expected):
    assert trend(mean, previous) == expected


@pytest.mark.parametrize("text, expected", [
    ("4", (4, "")), ("4/5 super", (4, "super")), ("1 – dur", (1, "dur")), ("☀️☀️", (5, "☀️")),
    ("⛈ orage", (1, "orage")), ("45 ans", None), ("4.5", None), ("0 rien", None), ("bien", None), ("", None)])
def test_parse_mood(text, expected):
    assert parse_mood(text) == expected


def test_action_owner_from_an_element_pill(room):
    """Element sends a pill as the plain display name plus m.mentions.user_ids."""
    source = {"type": "m.room.message", "event_id": "$p", "sender": "@maita:localhost",
              "origin_server_ts": 0,
              "content": {"msgtype": "m.text", "body": "!action Anabela De Castro envoie la plaquette",
                          "m.mentions": {"user_ids": ["@anabela:localhost"]}}}
    message = parse_event(source, "!salon:localhost")
    assert message.mentions == ("@anabela:localhost",)
    parsed = capture_parse.parse_action(room, "Anabela De Castro envoie la plaquette",
                                        ZoneInfo("Europe/Paris"), NOW, message.mentions)
    assert (parsed.owner, parsed.text) == ("@anabela:localhost", "envoie la plaquette")
    unmentioned = capture_parse.parse_action(room, "Anabela De Castro envoie la plaquette",
                                             ZoneInfo("Europe/Paris"), NOW)
    assert unmentioned.owner == ""


# --- the participants' formatting (bot.support.richtext reads it) -------------------------------------

def _formatted_message(event_id: str, body: str, html: str, fmt: str = "org.matrix.custom.html") -> dict:
    return {"type": "m.room.message", "event_id": event_id, "sender": MEMBER, "origin_server_ts": 1,
            "content": {"msgtype": "m.text", "body": body, "format": fmt, "formatted_body": html}}


def _formatted_edit(event_id: str, target: str, body: str, html: str) -> dict:
    new_content = {"msgtype": "m.text", "body": body, "format": "org.matrix.custom.html",
                   "formatted_body": html}
    return {"type": "m.room.message", "event_id": event_id, "sender": MEMBER, "origin_server_ts": 2_000,
            "content": {"msgtype": "m.text", "body": f"* {body}", "m.new_content": new_content,
                        "m.relates_to": {"rel_type": "m.replace", "event_id": target}}}


def test_formatted_body_is_kept_beside_the_plain_text_and_follows_edits(seance):
    seance.open()
    html = "<strong>Important</strong> : voir <a href='https://exemple.fr'>le guide</a>"
    seance.core.handle(parse_event(_formatted_message("$fmt", "**Important** : voir le guide", html), ROOM),
                       seance.room)
    seance.core.handle(parse_event(_formatted_message("$other", "x", "<b>x</b>", fmt="text/markdown"), ROOM),
                       seance.room)
    plain = seance.say("Sans mise en forme")
    assert (seance.item("$fmt").text, seance.item("$fmt").formatted) == ("**Important** : voir le guide", html)
    assert seance.item("$other").formatted == "" and seance.item(plain).formatted == ""
    # An edit brings its own HTML; one typed without formatting leaves none (no stale HTML).
    seance.core.handle(parse_event(_formatted_edit("$e1", "$fmt", "*Important* : voir", "<em>Important</em> : voir"),
                                   ROOM), seance.room)
    assert (seance.item("$fmt").text, seance.item("$fmt").formatted) == ("*Important* : voir",
                                                                         "<em>Important</em> : voir")
    last = seance.edit("$fmt", "Important : voir le guide (corrigé)")
    assert seance.item("$fmt").formatted == ""
    seance.redact(last)  # back to the previous version, with its HTML
    assert seance.item("$fmt").formatted == "<em>Important</em> : voir"
