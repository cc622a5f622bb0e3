"""``!salon``: a room's time zone, network name and reminder settings — and every date the
room reads or writes following its zone (parsing, announcements, reminders, .ics, minutes).
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from bot.app.wiring import build_core
from bot.calendar import invites as calendar
from bot.domain.reminders import plan_rencontre
from bot.domain.zones import parse_zone, zone_suffix
from bot.engine.registry import PERMISSION_REPLY
from bot.storage.models import Outbox, Rencontre, Room
from bot.support.errors import UserError
from tests.conftest import FACILITATOR, MEMBER, NOW, ROOM, handle_message
from tests.icalcheck import check_rules, parse_both

BOT = "@maillage:localhost"


@pytest.fixture
def core(config, db):
    return build_core(config, db, BOT, clock=lambda: NOW)


@pytest.fixture
def say(core, db, room):
    """A message through the real core; returns the outbox rows it queued."""
    counter = itertools.count()

    def send(sender: str, text: str) -> list[Outbox]:
        return handle_message(core, db, room, f"$salon{next(counter)}", sender, text)

    return send


def bodies(rows: list[Outbox]) -> list[str]:
    return [r.content.get("body", "") for r in rows if r.file_data is None]


def stored_room(db) -> Room | None:
    with db.session() as session:
        return session.get(Room, ROOM)


def rencontres(db) -> list[Rencontre]:
    with db.session() as session:
        return list(session.exec(select(Rencontre).order_by(Rencontre.id)))


# --- zones -------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, zone", [
    ("Guyane", "America/Cayenne"), ("la Réunion", "Indian/Reunion"), ("REUNION", "Indian/Reunion"),
    ("Mayotte", "Indian/Mayotte"), ("Martinique", "America/Martinique"),
    ("Guadeloupe", "America/Guadeloupe"), ("Nouvelle-Calédonie", "Pacific/Noumea"),
    ("nouvelle caledonie", "Pacific/Noumea"), ("Polynésie", "Pacific/Tahiti"),
    ("america/cayenne", "America/Cayenne"), ("Europe/Paris", "Europe/Paris"),
    ("Saint-Pierre-et-Miquelon", "America/Miquelon"),
])
def test_parse_zone(text, zone):
    assert parse_zone(text) == zone


@pytest.mark.parametrize("text", ["", "Mars", "Europe/Atlantis", "UTC+3", "x" * 500, "../../etc/passwd"])
def test_unknown_zones_are_refused(text):
    with pytest.raises(UserError) as error:
        parse_zone(text)
    assert "Guyane" in error.value.message


def test_zone_suffix_names_every_zone_but_paris():
    assert zone_suffix("Europe/Paris") == ""
    assert zone_suffix("America/Cayenne") == " (heure de Guyane)"
    assert zone_suffix("America/Lima") == " (heure America/Lima)"


# --- the command ---------------------------------------------------------------------------------

def test_salon_shows_the_defaults_to_everyone(say):
    [body] = bodies(say(MEMBER, "!salon"))
    assert "Fuseau horaire : Europe/Paris (heure de Paris) (réglage par défaut)" in body
    assert "Réseau : Cités éducatives des Hauts-de-France (réglage par défaut)" in body
    assert "Rappels avant chaque rencontre : J-7, J-1, H-1 (réglage par défaut)" in body
    assert "2 jours avant l'échéance et le jour même, à 9h (réglage par défaut)" in body


def test_a_facilitator_sets_zone_network_and_action_reminders(say, db):
    [reply] = bodies(say(FACILITATOR, "!salon fuseau Guyane"))
    assert "America/Cayenne (heure de Guyane)" in reply
    bodies(say(FACILITATOR, "!salon reseau Cités éducatives de Guyane"))
    bodies(say(FACILITATOR, "!salon actions 3j"))
    room = stored_room(db)
    assert (room.timezone, room.network_name, room.action_reminder_days) == (
        "America/Cayenne", "Cités éducatives de Guyane", 3)
    [body] = bodies(say(MEMBER, "!salon"))
    assert "Fuseau horaire : America/Cayenne (heure de Guyane)\n" in body + "\n"
    assert "Réseau : Cités éducatives de Guyane\n" in body
    assert "3 jours avant l'échéance et le jour même, à 9h\n" in body
    bodies(say(FACILITATOR, "!salon reseau defaut"))
    assert "le jour même seulement, à 9h" in bodies(say(FACILITATOR, "!salon actions aucun"))[0]
    assert (stored_room(db).network_name, stored_room(db).action_reminder_days) == (None, 0)
    assert "le jour même seulement, à 8h30" in bodies(say(FACILITATOR, "!salon actions à 8h30"))[0]
    assert "4 jours avant l'échéance et le jour même, à 17h" in bodies(
        say(FACILITATOR, "!salon actions 4 jours à 17h"))[0]
    assert (stored_room(db).action_reminder_days, stored_room(db).action_reminder_minute) == (4, 17 * 60)
    assert "(réglage par défaut)" in bodies(say(FACILITATOR, "!salon actions defaut"))[0].splitlines()[-3]
    assert (stored_room(db).action_reminder_days, stored_room(db).action_reminder_minute) == (None, None)


@pytest.mark.parametrize("command, expected", [
    ("!salon fuseau Atlantide", "fuseau inconnu : « Atlantide »"),
    ("!salon fuseau", "indiquez un fuseau"),
    ("!salon reseau", "indiquez le nom du réseau"),
    ("!salon reseau " + "x" * 200, "ce nom est trop long (200 caractères ; 120 au plus)"),
    ("!salon actions 31", "de 1 à 30"),
    ("!salon actions -1", "de 1 à 30"),
    ("!salon actions 99999999999999999999", "de 1 à 30"),
    ("!salon actions bientôt", "de 1 à 30"),
    ("!salon actions", "de 1 à 30"),
    ("!salon actions 2 25h", "l'heure « 25h » n'existe pas"),
    ("!salon actions 2 9h75", "l'heure « 9h75 » n'existe pas"),
    ("!salon merci", "je ne comprends pas"),
])
def test_bad_input_changes_nothing(say, db, command, expected):
    before = stored_room(db)
    [reply] = bodies(say(FACILITATOR, command))
    assert expected.lower() in reply.lower() and "Rien n'a été enregistré" in reply
    assert "Usage : !salon" in reply
    after = stored_room(db)
    assert (after.model_dump() if after else None) == (before.model_dump() if before else None)


def test_members_may_not_change_the_settings(say, db):
    assert bodies(say(MEMBER, "!salon fuseau Guyane")) == [PERMISSION_REPLY]
    assert stored_room(db) is None or stored_room(db).timezone is None


# --- one 14h rencontre, four zones ------------------------------------------------------------

ZONES = [("Europe/Paris", None, datetime(2027, 6, 9, 12, tzinfo=UTC)),
         ("Guyane", "America/Cayenne", datetime(2027, 6, 9, 17, tzinfo=UTC)),
         ("Réunion", "Indian/Reunion", datetime(2027, 6, 9, 10, tzinfo=UTC)),
         ("Mayotte", "Indian/Mayotte", datetime(2027, 6, 9, 11, tzinfo=UTC))]


@pytest.mark.parametrize("typed, zone, start", ZONES)
def test_the_same_14h_rencontre_in_each_zone(say, db, config, typed, zone, start):
    zone = zone or "Europe/Paris"
    say(FACILITATOR, f"!salon fuseau {typed}")
    rows = say(FACILITATOR, "!rencontre planifier 9 juin 2027 14h-17h\ntitre: Réseau CPO")
    [found] = rencontres(db)
    assert (found.start_at, found.end_at, found.timezone) == (start, start + timedelta(hours=3), zone)
    announcement = next(b for b in bodies(rows) if b.startswith("📅"))
    assert f"mercredi 9 juin 2027, 14h–17h{zone_suffix(zone)}" in announcement
    [ics] = [r.file_data for r in rows if r.file_data is not None]
    text = ics.decode()
    assert f"DTSTART;TZID={zone}:20270609T140000" in text.replace("\r\n ", "")
    assert f"TZID:{zone}" in text   # its VTIMEZONE
    check_rules(ics, "PUBLISH")
    [event] = parse_both(ics)      # ical.js and vobject, each from the file's VTIMEZONE
    assert event["startZone"] == zone
    assert datetime.fromisoformat(event["start"]) == start


@pytest.mark.parametrize("typed, zone, start", ZONES[1:])
def test_reminders_keep_the_wall_time_of_the_room(say, db, config, typed, zone, start):
    """J-7 and J-1 at 14h room time; H-1 an hour before the instant."""
    say(FACILITATOR, f"!salon fuseau {typed}")
    say(FACILITATOR, "!rencontre planifier 9 juin 2027 14h-17h")
    with db.session() as session:
        [found] = session.exec(select(Rencontre)).all()
        planned = plan_rencontre(session, config, found, NOW)
    assert [r.at for r in planned] == [start - timedelta(days=7), start - timedelta(days=1),
                                      start - timedelta(hours=1)]


def test_reminders_across_the_paris_dst_changes(say, db, config):
    """Spring: the rencontre on the Monday after the change, J-7 in winter time; autumn the
    other way round: J-7 and J-1 stay at 14h Paris, H-1 stays an hour."""
    say(FACILITATOR, "!rencontre planifier 29 mars 2027 14h-16h")
    say(FACILITATOR, "!rencontre planifier 1er novembre 2027 14h-16h")
    with db.session() as session:
        spring, autumn = session.exec(select(Rencontre).order_by(Rencontre.id)).all()
        assert [r.at for r in plan_rencontre(session, config, spring, NOW)] == [
            datetime(2027, 3, 22, 13, tzinfo=UTC),   # 14h CET
            datetime(2027, 3, 28, 12, tzinfo=UTC),   # 14h CEST, the day of the change
            datetime(2027, 3, 29, 11, tzinfo=UTC)]
        assert [r.at for r in plan_rencontre(session, config, autumn, NOW)] == [
            datetime(2027, 10, 25, 12, tzinfo=UTC),  # 14h CEST
            datetime(2027, 10, 31, 13, tzinfo=UTC),  # 14h CET, the day of the change
            datetime(2027, 11, 1, 12, tzinfo=UTC)]


def test_changing_the_zone_keeps_the_instants_and_says_so(say, db):
    say(FACILITATOR, "!rencontre planifier 9 juin 2027 14h-17h\ntitre: Réseau CPO")
    [before] = rencontres(db)
    [reply] = bodies(say(FACILITATOR, "!salon fuseau Guyane"))
    [after] = rencontres(db)
    assert (after.start_at, after.end_at) == (before.start_at, before.end_at)
    assert (after.timezone, after.sequence) == ("America/Cayenne", before.sequence + 1)
    assert "gardent leur horaire réel" in reply
    assert "#1 « Réseau CPO » : mercredi 9 juin 2027, 9h–12h (c'était mercredi 9 juin 2027, " \
           "14h–17h, heure de Paris)" in reply
    # What the room reads now: Guyane times.
    [details] = bodies(say(MEMBER, "!rencontre 1"))
    assert "mercredi 9 juin 2027, 9h–12h (heure de Guyane)" in details


def test_dates_typed_in_the_room_are_read_in_its_zone(say, db):
    """At 9h UTC on 21 November 2026 it is 6h in Cayenne: "aujourd'hui 8h" is still to come."""
    assert "déjà passée" in bodies(say(FACILITATOR, "!rencontre planifier aujourd'hui 8h-9h"))[0]
    say(FACILITATOR, "!salon fuseau Guyane")
    say(FACILITATOR, "!rencontre planifier aujourd'hui 8h-9h")
    [found] = rencontres(db)
    assert found.start_at == datetime(2026, 11, 21, 11, tzinfo=UTC)


def test_feed_and_organizer_carry_the_room_network(say, db, config):
    say(FACILITATOR, "!salon reseau Cités éducatives de Guyane")
    say(FACILITATOR, "!salon fuseau Guyane")
    say(FACILITATOR, "!rencontre planifier 9 juin 2027 14h-17h")
    with db.session() as session:
        token = calendar.feed_token(session, ROOM, NOW)
        found = session.exec(select(Rencontre)).one()
        event = calendar.to_event(session, config, found, bot_user_id=BOT)
        feed = calendar.feed_for_token(session, config, token, BOT, NOW)
    assert event.organizer_name == "Cités éducatives de Guyane"
    check_rules(feed.body, None)
    [parsed] = parse_both(feed.body)
    assert parsed["_calname"] == "Cités éducatives de Guyane"
    assert parsed["startZone"] == "America/Cayenne"
    assert "DTSTART;TZID=America/Cayenne:20270609T140000" in feed.body.decode()


def test_minutes_header_in_the_room_zone_and_network(say, db, config, room):
    from bot.minutes.load import build_view
    from bot.storage.models import Seance
    say(FACILITATOR, "!salon fuseau Guyane")
    say(FACILITATOR, "!salon reseau Cités éducatives de Guyane")
    say(FACILITATOR, "!rencontre planifier 9 juin 2027 14h-17h\ntitre: Réseau CPO")
    with db.session() as session:
        found = session.exec(select(Rencontre)).one()
        seance = Seance(room_id=ROOM, number=1, rencontre_id=found.id, title="Réseau CPO",
                        opened_at=found.start_at, status="closed",
                        closed_at=found.start_at + timedelta(hours=3))
        session.add(seance)
        session.flush()
        header = build_view(session, seance, config, room, found.start_at + timedelta(hours=4),
                            draft=False).header
    assert header.network_name == "Cités éducatives de Guyane"
    assert (header.date_text, header.hours_text) == ("mercredi 9 juin 2027", "14h–17h (heure de Guyane)")
