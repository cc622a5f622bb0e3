"""Date polls: ``!sondage`` posts a native Matrix poll (MSC3381, as Element sends them),
votes are read from poll responses, ``!sondage clore`` ends it, and
``!rencontre planifier sondage`` plans the rencontre at the winning date."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from bot.app.wiring import build_core
from bot.domain import polls
from bot.engine.events import PollResponse, parse_event
from bot.engine.registry import PERMISSION_REPLY
from bot.storage.models import Outbox, Poll, PollVote, Rencontre
from tests.conftest import FACILITATOR, MEMBER, NOW, ROOM, handle_message

BOT = "@maillage:localhost"
QUENTIN = "@quentin:localhost"
START_ID = "$pollstart"
POLL = "!sondage Quelle date pour la rencontre de juin ?\n9 juin 2027 14h-17h\njeudi 10 juin 2027 9h30-12h"


class Clock:
    now = NOW


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def core(config, db, clock):
    return build_core(config, db, BOT, clock=lambda: clock.now)


@pytest.fixture
def room(room):
    room.joined.add(QUENTIN)
    room.display_names[QUENTIN] = "Quentin Poilvé"
    return room


@pytest.fixture
def say(core, db, room, clock):
    counter = itertools.count()

    def send(sender: str, text: str) -> list[Outbox]:
        return handle_message(core, db, room, f"$sondage{next(counter)}", sender, text, clock.now)

    return send


def text_of(rows: list[Outbox]) -> str:
    return "\n".join(r.content.get("body", "") for r in rows if r.event_type == "m.room.message")


def published(say, db, text: str = POLL) -> list[Outbox]:
    """The poll posted, and its start event sent (the outbox hook learns its id)."""
    rows = say(FACILITATOR, text)
    with db.session() as session:
        [start] = [r for r in rows if r.event_type == polls.POLL_START]
        polls.remember_start(session, start.tag.partition(":")[2], START_ID)
        session.commit()
    return rows


counter = itertools.count()


def vote(core, room, sender: str, answers, at: datetime, *, key: str = "org.matrix.msc3381.poll.response",
         event_type: str = "org.matrix.msc3381.poll.response") -> None:
    """A response exactly as matrix-js-sdk's PollResponseEvent serialises it, through parse_event."""
    content = {"m.relates_to": {"rel_type": "m.reference", "event_id": START_ID}}
    if answers is not ...:
        content[key] = {"answers": answers}
    source = {"type": event_type, "event_id": f"$vote{next(counter)}", "sender": sender,
              "origin_server_ts": int(at.timestamp() * 1000), "content": content}
    core.handle(parse_event(source, ROOM), room)


def stored_poll(db) -> Poll:
    with db.session() as session:
        return session.exec(select(Poll)).one()


# --- parsing the responses Element sends ---------------------------------------------------------

def test_parse_element_poll_responses():
    base = {"event_id": "$v", "sender": MEMBER, "origin_server_ts": 0}
    for event_type in ("org.matrix.msc3381.poll.response", "m.poll.response"):
        record = parse_event({**base, "type": event_type, "content": {
            "m.relates_to": {"rel_type": "m.reference", "event_id": START_ID},
            event_type: {"answers": ["date-2"]}}}, ROOM)
        assert record == PollResponse("$v", ROOM, MEMBER, START_ID, ("date-2",), record.timestamp)
    spoiled = parse_event({**base, "type": "org.matrix.msc3381.poll.response", "content": {
        "m.relates_to": {"rel_type": "m.reference", "event_id": START_ID},
        "org.matrix.msc3381.poll.response": {"answers": []}}}, ROOM)
    assert spoiled.answers is None
    assert parse_event({**base, "type": "org.matrix.msc3381.poll.response", "content": {
        "org.matrix.msc3381.poll.response": {"answers": ["date-1"]}}}, ROOM) is None   # no relation


# --- posting the poll ----------------------------------------------------------------------------

def test_the_poll_as_element_renders_it(say, db):
    rows = say(FACILITATOR, POLL)
    notice, start = rows
    assert "Quelle date pour la rencontre de juin ?" in notice.content["body"]
    assert "• 1. mercredi 9 juin 2027, 14h–17h — 0 voix" in notice.content["body"]
    assert "• 2. jeudi 10 juin 2027, 9h30–12h — 0 voix" in notice.content["body"]
    assert start.event_type == "org.matrix.msc3381.poll.start"
    block = start.content["org.matrix.msc3381.poll.start"]
    assert block == {"question": {"org.matrix.msc1767.text": "Quelle date pour la rencontre de juin ?"},
                     "kind": "org.matrix.msc3381.poll.disclosed", "max_selections": 1,
                     "answers": [{"id": "date-1", "org.matrix.msc1767.text": "mercredi 9 juin 2027, 14h–17h"},
                                 {"id": "date-2", "org.matrix.msc1767.text": "jeudi 10 juin 2027, 9h30–12h"}]}
    assert start.content["org.matrix.msc1767.text"] == (
        "Quelle date pour la rencontre de juin ?\n1. mercredi 9 juin 2027, 14h–17h\n"
        "2. jeudi 10 juin 2027, 9h30–12h")
    poll = stored_poll(db)
    assert start.tag == f"poll:{poll.id}" and poll.timezone == "Europe/Paris"
    assert datetime.fromisoformat(poll.options[0]["start"]) == datetime(2027, 6, 9, 12, tzinfo=UTC)


