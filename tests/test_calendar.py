"""Calendar invitations: what a rencontre becomes in .ics files, and the commands.

Every file is read back by ical.js and vobject (tests/icalcheck.py) and checked
against our own rules; the commands run through the registry over a real database.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from bot.calendar import invites as calendar
from bot.domain.dates import parse_recurrence
from bot.domain.rencontres import recurrence_dict
from bot.engine.registry import PermissionDenied, UsageError, dispatch, parse_invocation
from bot.storage.models import (
    CalendarFeed,
    CancelledOccurrence,
    EmailOutbox,
    Registration,
    Rencontre,
    RencontreStatus,
    Room,
    RsvpStatus,
    Subscriber,
)
from bot.support.errors import UserError
from bot.support.signals import rencontre_changed
from tests.conftest import FACILITATOR, MEMBER, NOW, ROOM, make_config
from tests.icalcheck import check_rules, parse_both

PARIS = ZoneInfo("Europe/Paris")
SENDER = "maillage@reseau-cpo.test"
BOT = "@maillage:localhost"
UID = "rencontre-0f0f0f0f@localhost"
OTHER = "@quentin:localhost"           # subscribed, but not in the room


@pytest.fixture
def config(tmp_path):
    return make_config(tmp_path, email={"host": "127.0.0.1", "port": 2525, "starttls": False,
                                        "from": f"Maillage <{SENDER}>"})


def add_rencontre(session, **fields) -> Rencontre:
    defaults = {
        "room_id": ROOM, "number": 4, "uid": UID, "title": "Réseau CPO — rencontre de décembre",
        "start_at": datetime(2026, 12, 3, 14, tzinfo=PARIS),
        "end_at": datetime(2026, 12, 3, 17, tzinfo=PARIS), "mode": "distanciel",
        "link": "https://visio.reseau.test/cpo", "objective": "Partager les pratiques",
        "agenda": ["Tour de table", "Présentation de la CE d'Arras"],
        "speakers": ["Nicolas Labre (CE Arras)"], "created_by": FACILITATOR,
        "created_at": NOW, "updated_at": NOW,
    }
    rencontre = Rencontre(**{**defaults, **fields})
    session.add(rencontre)
    session.flush()
    return rencontre


def subscribe(session, user_id: str, email: str = "") -> None:
    session.add(Subscriber(room_id=ROOM, user_id=user_id, email=email, created_at=NOW))
    session.flush()


def run(ctx, text: str) -> None:
    dispatch(ctx, parse_invocation(text, "!", ctx.registry))


def files(ctx) -> list:
    return [o for o in ctx.outgoing if o.file_data is not None]


def parsed(data: bytes, method: str | None) -> dict:
    check_rules(data, method)
    [event] = parse_both(data)
    assert event["_method"] == method
    assert event["dtstamp"].endswith("Z")
    return event


def emails(session) -> list[EmailOutbox]:
    return list(session.exec(select(EmailOutbox).order_by(EmailOutbox.id)))


# --------------------------------------------------------------------------- delivery


def test_create_modify_cancel_reach_room_dm_and_email(make_ctx):
    ctx = make_ctx(sender=FACILITATOR, event_id="$create")
    subscribe(ctx.session, MEMBER, "anabela@ville-beauvais.fr")
    subscribe(ctx.session, FACILITATOR)
    rencontre = add_rencontre(ctx.session)

    seen = []
    for change in ("created", "modified", "cancelled"):
        if change == "modified":
            rencontre.start_at = datetime(2026, 12, 10, 9, 30, tzinfo=PARIS)
            rencontre.end_at = datetime(2026, 12, 10, 12, tzinfo=PARIS)
            rencontre.sequence += 1
        if change == "cancelled":
            rencontre.status, rencontre.cancel_reason = RencontreStatus.CANCELLED, "grève"
            rencontre.sequence += 1
        ctx.outgoing.clear()
        rencontre_changed.send(ctx, rencontre, change)
        room_file, *direct = files(ctx)
        assert (room_file.room_id, room_file.dm_user) == (ROOM, None)
        assert room_file.content["info"]["mimetype"] == "text/calendar"
        assert room_file.content["body"] == room_file.content["filename"]
        assert room_file.content["body"].endswith("-reseau-cpo-rencontre-de-decembre.ics")
        in_room = parsed(room_file.file_data, "PUBLISH")
        dm_method = "CANCEL" if change == "cancelled" else "REQUEST"
        assert sorted(o.dm_user for o in direct) == sorted([MEMBER, FACILITATOR])
        assert all(o.room_id == "" for o in direct)
        by_dm = [parsed(o.file_data, dm_method) for o in direct]
        seen.append((change, in_room, by_dm))

    uids = {e["uid"] for _, room_event, dms in seen for e in [room_event, *dms]}
    assert uids == {UID}
    assert [room_event["sequence"] for _, room_event, _ in seen] == [0, 1, 2]
    created, modified, cancelled = (room_event for _, room_event, _ in seen)
    assert created["start"] == "2026-12-03T13:00:00Z" and created["startZone"] == "Europe/Paris"
    assert modified["start"] == "2026-12-10T08:30:00Z"
    assert [created["status"], modified["status"], cancelled["status"]] == [
        "CONFIRMED", "CONFIRMED", "CANCELLED"]
    assert cancelled["description"].startswith("RENCONTRE ANNULÉE. Motif : grève")

    mails = emails(ctx.session)
    assert [(m.recipient, m.method) for m in mails] == [
        ("anabela@ville-beauvais.fr", "REQUEST")] * 2 + [("anabela@ville-beauvais.fr", "CANCEL")]
    assert [parsed(m.ics, m.method)["sequence"] for m in mails] == [0, 1, 2]
    assert mails[0].subject.startswith("Invitation : Réseau CPO — rencontre de décembre — jeudi 3")
    assert mails[2].subject.startswith("Rencontre annulée : ")
    assert "Cette rencontre est annulée." in mails[2].text
    assert "« !desabonner »" in mails[0].text and "Inscription : tapez « !inscription 4 »" in mails[0].text


def test_dm_notice_comes_with_the_file(make_ctx):
    ctx = make_ctx(sender=FACILITATOR)
    subscribe(ctx.session, MEMBER)
    rencontre = add_rencontre(ctx.session)
    rencontre_changed.send(ctx, rencontre, "created")
    notice, upload = [o for o in ctx.outgoing if o.dm_user == MEMBER]
    assert notice.content["msgtype"] == "m.notice" and upload.content["msgtype"] == "m.file"
    assert "Invitation" in notice.content["body"] and "!desabonner" in notice.content["body"]
    assert "ajoute ou met à jour" in notice.content["body"]

    ctx.outgoing.clear()
    rencontre.status = RencontreStatus.CANCELLED
    rencontre_changed.send(ctx, rencontre, "cancelled")
    notice, upload = [o for o in ctx.outgoing if o.dm_user == MEMBER]
    assert "Rencontre annulée" in notice.content["body"]
    assert "Cette rencontre est annulée." in notice.content["body"]
    assert "la retire de votre agenda" in notice.content["body"]


def test_subscribers_who_left_the_room_get_nothing(make_ctx):
    ctx = make_ctx(sender=FACILITATOR)
    subscribe(ctx.session, OTHER, "quentin@soissons.fr")
    rencontre_changed.send(ctx, add_rencontre(ctx.session), "created")
    assert [o.room_id for o in ctx.outgoing] == [ROOM]
    assert emails(ctx.session) == []


def test_no_email_without_email_config(make_ctx):
    ctx = make_ctx(sender=FACILITATOR)
    ctx = replace(ctx, config=replace(ctx.config, email=None))
    subscribe(ctx.session, MEMBER, "anabela@ville-beauvais.fr")
    rencontre_changed.send(ctx, add_rencontre(ctx.session), "created")
    assert [o.dm_user for o in files(ctx)] == [None, MEMBER]
    assert emails(ctx.session) == []


def test_attendees_partstat_and_private_addresses(make_ctx, room):
    ctx = make_ctx(sender=FACILITATOR)
    room.joined.add("@samira:localhost")
    room.display_names["@samira:localhost"] = "Samira K."
    subscribe(ctx.session, MEMBER, "anabela@ville-beauvais.fr")
    subscribe(ctx.session, FACILITATOR, "maita@irev.fr")
    subscribe(ctx.session, "@samira:localhost")
    rencontre = add_rencontre(ctx.session)
    ctx.session.add_all([
        Registration(rencontre_id=rencontre.id, user_id=MEMBER, status=RsvpStatus.REGISTERED,
                     updated_at=NOW),
        Registration(rencontre_id=rencontre.id, user_id=FACILITATOR, status=RsvpStatus.EXCUSED,
                     reason="formation", updated_at=NOW)])
    ctx.session.flush()
    rencontre_changed.send(ctx, rencontre, "created")

    in_room = parsed(files(ctx)[0].file_data, "PUBLISH")
    assert {(a["cn"], a["address"], a["partstat"]) for a in in_room["attendees"]} == {
        ("Anabela De Castro", f"https://matrix.to/#/{MEMBER}", "ACCEPTED"),
        ("Maïta Giraldi", f"https://matrix.to/#/{FACILITATOR}", "DECLINED"),
        ("Samira K.", "https://matrix.to/#/@samira:localhost", "NEEDS-ACTION"),
    }
    assert b"mailto:anabela" not in b"".join(o.file_data for o in files(ctx))
    by_recipient = {m.recipient: parsed(m.ics, "REQUEST") for m in emails(ctx.session)}
    to_anabela = {a["address"] for a in by_recipient["anabela@ville-beauvais.fr"]["attendees"]}
    assert to_anabela == {"mailto:anabela@ville-beauvais.fr", f"https://matrix.to/#/{FACILITATOR}",
                          "https://matrix.to/#/@samira:localhost"}
    assert {a["address"] for a in by_recipient["maita@irev.fr"]["attendees"]} >= {"mailto:maita@irev.fr"}


def test_profile_name_is_used_for_attendees(make_ctx):
    from bot.storage.models import Profile

    ctx = make_ctx(sender=FACILITATOR)
    ctx.session.add(Profile(user_id=MEMBER, full_name="Mme De Castro Anabela", updated_at=NOW))
    subscribe(ctx.session, MEMBER)
    rencontre_changed.send(ctx, add_rencontre(ctx.session), "created")
    [attendee] = parsed(files(ctx)[0].file_data, "PUBLISH")["attendees"]
    assert attendee["cn"] == "Mme De Castro Anabela"


def test_organizer_is_the_bot(make_ctx):
    ctx = make_ctx(sender=FACILITATOR)
    rencontre = add_rencontre(ctx.session)
    rencontre_changed.send(ctx, rencontre, "created")
    organizer = parsed(files(ctx)[0].file_data, "PUBLISH")["organizer"]
    assert organizer == {"cn": "Cités éducatives des Hauts-de-France", "address": f"mailto:{SENDER}"}

    ctx.outgoing.clear()
    ctx = replace(ctx, config=replace(ctx.config, email=None))
    rencontre_changed.send(ctx, rencontre, "modified")
    organizer = parsed(files(ctx)[0].file_data, "PUBLISH")["organizer"]
    assert organizer["address"] == f"https://matrix.to/#/{BOT}"


def test_description_location_url_and_alarms(make_ctx):
    ctx = make_ctx(sender=FACILITATOR)
    rencontre = add_rencontre(ctx.session, mode="hybride", place="Salle 3, mairie de Soissons")
    rencontre_changed.send(ctx, rencontre, "created")
    event = parsed(files(ctx)[0].file_data, "PUBLISH")
    assert event["description"].splitlines() == [
        "Objectif : Partager les pratiques",
        "Ordre du jour :",
        "- Tour de table",
        "- Présentation de la CE d'Arras",
        "Intervenant·e·s :",
        "- Nicolas Labre (CE Arras)",
        "Modalité : hybride",
        "Lieu : Salle 3, mairie de Soissons",
        "Lien : https://visio.reseau.test/cpo",
        "",
        "Inscription : tapez « !inscription 4 » dans le salon.",
        "Empêché·e ? Tapez « !excuse 4 [motif] ».",
        f"Salon : https://matrix.to/#/{ROOM}",
    ]
    assert event["location"] == "Salle 3, mairie de Soissons"
    assert event["url"] == "https://visio.reseau.test/cpo"
    assert [a["trigger"] for a in event["alarms"]] == ["-P7D", "-P1D", "-PT1H"]


def test_room_reminder_offsets_are_the_alarms(make_ctx):
    ctx = make_ctx(sender=FACILITATOR)
    stored = Room(room_id=ROOM, joined_at=NOW, reminder_offsets=[2880, 30])
    ctx.session.add(stored)
    rencontre = add_rencontre(ctx.session)
    rencontre_changed.send(ctx, rencontre, "created")
    event = parsed(files(ctx)[0].file_data, "PUBLISH")
    assert [a["trigger"] for a in event["alarms"]] == ["-P2D", "-PT30M"]

    stored.reminder_offsets = []  # "!rappels aucun"
    ctx.outgoing.clear()
    rencontre_changed.send(ctx, rencontre, "modified")
    assert parsed(files(ctx)[0].file_data, "PUBLISH")["alarms"] == []


def test_recurring_with_a_cancelled_occurrence(make_ctx):
    ctx = make_ctx(sender=FACILITATOR)
    subscribe(ctx.session, MEMBER, "anabela@ville-beauvais.fr")
    start = datetime(2026, 12, 3, 14, tzinfo=PARIS)  # first Thursday
    rencontre = add_rencontre(ctx.session, start_at=start, end_at=start + timedelta(hours=2),
                              recurrence=recurrence_dict(parse_recurrence("tous les mois", start)))
    skipped = datetime(2027, 1, 7, 14, tzinfo=PARIS)
    ctx.session.add(CancelledOccurrence(rencontre_id=rencontre.id, occurrence_start=skipped))
    rencontre.sequence = 1
    ctx.session.flush()
    rencontre_changed.send(ctx, rencontre, "occurrence_cancelled", occurrence_start=skipped)

    for data, method in [(files(ctx)[0].file_data, "PUBLISH"), (files(ctx)[1].file_data, "REQUEST")]:
        event = parsed(data, method)
        assert event["rrule"] == "FREQ=MONTHLY;BYDAY=1TH"
        assert event["occurrences"][:3] == [
            "2026-12-03T13:00:00Z", "2027-02-04T13:00:00Z", "2027-03-04T13:00:00Z"]
        assert event["status"] == "CONFIRMED"
    [mail] = emails(ctx.session)
    assert mail.method == "REQUEST" and mail.subject.startswith("Date annulée : ")
    assert "La date du jeudi 7 janvier 2027, 14h est annulée" in mail.text
    assert "puis tous les mois (le 1er jeudi du mois)" in mail.subject


def test_all_day(make_ctx):
    ctx = make_ctx(sender=FACILITATOR)
    subscribe(ctx.session, MEMBER)
    rencontre = add_rencontre(ctx.session, start_at=datetime(2027, 7, 7, tzinfo=PARIS),
                              end_at=datetime(2027, 7, 8, tzinfo=PARIS), all_day=True)
    rencontre_changed.send(ctx, rencontre, "created")
    for data, method in [(files(ctx)[0].file_data, "PUBLISH"), (files(ctx)[1].file_data, "REQUEST")]:
        event = parsed(data, method)
        assert (event["isDate"], event["start"], event["end"]) == (True, "2027-07-07", "2027-07-08")
        assert b"DTSTART;VALUE=DATE:20270707" in data and b"BEGIN:VTIMEZONE" not in data


def test_injection_from_a_rencontre_round_trips(make_ctx):
    ctx = make_ctx(sender=FACILITATOR)
    subscribe(ctx.session, MEMBER, "anabela@ville-beauvais.fr")
    title = ('Réunion ; , \\ : "citée" END:VEVENT\nBEGIN:VEVENT 🎉 اجتماع 会议 Встреча '
             + "x;y,z " * 80 + "fin")
    assert len(title) >= 500
    place = "Salle « A » ; bât. 2, étage 1\nDTSTART:19700101T000000Z"
    rencontre = add_rencontre(ctx.session, title=title, place=place, objective="a;b,c\\d\n:e",
                              agenda=["point ; un", "END:VCALENDAR"])
    rencontre_changed.send(ctx, rencontre, "created")
    datas = [o.file_data for o in files(ctx)] + [m.ics for m in emails(ctx.session)]
    for data, method in zip(datas, ["PUBLISH", "REQUEST", "REQUEST"], strict=True):
        event = parsed(data, method)
        assert event["summary"] == title
        assert event["location"] == place
        assert "Objectif : a;b,c\\d\n:e" in event["description"]
        assert "- END:VCALENDAR" in event["description"]
        assert event["alarms"][0]["description"] == title
        text = data.decode()
        assert len(re.findall(r"^BEGIN:VEVENT\r$", text, flags=re.MULTILINE)) == 1
        assert len(re.findall(r"^DTSTART", text, flags=re.MULTILINE)) == 1 + text.count(
            "BEGIN:STANDARD") + text.count("BEGIN:DAYLIGHT")


# --------------------------------------------------------------------------- !abonner / !desabonner


def subscriber(session, user_id=MEMBER) -> Subscriber | None:
    return session.get(Subscriber, (ROOM, user_id))


def test_subscribe_with_email(make_ctx):
    ctx = make_ctx()
    run(ctx, "!abonner Anabela.De-Castro@Ville-Beauvais.FR")
    assert subscriber(ctx.session).email == "Anabela.De-Castro@ville-beauvais.fr"
    [reply] = ctx.replies
    assert "en message direct et par e-mail" in reply and "!desabonner" in reply


@pytest.mark.parametrize("address", [
    "anabela", "anabela@", "@ville.fr", "anabela@ville", "ana bela@ville.fr", "a@@ville.fr",
    "a..b@ville.fr", ".a@ville.fr", "a.@ville.fr", "a@ville..fr", "a@-ville.fr", "a@ville-.fr",
    "a@ville.f", "a@ville.123", "a@[127.0.0.1]", '"a b"@ville.fr', "anabéla@ville.fr",
    "a@ville.fr, b@ville.fr", "<a@ville.fr>", "mailto:a@ville.fr", "a@ville.fr\nBcc: x@y.fr",
    "a" * 65 + "@ville.fr", "a@" + "b" * 64 + ".fr",
])
def test_subscribe_refuses_invalid_addresses(make_ctx, address):
    ctx = make_ctx()
    with pytest.raises(UserError) as refused:
        run(ctx, f"!abonner {address}")
    assert refused.value.usage == "abonner [e-mail]"
    assert "exemple" in refused.value.message or "valide" in refused.value.message \
        or "longue" in refused.value.message
    assert subscriber(ctx.session) is None


@pytest.mark.parametrize("address", ["a@ville.fr", "a.b+cpo@sous.domaine.ville.fr",
                                     "o'neil@ville.fr", "x@mairie-évry.fr", "x@xn--bcher-kva.de"])
def test_subscribe_accepts_valid_addresses(make_ctx, address):
    ctx = make_ctx()
    run(ctx, f"!subscribe {address}")
    assert "@" in subscriber(ctx.session).email
    assert subscriber(ctx.session).email.isascii()


def test_subscribe_sends_planned_rencontres_once(make_ctx):
    ctx = make_ctx()
    add_rencontre(ctx.session)
    add_rencontre(ctx.session, number=5, uid="rencontre-past@localhost",
                  start_at=NOW - timedelta(days=3), end_at=NOW - timedelta(days=3, hours=-2))
    run(ctx, "!abonner anabela@ville-beauvais.fr")
    assert [parsed(o.file_data, "REQUEST")["uid"] for o in files(ctx)] == [UID]
    assert [m.recipient for m in emails(ctx.session)] == ["anabela@ville-beauvais.fr"]
    assert "Les rencontres déjà prévues vous sont envoyées (1)" in ctx.replies[-1]
    ctx.session.commit()

    again = make_ctx(event_id="$again")
    run(again, "!abonner anabela@ville-beauvais.fr")
    assert files(again) == []  # already subscribed: no second DM
    assert len(emails(again.session)) == 1  # nor a second e-mail of the same version


def test_subscribe_without_email_config_keeps_no_address(make_ctx):
    ctx = make_ctx()
    ctx = replace(ctx, config=replace(ctx.config, email=None))
    run(ctx, "!abonner anabela@ville-beauvais.fr")
    assert subscriber(ctx.session).email == ""
    assert "pas activé" in ctx.replies[-1]


def test_subscribe_again_without_email_drops_it(make_ctx):
    ctx = make_ctx()
    run(ctx, "!abonner anabela@ville-beauvais.fr")
    run(ctx, "!abonner")
    assert subscriber(ctx.session).email == ""
    assert "n'est plus utilisée" in ctx.replies[-1]


def test_unsubscribe(make_ctx):
    ctx = make_ctx()
    add_rencontre(ctx.session)
    run(ctx, "!abonner anabela@ville-beauvais.fr")
    assert len(emails(ctx.session)) == 1
    run(ctx, "!unsubscribe")
    assert subscriber(ctx.session) is None
    assert emails(ctx.session) == []  # the unsent invitation is withdrawn too
    assert "ne recevrez plus" in ctx.replies[-1]


def test_unsubscribe_when_not_subscribed_is_refused(make_ctx):
    ctx = make_ctx()
    with pytest.raises(UsageError, match="pas abonné·e"):
        run(ctx, "!desabonner")


# --------------------------------------------------------------------------- !agenda


def feed_row(session) -> CalendarFeed | None:
    return session.get(CalendarFeed, ROOM)


def test_agenda_creates_the_token_once_and_lists_next_rencontres(make_ctx, config):
    ctx = make_ctx()
    add_rencontre(ctx.session)
    add_rencontre(ctx.session, number=5, uid="rencontre-annulee@localhost",
                  status=RencontreStatus.CANCELLED)
    run(ctx, "!agenda")
    token = feed_row(ctx.session).token
    assert len(token) >= 32 and re.fullmatch(r"[A-Za-z0-9_-]+", token)  # ≥ 192 bits
    reply = ctx.replies[-1]
    assert f"{config.http.public_url}/calendar/{token}.ics" in reply
    assert f"webcal://127.0.0.1:8080/calendar/{token}.ics" in reply
    assert f"{config.http.public_url}/minutes/{token}/" in reply
    assert "#4 jeudi 3 décembre 2026, 14h–17h — Réseau CPO — rencontre de décembre (distanciel)" in reply
    assert "#5" not in reply

    run(ctx, "!calendar")
    assert feed_row(ctx.session).token == token


def test_agenda_with_unknown_argument_is_refused(make_ctx):
    with pytest.raises(UsageError, match="je ne comprends pas"):
        run(make_ctx(), "!agenda demain")


def test_new_link_is_for_facilitators(make_ctx):
    member = make_ctx()
    run(member, "!agenda")
    token = feed_row(member.session).token
    with pytest.raises(PermissionDenied):
        run(member, "!agenda nouveau-lien")
    assert feed_row(member.session).token == token


def test_new_link_revokes_the_old_one(make_ctx):
    ctx = make_ctx(sender=FACILITATOR)
    run(ctx, "!agenda")
    old = feed_row(ctx.session).token
    run(ctx, "!agenda nouveau-lien")
    new = feed_row(ctx.session).token
    assert new != old and new in ctx.replies[-1] and old not in ctx.replies[-1]
    assert calendar.find_feed(ctx.session, old) is None
    assert calendar.find_feed(ctx.session, new).room_id == ROOM


def test_new_link_with_unexpected_words_keeps_the_link(make_ctx):
    ctx = make_ctx(sender=FACILITATOR)
    run(ctx, "!agenda")
    old = feed_row(ctx.session).token
    with pytest.raises(UsageError, match="ne prend pas d'argument"):
        run(ctx, "!agenda nouveau-lien svp")
    assert feed_row(ctx.session).token == old


def test_unsubscribe_with_unexpected_words_keeps_the_subscription(make_ctx):
    ctx = make_ctx()
    run(ctx, "!abonner")
    with pytest.raises(UsageError, match="ne prend pas d'argument"):
        run(ctx, "!desabonner anabela@ville-beauvais.fr")
    assert subscriber(ctx.session) is not None


def test_agenda_refusal_quotes_an_excerpt(make_ctx):
    with pytest.raises(UsageError) as caught:
        run(make_ctx(), "!agenda " + "x" * 19_900)
    assert len(caught.value.message) < 300 and "x" * 80 + "…" in caught.value.message


def test_feed_contains_recent_and_future_rencontres(make_ctx, config):
    ctx = make_ctx()
    add_rencontre(ctx.session)
    add_rencontre(ctx.session, number=1, uid="rencontre-old@localhost",
                  start_at=NOW - timedelta(days=200), end_at=None)
    add_rencontre(ctx.session, number=2, uid="rencontre-recent@localhost",
                  start_at=NOW - timedelta(days=150), end_at=None)
    add_rencontre(ctx.session, number=3, uid="rencontre-cancelled@localhost",
                  status=RencontreStatus.CANCELLED, updated_at=NOW + timedelta(hours=1))
    series_start = datetime(2025, 1, 2, 14, tzinfo=PARIS)  # long ago, still repeating
    add_rencontre(ctx.session, number=6, uid="rencontre-series@localhost", start_at=series_start,
                  end_at=series_start + timedelta(hours=2),
                  recurrence=recurrence_dict(parse_recurrence("tous les mois", series_start)))
    token = calendar.feed_token(ctx.session, ROOM, NOW)
    feed = calendar.feed_for_token(ctx.session, config, token, BOT, NOW)
    check_rules(feed.body, None)
    events = {e["uid"]: e for e in parse_both(feed.body)}
    assert set(events) == {UID, "rencontre-recent@localhost", "rencontre-cancelled@localhost",
                           "rencontre-series@localhost"}
    assert events["rencontre-cancelled@localhost"]["status"] == "CANCELLED"
    assert events["rencontre-series@localhost"]["occurrences"][0] == "2025-01-02T13:00:00Z"
    assert all(e["attendees"] == [] for e in events.values())
    assert feed.last_modified == NOW + timedelta(hours=1)
    assert events[UID]["_calname"] == "Cités éducatives des Hauts-de-France"
    assert calendar.feed_for_token(ctx.session, config, token, BOT, NOW + timedelta(days=1)).body \
        == feed.body  # stable between polls: DTSTAMP is the last change, not the request time
    assert calendar.feed_for_token(ctx.session, config, "x" + token, BOT, NOW) is None


def test_feed_dtstamp_is_utc(make_ctx, config):
    ctx = make_ctx()
    add_rencontre(ctx.session, updated_at=datetime(2026, 11, 20, 17, 45, tzinfo=PARIS))
    token = calendar.feed_token(ctx.session, ROOM, NOW - timedelta(days=30))
    body = calendar.feed_for_token(ctx.session, config, token, BOT, NOW).body
    assert b"DTSTAMP:20261120T164500Z" in body
    assert parse_both(body)[0]["dtstamp"] == datetime(2026, 11, 20, 16, 45, tzinfo=UTC).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def test_people_who_answered_are_attendees_even_without_subscribing(make_ctx):
    ctx = make_ctx(sender=FACILITATOR)
    rencontre = add_rencontre(ctx.session)
    ctx.session.add(Registration(rencontre_id=rencontre.id, user_id=MEMBER,
                                 status=RsvpStatus.REGISTERED, updated_at=NOW))
    ctx.session.flush()
    rencontre_changed.send(ctx, rencontre, "modified")
    [attendee] = parsed(files(ctx)[0].file_data, "PUBLISH")["attendees"]
    assert (attendee["address"], attendee["partstat"]) == (f"https://matrix.to/#/{MEMBER}", "ACCEPTED")
