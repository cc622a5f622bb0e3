"""bot.calendar.ics: every generated object is read back by two independent parsers.

ical.js (Node, Mozilla/Thunderbird) and vobject (Python, dateutil) must agree
with each other and with the expected values; see tests/icalcheck.py.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.calendar.ics import PRODID, Attendee, CalendarEvent, build_calendar, ics_filename
from tests.icalcheck import check_rules, parse_both, parse_with_icaljs, parse_with_vobject

PARIS = ZoneInfo("Europe/Paris")
UID = "rencontre-6f1c2d3e-0000-4000-8000-000000000001@maillage"
DTSTAMP = datetime(2027, 5, 2, 8, 30, tzinfo=UTC)
ORGANIZER = "mailto:animation@maillage.example.fr"


BASE = CalendarEvent(
    uid=UID,
    sequence=0,
    summary="Réseau CPO — rencontre de juin",
    description="Objectif : partager les pratiques.\nOrdre du jour :\n1. Tour de table",
    start=datetime(2027, 6, 9, 14, 0, tzinfo=PARIS),
    end=datetime(2027, 6, 9, 16, 0, tzinfo=PARIS),
    all_day=False,
    tzid="Europe/Paris",
    location="Salle 3, 12 rue de la Paix, Paris",
    url="https://maillage.example.fr/rencontres/42",
    organizer_name="Équipe Maillage",
    organizer_address=ORGANIZER,
    attendees=(
        Attendee("Zoé Martin", "mailto:zoe.martin@example.fr", "ACCEPTED"),
        Attendee("Karim B.", "https://matrix.to/#/@karim:matrix.example.fr", "TENTATIVE"),
        Attendee("Li Wei", "mailto:li.wei@example.fr", "NEEDS-ACTION"),
        Attendee("Ana", "mailto:ana@example.fr", "DECLINED"),
    ),
    alarms=(timedelta(days=1), timedelta(hours=1)),
    created=datetime(2027, 5, 1, 9, 0, tzinfo=PARIS),
    last_modified=datetime(2027, 5, 2, 10, 30, tzinfo=PARIS),
)


def make_event(**overrides) -> CalendarEvent:
    return replace(BASE, **overrides)


def build_and_parse(events, *, method, **kwargs) -> tuple[bytes, list[dict]]:
    data = build_calendar(events, method=method, dtstamp=kwargs.pop("dtstamp", DTSTAMP), **kwargs)
    check_rules(data, method)
    parsed = parse_both(data)
    assert [e["_method"] for e in parsed] == [method] * len(parsed)
    return data, parsed


def unfolded(data: bytes) -> list[str]:
    return data.decode("utf-8").replace("\r\n ", "").split("\r\n")


def vtimezone_blocks(data: bytes) -> list[str]:
    return re.findall(r"BEGIN:VTIMEZONE.*?END:VTIMEZONE", data.decode(), flags=re.DOTALL)


# --------------------------------------------------------------------------- iTIP flow


def test_create_request():
    data, [event] = build_and_parse([make_event()], method="REQUEST", calname="Maillage")

    assert event["uid"] == UID
    assert event["sequence"] == 0
    assert event["status"] == "CONFIRMED"
    assert event["summary"] == "Réseau CPO — rencontre de juin"
    assert event["description"].splitlines() == [
        "Objectif : partager les pratiques.",
        "Ordre du jour :",
        "1. Tour de table",
    ]
    assert event["location"] == "Salle 3, 12 rue de la Paix, Paris"
    assert event["url"] == "https://maillage.example.fr/rencontres/42"
    # 2027-06-09 14:00 Europe/Paris (CEST, +02:00) is 12:00Z
    assert (event["start"], event["end"]) == ("2027-06-09T12:00:00Z", "2027-06-09T14:00:00Z")
    assert event["startZone"] == "Europe/Paris"
    assert event["isDate"] is False
    assert event["dtstamp"] == "2027-05-02T08:30:00Z"
    assert event["created"] == "2027-05-01T07:00:00Z"
    assert event["lastModified"] == "2027-05-02T08:30:00Z"
    assert event["organizer"] == {"cn": "Équipe Maillage", "address": ORGANIZER}
    assert event["_calname"] == "Maillage"

    lines = unfolded(data)
    assert f"PRODID:{PRODID}" in lines
    assert "METHOD:REQUEST" in lines
    assert "DTSTART;TZID=Europe/Paris:20270609T140000" in lines
    assert "DTSTAMP:20270502T083000Z" in lines
    assert "X-WR-CALNAME:Maillage" in lines
    assert not any(line.startswith("X-WR-TIMEZONE") for line in lines)  # iTIP: no hint


def test_attendees_and_alarms():
    _, [event] = build_and_parse([make_event()], method="REQUEST")

    assert [(a["cn"], a["partstat"]) for a in event["attendees"]] == [
        ("Zoé Martin", "ACCEPTED"),
        ("Karim B.", "TENTATIVE"),
        ("Li Wei", "NEEDS-ACTION"),
        ("Ana", "DECLINED"),
    ]
    assert event["attendees"][1]["address"] == "https://matrix.to/#/@karim:matrix.example.fr"
    assert {(a["role"], a["rsvp"]) for a in event["attendees"]} == {("REQ-PARTICIPANT", "FALSE")}
    assert event["alarms"] == [
        {"action": "DISPLAY", "trigger": "-P1D", "description": "Réseau CPO — rencontre de juin"},
        {"action": "DISPLAY", "trigger": "-PT1H", "description": "Réseau CPO — rencontre de juin"},
    ]


def test_modify_keeps_uid_and_raises_sequence():
    first, [before] = build_and_parse([make_event()], method="REQUEST")
    moved = make_event(
        sequence=1,
        start=datetime(2027, 6, 10, 9, 30, tzinfo=PARIS),
        end=datetime(2027, 6, 10, 12, 0, tzinfo=PARIS),
        location="Visioconférence",
    )
    second, [after] = build_and_parse(
        [moved], method="REQUEST", dtstamp=DTSTAMP + timedelta(days=3)
    )

    assert after["uid"] == before["uid"] == UID
    assert after["sequence"] > before["sequence"]
    assert after["dtstamp"] > before["dtstamp"]
    assert (after["start"], after["end"]) == ("2027-06-10T07:30:00Z", "2027-06-10T10:00:00Z")
    assert after["location"] == "Visioconférence"
    assert first != second


def test_cancel():
    # STATUS:CANCELLED is forced by METHOD:CANCEL even if the flag was not set.
    data, [event] = build_and_parse([make_event(sequence=2)], method="CANCEL")

    assert event["uid"] == UID
    assert event["sequence"] == 2
    assert event["status"] == "CANCELLED"
    assert event["organizer"]["address"] == ORGANIZER
    assert "METHOD:CANCEL" in unfolded(data)


@pytest.mark.parametrize("method", ["REQUEST", "CANCEL"])
def test_itip_without_organizer_is_refused(method):
    with pytest.raises(ValueError, match="organizer"):
        build_calendar(
            [make_event(organizer_address="", organizer_name="")], method=method, dtstamp=DTSTAMP
        )


def test_publish_and_feed_accept_no_organizer():
    event = make_event(organizer_address="", organizer_name="")
    for method in ("PUBLISH", None):
        data, [parsed] = build_and_parse([event], method=method)
        assert parsed["organizer"] is None
        assert not any(line.startswith("ORGANIZER") for line in unfolded(data))


def test_itip_message_carries_one_uid():
    events = [make_event(), make_event(uid="rencontre-autre@maillage")]
    with pytest.raises(ValueError, match="UID"):
        build_calendar(events, method="REQUEST", dtstamp=DTSTAMP)


# --------------------------------------------------------------------------- times


@pytest.mark.parametrize(
    ("tzid", "local", "expected_utc"),
    [
        ("Europe/Paris", (2027, 6, 9, 14, 0), "2027-06-09T12:00:00Z"),  # CEST
        ("Europe/Paris", (2027, 1, 14, 14, 0), "2027-01-14T13:00:00Z"),  # CET
        ("Europe/Paris", (2027, 3, 28, 10, 0), "2027-03-28T08:00:00Z"),  # DST day
        ("Europe/Paris", (2027, 10, 31, 10, 0), "2027-10-31T09:00:00Z"),  # back to CET
        ("America/New_York", (2027, 6, 9, 14, 0), "2027-06-09T18:00:00Z"),
        ("Australia/Sydney", (2027, 1, 14, 14, 0), "2027-01-14T03:00:00Z"),  # AEDT
        ("Australia/Sydney", (2027, 6, 9, 14, 0), "2027-06-09T04:00:00Z"),  # AEST
        ("Asia/Tokyo", (2027, 6, 9, 14, 0), "2027-06-09T05:00:00Z"),
        ("Indian/Reunion", (2027, 6, 9, 14, 0), "2027-06-09T10:00:00Z"),
    ],
)
def test_utc_instants(tzid, local, expected_utc):
    zone = ZoneInfo(tzid)
    start = datetime(*local, tzinfo=zone)
    event = make_event(start=start, end=start + timedelta(hours=2), tzid=tzid)
    data, [parsed] = build_and_parse([event], method="PUBLISH")

    assert parsed["start"] == expected_utc
    assert parsed["startZone"] == tzid
    [block] = vtimezone_blocks(data)
    assert f"TZID:{tzid}" in block


def test_start_is_expressed_in_the_event_tzid():
    # An instant given in UTC is written in the event's own zone.
    start = datetime(2027, 1, 14, 13, 0, tzinfo=UTC)
    event = make_event(start=start, end=start + timedelta(hours=1))
    data, [parsed] = build_and_parse([event], method="PUBLISH")
    assert "DTSTART;TZID=Europe/Paris:20270114T140000" in unfolded(data)
    assert parsed["start"] == "2027-01-14T13:00:00Z"


def test_utc_tzid_needs_no_vtimezone():
    start = datetime(2027, 6, 9, 12, 0, tzinfo=UTC)
    event = make_event(start=start, end=start + timedelta(hours=1), tzid="UTC")
    data, [parsed] = build_and_parse([event], method="PUBLISH")
    assert "DTSTART:20270609T120000Z" in unfolded(data)
    assert vtimezone_blocks(data) == []
    assert parsed["start"] == "2027-06-09T12:00:00Z"


def test_event_without_end():
    data, [parsed] = build_and_parse([make_event(end=None)], method="PUBLISH")
    assert parsed["end"] is None
    assert not any(line.startswith("DTEND") for line in unfolded(data))


def test_vtimezone_is_compact():
    data = build_calendar([make_event()], method="REQUEST", dtstamp=DTSTAMP)
    [block] = vtimezone_blocks(data)
    assert "2027-01-01 to 2028-01-01" in block  # only the year of the event
    assert len(block.splitlines()) < 30
    assert not re.search(r"(19[0-9]{2}|20[3-9][0-9])\d{4}T", block)


def test_vtimezone_is_right_for_every_year_it_spans():
    # Regressions: ical.js ignores an observance's DTSTART once it has RDATE, and
    # both ical.js and vobject read only the first value of a multi-valued RDATE.
    events = [
        make_event(uid=f"rencontre-{year}-{month}@maillage", start=start, end=None)
        for year in range(2027, 2032)
        for month in (1, 6)
        for start in [datetime(year, month, 9, 14, tzinfo=PARIS)]
    ]
    data, parsed = build_and_parse(events, method=None)
    assert [e["start"] for e in parsed] == [
        f"{year}-{month:02}-09T{hour}:00:00Z"
        for year in range(2027, 2032)
        for month, hour in ((1, 13), (6, 12))
    ]
    [block] = vtimezone_blocks(data)
    assert "2027-01-01 to 2032-01-01" in block
    assert not re.search(r"^RDATE:[^\r]*,", block, flags=re.MULTILINE)  # one onset per line


def test_several_zones_each_get_a_vtimezone():
    new_york = ZoneInfo("America/New_York")
    events = [
        make_event(),
        make_event(
            uid="rencontre-ny@maillage",
            start=datetime(2027, 11, 18, 9, tzinfo=new_york),
            end=datetime(2027, 11, 18, 10, tzinfo=new_york),
            tzid="America/New_York",
        ),
    ]
    data, parsed = build_and_parse(events, method=None)
    assert sorted(re.findall(r"TZID:(\S+)\r\n", data.decode())) == [
        "America/New_York",
        "Europe/Paris",
    ]
    assert [e["start"] for e in parsed] == ["2027-06-09T12:00:00Z", "2027-11-18T14:00:00Z"]
    assert not any(line.startswith("X-WR-TIMEZONE") for line in unfolded(data))


# --------------------------------------------------------------------------- recurrence


def test_recurring_monthly_first_thursday():
    # 2027-01-07 is the first Thursday of January 2027; DST starts 2027-03-28.
    start = datetime(2027, 1, 7, 14, 0, tzinfo=PARIS)
    event = make_event(
        start=start,
        end=start + timedelta(hours=2),
        rrule={"FREQ": "MONTHLY", "INTERVAL": 1, "BYDAY": "1TH"},
    )
    data, [parsed] = build_and_parse([event], method="PUBLISH")

    assert "RRULE:FREQ=MONTHLY;INTERVAL=1;BYDAY=1TH" in unfolded(data)
    assert parsed["rrule"] == "FREQ=MONTHLY;BYDAY=1TH"  # ical.js drops the default INTERVAL
    assert parsed["occurrences"] == [
        "2027-01-07T13:00:00Z",
        "2027-02-04T13:00:00Z",
        "2027-03-04T13:00:00Z",
        "2027-04-01T12:00:00Z",
        "2027-05-06T12:00:00Z",
        "2027-06-03T12:00:00Z",
    ]
    # open-ended: the zone is spelled out for a horizon, not for 1900-2100
    [block] = vtimezone_blocks(data)
    assert "2027-01-01 to 2033-01-01" in block
    assert len(block.splitlines()) < 40


def test_recurring_count_and_until():
    start = datetime(2027, 10, 7, 18, 0, tzinfo=PARIS)
    counted = make_event(
        start=start, end=None, rrule={"FREQ": "MONTHLY", "BYDAY": "1TH", "COUNT": 3}
    )
    _, [parsed] = build_and_parse([counted], method=None)
    assert parsed["occurrences"] == [
        "2027-10-07T16:00:00Z",
        "2027-11-04T17:00:00Z",
        "2027-12-02T17:00:00Z",
    ]

    until = make_event(
        start=start,
        end=None,
        rrule={"FREQ": "WEEKLY", "UNTIL": datetime(2027, 10, 28).date()},
    )
    data, [parsed] = build_and_parse([until], method=None)
    # UNTIL is written in UTC for a zoned DTSTART (RFC 5545 §3.3.10)
    assert "RRULE:FREQ=WEEKLY;UNTIL=20271028T215959Z" in unfolded(data)
    assert parsed["occurrences"][-1] == "2027-10-28T16:00:00Z"  # still CEST
    assert len(parsed["occurrences"]) == 4


def test_exdate_removes_occurrences():
    start = datetime(2027, 1, 7, 14, 0, tzinfo=PARIS)
    skipped = [  # given in UTC, as stored: 2027-02-04 14:00 CET, 2027-04-01 14:00 CEST
        datetime(2027, 2, 4, 13, 0, tzinfo=UTC),
        datetime(2027, 4, 1, 12, 0, tzinfo=UTC),
    ]
    event = make_event(
        start=start,
        end=start + timedelta(hours=2),
        rrule={"FREQ": "MONTHLY", "BYDAY": "1TH"},
        exdates=tuple(reversed(skipped)),
    )
    data, [parsed] = build_and_parse([event], method="REQUEST")

    lines = unfolded(data)
    assert [line for line in lines if line.startswith("EXDATE")] == [
        "EXDATE;TZID=Europe/Paris:20270204T140000",
        "EXDATE;TZID=Europe/Paris:20270401T140000",
    ]
    assert parsed["occurrences"] == [
        "2027-01-07T13:00:00Z",
        "2027-03-04T13:00:00Z",
        "2027-05-06T12:00:00Z",
        "2027-06-03T12:00:00Z",
        "2027-07-01T12:00:00Z",
        "2027-08-05T12:00:00Z",
    ]


def test_exdate_of_all_day_event_is_a_date():
    event = make_event(
        start=datetime(2027, 6, 9, tzinfo=PARIS),
        end=None,
        all_day=True,
        rrule={"FREQ": "WEEKLY", "COUNT": 4},
        exdates=(datetime(2027, 6, 16, tzinfo=PARIS),),
    )
    data, [parsed] = build_and_parse([event], method=None)
    assert "EXDATE;VALUE=DATE:20270616" in unfolded(data)
    assert parsed["occurrences"] == ["2027-06-09", "2027-06-23", "2027-06-30"]


def test_exdate_needs_rrule():
    with pytest.raises(ValueError, match="EXDATE needs an RRULE"):
        build_calendar(
            [make_event(exdates=(BASE.start,))], method=None, dtstamp=DTSTAMP
        )


def test_recurrence_must_start_on_an_occurrence():
    # 2027-01-14 is the second Thursday: the recurrence set would be undefined.
    event = make_event(
        start=datetime(2027, 1, 14, 14, tzinfo=PARIS),
        rrule={"FREQ": "MONTHLY", "BYDAY": "1TH"},
    )
    with pytest.raises(ValueError, match="first occurrence"):
        build_calendar([event], method=None, dtstamp=DTSTAMP)


# --------------------------------------------------------------------------- all-day


def test_all_day_single_day():
    event = make_event(
        start=datetime(2027, 6, 9, tzinfo=PARIS),
        end=None,
        all_day=True,
        alarms=(timedelta(days=1),),
    )
    data, [parsed] = build_and_parse([event], method="PUBLISH")

    assert parsed["isDate"] is True
    assert (parsed["start"], parsed["end"]) == ("2027-06-09", "2027-06-10")
    lines = unfolded(data)
    assert "DTSTART;VALUE=DATE:20270609" in lines
    assert "DTEND;VALUE=DATE:20270610" in lines
    assert vtimezone_blocks(data) == []  # dates carry no TZID
    assert parsed["alarms"][0]["trigger"] == "-P1D"


def test_alarm_offsets():
    offsets = (timedelta(days=7), timedelta(minutes=90), timedelta(days=1, hours=2), timedelta(0))
    _, [parsed] = build_and_parse([make_event(alarms=offsets)], method="PUBLISH")
    assert [a["trigger"] for a in parsed["alarms"]] == ["-P7D", "-PT1H30M", "-P1DT2H", "PT0S"]


def test_all_day_several_days_and_recurring():
    event = make_event(
        start=datetime(2027, 6, 9, tzinfo=PARIS),
        end=datetime(2027, 6, 11, tzinfo=PARIS),  # exclusive, like DTEND
        all_day=True,
        rrule={"FREQ": "YEARLY", "COUNT": 3},
    )
    _, [parsed] = build_and_parse([event], method=None)
    assert (parsed["start"], parsed["end"]) == ("2027-06-09", "2027-06-11")
    assert parsed["occurrences"] == ["2027-06-09", "2028-06-09", "2029-06-09"]


# --------------------------------------------------------------------------- feed


def test_feed_without_method():
    winter = datetime(2027, 1, 14, 14, 0, tzinfo=PARIS)
    events = [
        make_event(uid="rencontre-a@maillage", organizer_address="", attendees=()),
        make_event(
            uid="rencontre-b@maillage",
            sequence=3,
            summary="Rencontre annulée",
            start=winter,
            end=winter + timedelta(hours=1),
            cancelled=True,
        ),
        make_event(
            uid="rencontre-c@maillage",
            summary="Journée du réseau",
            start=datetime(2027, 9, 23, tzinfo=PARIS),
            end=None,
            all_day=True,
        ),
        make_event(
            uid="rencontre-d@maillage",
            summary="Café mensuel",
            start=datetime(2027, 2, 4, 8, 30, tzinfo=PARIS),
            end=datetime(2027, 2, 4, 9, 30, tzinfo=PARIS),
            rrule={"FREQ": "MONTHLY", "BYDAY": "1TH"},
        ),
    ]
    data, parsed = build_and_parse(events, method=None, calname="Maillage — Réseau CPO")

    assert not any(line.startswith("METHOD") for line in unfolded(data))
    assert "X-WR-TIMEZONE:Europe/Paris" in unfolded(data)
    assert parsed[0]["_calname"] == "Maillage — Réseau CPO"
    assert [e["uid"] for e in parsed] == [
        "rencontre-a@maillage",
        "rencontre-b@maillage",
        "rencontre-c@maillage",
        "rencontre-d@maillage",
    ]
    assert [e["status"] for e in parsed] == ["CONFIRMED", "CANCELLED", "CONFIRMED", "CONFIRMED"]
    assert parsed[1]["sequence"] == 3
    assert parsed[1]["start"] == "2027-01-14T13:00:00Z"
    assert parsed[2]["isDate"] is True
    assert parsed[3]["occurrences"][:3] == [
        "2027-02-04T07:30:00Z",
        "2027-03-04T07:30:00Z",
        "2027-04-01T06:30:00Z",
    ]
    assert len(vtimezone_blocks(data)) == 1


def test_empty_feed():
    data = build_calendar([], method=None, dtstamp=DTSTAMP, calname="Maillage")
    check_rules(data, None)
    assert parse_with_icaljs(data)["events"] == []
    assert parse_with_vobject(data) == []


# --------------------------------------------------------------------------- injection

NASTY = (
    'Point-virgule ; virgule , antislash \\ et \\n littéral, deux-points : guillemets "x"\n'
    "Nouvelle ligne\nEND:VEVENT\r\nBEGIN:VEVENT\nUID:pirate@evil\n"
    "العربية: اجتماع الشبكة — 中文：网络会议 — emoji 🎉👩🏽‍💻🇫🇷 — "
    + "é" * 120
    + "x" * 200
    + "\ttab\n\n  espaces  "
)


def test_injection_round_trips_through_both_parsers():
    assert len(NASTY) >= 500
    summary = 'Réunion ; , \\ : "citée" END:VEVENT\r\nBEGIN:VEVENT 🎉 اجتماع 会议'
    event = make_event(
        summary=summary,
        description=NASTY,
        location=NASTY[:80],
        attendees=(Attendee('Zoé "la Cheffe"; Martin, : é', "mailto:zoe@example.fr", "ACCEPTED"),),
        organizer_name='Org; "Maillage", : \\',
    )
    data, [parsed] = build_and_parse([event], method="REQUEST")

    # TEXT cannot carry a CR (RFC 5545 §3.3.11): CRLF comes back as LF.
    assert parsed["summary"] == summary.replace("\r\n", "\n")
    assert parsed["description"] == NASTY.replace("\r\n", "\n")
    assert parsed["location"] == NASTY[:80].replace("\r\n", "\n")
    assert parsed["attendees"][0]["cn"] == 'Zoé "la Cheffe"; Martin, : é'
    assert parsed["organizer"]["cn"] == 'Org; "Maillage", : \\'
    assert parsed["uid"] == UID

    text = data.decode("utf-8")
    assert len(re.findall(r"^BEGIN:VEVENT\r$", text, flags=re.MULTILINE)) == 1
    assert len(re.findall(r"^END:VEVENT\r$", text, flags=re.MULTILINE)) == 1
    assert len(re.findall(r"^UID:", text, flags=re.MULTILINE)) == 1


def test_control_characters_are_dropped():
    event = make_event(summary="a\x00b\x07c\x1bd\x7fe", description="ligne\rsuivante")
    _, [parsed] = build_and_parse([event], method="PUBLISH")
    assert parsed["summary"] == "abcde"
    assert parsed["description"] == "ligne\nsuivante"


# --------------------------------------------------------------------------- validation


def test_output_is_deterministic():
    assert build_calendar([make_event()], method="REQUEST", dtstamp=DTSTAMP) == build_calendar(
        [make_event()], method="REQUEST", dtstamp=DTSTAMP
    )


@pytest.mark.parametrize(
    ("overrides", "kwargs", "message"),
    [
        ({"uid": ""}, {}, "UID"),
        ({"start": datetime(2027, 6, 9, 14)}, {}, "aware"),
        ({"tzid": "Europe/Nowhere"}, {}, "time zone"),
        ({"attendees": (Attendee("X", "mailto:x@y.fr", "MAYBE"),)}, {}, "PARTSTAT"),
        ({"end": datetime(2027, 6, 9, 13, tzinfo=PARIS)}, {}, "before start"),
        ({"rrule": {"BYDAY": "1TH"}}, {}, "FREQ"),
        ({}, {"method": "REFRESH"}, "method"),
        ({}, {"dtstamp": datetime(2027, 5, 2, 8, 30)}, "aware"),
    ],
)
def test_invalid_input(overrides, kwargs, message):
    call = {"method": "REQUEST", "dtstamp": DTSTAMP} | kwargs
    with pytest.raises(ValueError, match=message):
        build_calendar([make_event(**overrides)], **call)


@pytest.mark.parametrize(
    ("summary", "expected"),
    [
        ("Réseau CPO", "2027-06-09-reseau-cpo.ics"),
        ("  Café / « débat » : l'IA ?! ", "2027-06-09-cafe-debat-l-ia.ics"),
        ("اجتماع 会议 🎉", "2027-06-09-rencontre.ics"),
        ("../../etc/passwd", "2027-06-09-etc-passwd.ics"),
        ("Ü" * 200, "2027-06-09-" + "u" * 60 + ".ics"),
    ],
)
def test_ics_filename(summary, expected):
    name = ics_filename(summary, datetime(2027, 6, 9, 14, tzinfo=PARIS))
    assert name == expected
    assert re.fullmatch(r"[a-z0-9.-]+", name)


# --------------------------------------------------------------------------- the harness itself


def _without_vtimezone(data: bytes) -> bytes:
    return re.sub(rb"BEGIN:VTIMEZONE.*?END:VTIMEZONE\r\n", b"", data, flags=re.DOTALL)


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda d: d.replace(b"\r\n", b"\n"), id="LF-endings"),
        pytest.param(lambda d: d.replace(b"083000Z", b"083000"), id="local-DTSTAMP"),
        pytest.param(_without_vtimezone, id="missing-VTIMEZONE"),
        pytest.param(lambda d: re.sub(rb"UID:[^\r]*\r\n", b"", d), id="missing-UID"),
        pytest.param(lambda d: d.replace(b"METHOD:REQUEST", b"METHOD:PUBLISH"), id="METHOD"),
        pytest.param(
            lambda d: d.replace(b"END:VEVENT", b"X-LONG:" + b"a" * 80 + b"\r\nEND:VEVENT"),
            id="long-line",
        ),
    ],
)
def test_check_rules_catches_mistakes(mutate):
    data = build_calendar([make_event()], method="REQUEST", dtstamp=DTSTAMP)
    check_rules(data, "REQUEST")
    with pytest.raises(AssertionError):
        check_rules(mutate(data), "REQUEST")


def test_parsers_insist_on_the_files_own_vtimezone():
    data = _without_vtimezone(build_calendar([make_event()], method="PUBLISH", dtstamp=DTSTAMP))
    with pytest.raises(AssertionError, match="VTIMEZONE"):
        parse_with_icaljs(data)
    with pytest.raises(AssertionError, match="VTIMEZONE"):
        parse_with_vobject(data)