@pytest.mark.parametrize("text, reason", [
    ("!sondage Quelle date ?\n9 juin 2027 14h-17h", "au moins deux dates"),
    ("!sondage Quelle date ?", "au moins deux dates"),
    ("!sondage Quelle date ?\n9 juin 2020 14h-17h\n10 juin 2027 14h", "date n°1 « 9 juin 2020 14h-17h »"),
    ("!sondage Quelle date ?\n9 juin 2027 14h\nun jour peut-être", "date n°2"),
    ("!sondage Quelle date ?\n9 juin 2027 14h\n2027-06-09 14:00", "déjà proposée"),
    ("!sondage Quelle date ?\n" + "\n".join(f"{d} juin 2027 14h" for d in range(1, 23)), "au plus 20 dates"),
    ("!sondage \n9 juin 2027 14h\n10 juin 2027 14h\n11 juin 2027 14h", "il manque la question"),
    ("!sondage " + "q" * 400 + "\n9 juin 2027 14h\n10 juin 2027 14h", "trop longue (400 caractères ; 300"),
])
def test_bad_polls_are_refused(say, db, text, reason):
    rows = say(FACILITATOR, text)
    assert [r.event_type for r in rows] == ["m.room.message"]
    body = text_of(rows)
    assert reason.lower() in body.lower() and "Rien n'a été enregistré" in body
    assert "Usage : !sondage" in body
    with db.session() as session:
        assert session.exec(select(Poll)).all() == []


def test_members_vote_but_do_not_post_or_close(say, db):
    assert text_of(say(MEMBER, POLL)) == PERMISSION_REPLY
    published(say, db)
    assert text_of(say(MEMBER, "!sondage clore")) == PERMISSION_REPLY
    assert stored_poll(db).status == "open"


def test_one_running_poll_at_a_time(say, db):
    published(say, db)
    body = text_of(say(FACILITATOR, POLL))
    assert "est encore ouvert" in body and "!sondage clore" in body
    with db.session() as session:
        assert len(session.exec(select(Poll)).all()) == 1


def test_no_poll_yet(say):
    assert "Aucun sondage dans ce salon" in text_of(say(MEMBER, "!sondage"))
    assert "Aucun sondage n'est ouvert" in text_of(say(FACILITATOR, "!sondage clore"))
    assert "Aucun sondage dans ce salon" in text_of(say(FACILITATOR, "!rencontre planifier sondage"))


# --- votes, count, end ---------------------------------------------------------------------------

def test_latest_vote_per_person_counts_and_a_spoiled_one_withdraws(say, db, core, room):
    published(say, db)
    t = NOW + timedelta(minutes=1)
    vote(core, room, MEMBER, ["date-1"], t)
    vote(core, room, QUENTIN, ["date-2"], t)
    vote(core, room, QUENTIN, ["date-1"], t + timedelta(minutes=1))          # changed
    vote(core, room, FACILITATOR, ["date-2"], t, key="m.poll.response", event_type="m.poll.response")
    vote(core, room, FACILITATOR, [], t + timedelta(minutes=2))              # withdrawn
    vote(core, room, "@x:localhost", ["date-9"], t)                          # not an answer: spoiled
    body = text_of(say(MEMBER, "!sondage"))
    assert "Sondage en cours" in body
    assert "• 1. mercredi 9 juin 2027, 14h–17h — 2 voix ⭐" in body
    assert "• 2. jeudi 10 juin 2027, 9h30–12h — 0 voix" in body
    assert "2 personnes ont voté." in body


def test_close_sends_the_end_event_and_later_votes_are_ignored(say, db, core, room, clock):
    published(say, db)
    vote(core, room, MEMBER, ["date-2"], NOW + timedelta(minutes=1))
    clock.now = NOW + timedelta(hours=1)
    rows = say(FACILITATOR, "!sondage clore")
    end = next(r for r in rows if r.event_type == "org.matrix.msc3381.poll.end")
    assert end.content["m.relates_to"] == {"rel_type": "m.reference", "event_id": START_ID}
    assert end.content["org.matrix.msc3381.poll.end"] == {}
    assert end.content["org.matrix.msc1767.text"] == (
        "Le sondage est clos. Date retenue : jeudi 10 juin 2027, 9h30–12h (1 voix).")
    body = text_of(rows)
    assert "Sondage clos" in body and "!rencontre planifier sondage [titre]" in body
    vote(core, room, QUENTIN, ["date-1"], clock.now + timedelta(minutes=1))   # after the end
    vote(core, room, MEMBER, ["date-1"], clock.now + timedelta(minutes=1))
    assert "• 2. jeudi 10 juin 2027, 9h30–12h — 1 voix ⭐" in text_of(say(MEMBER, "!sondage"))
    assert "• 1. mercredi 9 juin 2027, 14h–17h — 0 voix" in text_of(say(MEMBER, "!sondage"))


def test_votes_for_another_poll_or_room_are_ignored(say, db, core, room):
    published(say, db)
    source = {"type": "org.matrix.msc3381.poll.response", "event_id": "$elsewhere", "sender": MEMBER,
              "origin_server_ts": int(NOW.timestamp() * 1000), "content": {
                  "m.relates_to": {"rel_type": "m.reference", "event_id": "$other"},
                  "org.matrix.msc3381.poll.response": {"answers": ["date-1"]}}}
    core.handle(parse_event(source, ROOM), room)
    with db.session() as session:
        assert session.exec(select(PollVote)).all() == []


# --- planning from the poll ----------------------------------------------------------------------

def test_plan_at_the_winning_date(say, db, core, room, clock):
    published(say, db)
    vote(core, room, MEMBER, ["date-2"], NOW + timedelta(minutes=1))
    assert "encore ouvert" in text_of(say(FACILITATOR, "!rencontre planifier sondage"))
    clock.now = NOW + timedelta(hours=1)
    say(FACILITATOR, "!sondage clore")
    body = text_of(say(FACILITATOR, "!rencontre planifier sondage Rencontre de juin\nmode: visio"))
    assert "Rencontre #1 planifiée" in body
    with db.session() as session:
        found = session.exec(select(Rencontre)).one()
    assert (found.start_at, found.end_at) == (datetime(2027, 6, 10, 7, 30, tzinfo=UTC),
                                              datetime(2027, 6, 10, 10, tzinfo=UTC))
    assert (found.title, found.mode) == ("Rencontre de juin", "distanciel")
    assert stored_poll(db).rencontre_id == found.id
    assert "déjà planifiée" in text_of(say(FACILITATOR, "!rencontre planifier sondage"))


def test_a_tie_is_decided_by_the_facilitator(say, db, core, room, clock):
    published(say, db)
    vote(core, room, MEMBER, ["date-1"], NOW + timedelta(minutes=1))
    vote(core, room, QUENTIN, ["date-2"], NOW + timedelta(minutes=1))
    clock.now = NOW + timedelta(hours=1)
    closing = text_of(say(FACILITATOR, "!sondage clore"))
    assert "égalité entre n°1 mercredi 9 juin 2027, 14h–17h ; n°2 jeudi 10 juin 2027, 9h30–12h" in closing
    body = text_of(say(FACILITATOR, "!rencontre planifier sondage"))
    assert "Égalité entre les dates 1, 2" in body and "Rien n'a été enregistré" in body
    assert "les dates 1 à 2, pas 3" in text_of(say(FACILITATOR, "!rencontre planifier sondage 3"))
    assert "pas 999" in text_of(say(FACILITATOR, "!rencontre planifier sondage 999"))
    assert "pas 12345678901234567890" in text_of(say(FACILITATOR, "!rencontre planifier sondage "
                                                                  "12345678901234567890 Titre"))
    with db.session() as session:
        assert session.exec(select(Rencontre)).all() == []
    say(FACILITATOR, "!rencontre planifier sondage 2")
    with db.session() as session:
        found = session.exec(select(Rencontre)).one()
    assert found.start_at == datetime(2027, 6, 10, 7, 30, tzinfo=UTC)


def test_poll_dates_follow_the_room_zone(say, db):
    say(FACILITATOR, "!salon fuseau Guyane")
    rows = published(say, db)
    start = next(r for r in rows if r.event_type == polls.POLL_START)
    answers = start.content["org.matrix.msc3381.poll.start"]["answers"]
    assert answers[0]["org.matrix.msc1767.text"] == "mercredi 9 juin 2027, 14h–17h (heure de Guyane)"
    assert datetime.fromisoformat(stored_poll(db).options[0]["start"]) == datetime(2027, 6, 9, 17, tzinfo=UTC)
