"""Tests for bot.domain.dates: French date parsing, recurrences and formatting."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from dateutil.rrule import rrulestr

from bot.domain.dates import (
    Recurrence,
    When,
    format_date_fr,
    format_day_fr,
    format_hours_fr,
    format_when_fr,
    normalize,
    occurrences,
    parse_due_date,
    parse_recurrence,
    parse_when,
)
from bot.support.errors import UserError

PARIS = ZoneInfo("Europe/Paris")


def paris(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=PARIS)


# Saturday 21 November 2026, 10:00 (winter time).
NOW_NOV_2026 = paris(2026, 11, 21, 10)
# Monday 10 January 2022: the next 9 June (2022) is a Thursday.
NOW_JAN_2022 = paris(2022, 1, 10, 9)
# Wednesday 9 June 2027 at noon: "today" cases.
NOW_JUNE_9_2027 = paris(2027, 6, 9, 12)
# Saturday 27 March 2027, the evening before the switch to summer time.
NOW_BEFORE_DST = paris(2027, 3, 27, 20)

EXAMPLE_RE = re.compile(r" Exemple : « (?P<example>[^»]+) »\.$")

# ---------------------------------------------------------------------------
# parse_when: accepted forms
# ---------------------------------------------------------------------------

ACCEPTED_WHEN = [
    # text, now, start, end, all_day
    ("9 juin 2027 14h-17h", NOW_NOV_2026, paris(2027, 6, 9, 14), paris(2027, 6, 9, 17), False),
    ("9 juin 2027 de 14h à 17h", NOW_NOV_2026, paris(2027, 6, 9, 14), paris(2027, 6, 9, 17), False),
    ("9 juin 2027 14h–17h", NOW_NOV_2026, paris(2027, 6, 9, 14), paris(2027, 6, 9, 17), False),
    ("9 juin 2027 14h — 17h", NOW_NOV_2026, paris(2027, 6, 9, 14), paris(2027, 6, 9, 17), False),
    ("9 juin 2027 14h à 17h", NOW_NOV_2026, paris(2027, 6, 9, 14), paris(2027, 6, 9, 17), False),
    ("9 juin 2027 14:00 - 17:00", NOW_NOV_2026, paris(2027, 6, 9, 14), paris(2027, 6, 9, 17), False),
    ("9 juin 2027 entre 14h et 17h", NOW_NOV_2026, paris(2027, 6, 9, 14), paris(2027, 6, 9, 17), False),
    ("9 juin 2027 14 h 30 - 17 h", NOW_NOV_2026, paris(2027, 6, 9, 14, 30), paris(2027, 6, 9, 17), False),
    ("9 juin 14h-17h", NOW_NOV_2026, paris(2027, 6, 9, 14), paris(2027, 6, 9, 17), False),
    # The weekday must match the inferred year: 9 June 2022 is a Thursday...
    ("jeudi 9 juin 14h00 à 17h00", NOW_JAN_2022, paris(2022, 6, 9, 14), paris(2022, 6, 9, 17), False),
    # ... and 9 June 2027 a Wednesday.
    ("mercredi 9 juin 14h00 à 17h00", NOW_NOV_2026, paris(2027, 6, 9, 14), paris(2027, 6, 9, 17), False),
    ("Mercredi 9 Juin 2027 De 14H À 17H", NOW_NOV_2026, paris(2027, 6, 9, 14), paris(2027, 6, 9, 17), False),
    ("le jeudi 10 juin 2027 14h-17h", NOW_NOV_2026, paris(2027, 6, 10, 14), paris(2027, 6, 10, 17), False),
    ("2027-06-09 14:00-17:00", NOW_NOV_2026, paris(2027, 6, 9, 14), paris(2027, 6, 9, 17), False),
    ("mercredi 2027-06-09 14:00-17:00", NOW_NOV_2026, paris(2027, 6, 9, 14), paris(2027, 6, 9, 17), False),
    ("09/06/2027 14h-17h", NOW_NOV_2026, paris(2027, 6, 9, 14), paris(2027, 6, 9, 17), False),
    ("9/6 14h-17h", NOW_NOV_2026, paris(2027, 6, 9, 14), paris(2027, 6, 9, 17), False),
    ("demain 10h-12h", NOW_NOV_2026, paris(2026, 11, 22, 10), paris(2026, 11, 22, 12), False),
    ("après-demain 10h-12h", NOW_NOV_2026, paris(2026, 11, 23, 10), paris(2026, 11, 23, 12), False),
    ("le 7 juillet", NOW_NOV_2026, paris(2027, 7, 7), paris(2027, 7, 8), True),
    ("7 juillet journée complète", NOW_NOV_2026, paris(2027, 7, 7), paris(2027, 7, 8), True),
    ("7 juillet, toute la journée", NOW_NOV_2026, paris(2027, 7, 7), paris(2027, 7, 8), True),
    # Saturday 21 Nov 2026 -> next Tuesday is the 24th.
    ("mardi prochain 9h30-11h", NOW_NOV_2026, paris(2026, 11, 24, 9, 30), paris(2026, 11, 24, 11), False),
    ("mardi 9h30-11h", NOW_NOV_2026, paris(2026, 11, 24, 9, 30), paris(2026, 11, 24, 11), False),
    # Start only: the caller chooses the duration.
    ("lundi 14h", NOW_NOV_2026, paris(2026, 11, 23, 14), None, False),
    ("lundi à 14h", NOW_NOV_2026, paris(2026, 11, 23, 14), None, False),
    ("lundi à partir de 14h", NOW_NOV_2026, paris(2026, 11, 23, 14), None, False),
    # A weekday name said on that weekday means next week.
    ("mercredi 14h", NOW_JUNE_9_2027, paris(2027, 6, 16, 14), None, False),
    ("samedi", NOW_NOV_2026, paris(2026, 11, 28), paris(2026, 11, 29), True),
    ("aujourd'hui 18h-19h", NOW_NOV_2026, paris(2026, 11, 21, 18), paris(2026, 11, 21, 19), False),
    ("aujourd’hui 18h-19h", NOW_JUNE_9_2027, paris(2027, 6, 9, 18), paris(2027, 6, 9, 19), False),
    ("aujourd'hui", NOW_JUNE_9_2027, paris(2027, 6, 9), paris(2027, 6, 10), True),
    ("9 juin 14h-17h", NOW_JUNE_9_2027, paris(2027, 6, 9, 14), paris(2027, 6, 9, 17), False),
    ("12 fevrier 10h-12h", NOW_NOV_2026, paris(2027, 2, 12, 10), paris(2027, 2, 12, 12), False),
    ("15 aout", NOW_NOV_2026, paris(2027, 8, 15), paris(2027, 8, 16), True),
    ("15 août", NOW_NOV_2026, paris(2027, 8, 15), paris(2027, 8, 16), True),
    ("1 decembre 9h", NOW_NOV_2026, paris(2026, 12, 1, 9), None, False),
    ("3 déc. 2026 9h", NOW_NOV_2026, paris(2026, 12, 3, 9), None, False),
    ("1er juillet 2027 14h", NOW_NOV_2026, paris(2027, 7, 1, 14), None, False),
    ("jeudi 1er juillet 2027", NOW_NOV_2026, paris(2027, 7, 1), paris(2027, 7, 2), True),
    # 29 February without a year: the next leap year.
    ("29 février", NOW_NOV_2026, paris(2028, 2, 29), paris(2028, 3, 1), True),
    ("dans 2 semaines 14h-16h", NOW_NOV_2026, paris(2026, 12, 5, 14), paris(2026, 12, 5, 16), False),
    ("dans quinze jours", NOW_NOV_2026, paris(2026, 12, 5), paris(2026, 12, 6), True),
    ("dans 3 jours 8h-9h", NOW_NOV_2026, paris(2026, 11, 24, 8), paris(2026, 11, 24, 9), False),
    # Summer time starts on 28 March 2027: 14h is then 14:00+02:00.
    ("dimanche 28 mars 2027 14h-17h", NOW_NOV_2026, paris(2027, 3, 28, 14), paris(2027, 3, 28, 17), False),
    ("demain 14h-17h", NOW_BEFORE_DST, paris(2027, 3, 28, 14), paris(2027, 3, 28, 17), False),
    ("9 juin 2027 23h-23h59", NOW_NOV_2026, paris(2027, 6, 9, 23), paris(2027, 6, 9, 23, 59), False),
    ("9 juin 2027 0h-1h", NOW_NOV_2026, paris(2027, 6, 9, 0), paris(2027, 6, 9, 1), False),
    # What format_when_fr produces is accepted back.
    ("mercredi 9 juin 2027, 14h–17h", NOW_NOV_2026, paris(2027, 6, 9, 14), paris(2027, 6, 9, 17), False),
    ("mercredi 7 juillet 2027 (journée complète)", NOW_NOV_2026, paris(2027, 7, 7), paris(2027, 7, 8), True),
    ("  9 juin 2027   14h-17h.  ", NOW_NOV_2026, paris(2027, 6, 9, 14), paris(2027, 6, 9, 17), False),
]  # fmt: skip


@pytest.mark.parametrize(("text", "now", "start", "end", "all_day"), ACCEPTED_WHEN)
def test_parse_when_accepts(text, now, start, end, all_day):
    when = parse_when(text, PARIS, now)
    assert when == When(start=start, end=end, all_day=all_day)
    # Same instant is not enough: the offset must be the local one.
    assert when.start.utcoffset() == start.utcoffset()
    assert when.start.tzinfo == PARIS


def test_dst_start_is_summer_time():
    when = parse_when("dimanche 28 mars 2027 14h-17h", PARIS, NOW_NOV_2026)
    assert when.start.utcoffset() == timedelta(hours=2)
    assert when.start.astimezone(UTC) == datetime(2027, 3, 28, 12, tzinfo=UTC)


def test_now_in_another_timezone_is_converted():
    # 23:30 UTC is already Sunday 22 November 00:30 in Paris.
    now = datetime(2026, 11, 21, 23, 30, tzinfo=UTC)
    when = parse_when("demain 10h-12h", PARIS, now)
    assert when.start == paris(2026, 11, 23, 10)


def test_other_timezone():
    montreal = ZoneInfo("America/Montreal")
    now = datetime(2026, 11, 21, 10, tzinfo=montreal)
    when = parse_when("9 juin 2027 14h-17h", montreal, now)
    assert when.start == datetime(2027, 6, 9, 14, tzinfo=montreal)
    assert when.start.utcoffset() == timedelta(hours=-4)


def test_naive_now_is_a_programming_error():
    with pytest.raises(ValueError, match="timezone-aware"):
        parse_when("demain 10h", PARIS, datetime(2026, 11, 21, 10))


@pytest.mark.parametrize(("text", "now", "start", "end", "all_day"), ACCEPTED_WHEN)
def test_format_then_parse_round_trips(text, now, start, end, all_day):
    when = parse_when(text, PARIS, now)
    assert parse_when(format_when_fr(when), PARIS, now) == when


# ---------------------------------------------------------------------------
# parse_when: refusals
# ---------------------------------------------------------------------------

REFUSED_WHEN = [
    # text, now, fragment expected in the French message
    ("", NOW_NOV_2026, "Indiquez une date"),
    ("   ", NOW_NOV_2026, "Indiquez une date"),
    ("bientôt", NOW_NOV_2026, "Je n'ai pas compris la date « bientôt »"),
    ("n'importe quand", NOW_NOV_2026, "Je n'ai pas compris la date « n'importe quand »"),
    ("la semaine prochaine", NOW_NOV_2026, "pas compris"),
    ("hier", NOW_NOV_2026, "pas compris"),
    ("août", NOW_NOV_2026, "pas compris"),
    ("9 juin 2022 14h-17h", NOW_NOV_2026, "Le 9 juin 2022 est déjà passé"),
    ("2022-06-09", NOW_NOV_2026, "déjà passé"),
    ("aujourd'hui 9h-11h", NOW_NOV_2026, "L'heure de début (9h) est déjà passée"),
    ("aujourd'hui 10h-11h", NOW_NOV_2026, "déjà passée"),
    ("9 juin 11h-13h", NOW_JUNE_9_2027, "déjà passée"),
    ("9 juin 2027 17h-14h", NOW_NOV_2026, "L'heure de fin (14h) tombe avant"),
    ("9 juin 2027 14h-14h", NOW_NOV_2026, "avant ou en même temps"),
    ("9 juin 2027 14h30-14h", NOW_NOV_2026, "avant"),
    ("jeudi 9 juin 2027 14h-17h", NOW_NOV_2026, "ne correspond pas"),
    ("jeudi 9 juin 14h00 à 17h00", NOW_NOV_2026, "est un mercredi, pas un jeudi"),
    ("mercredi 9 juin 14h-17h", NOW_JAN_2022, "est un jeudi, pas un mercredi"),
    ("lundi 09/06/2027", NOW_NOV_2026, "ne correspond pas"),
    ("jeudi 2027-06-09", NOW_NOV_2026, "ne correspond pas"),
    ("31 juin 2027", NOW_NOV_2026, "Le 31 juin 2027 n'existe pas"),
    ("31 juin", NOW_NOV_2026, "Le 31 juin n'existe pas"),
    ("30 février", NOW_NOV_2026, "Le 30 février n'existe pas"),
    ("29 février 2027", NOW_NOV_2026, "Le 29 février 2027 n'existe pas"),
    ("31/04/2027", NOW_NOV_2026, "Le 31 avril 2027 n'existe pas"),
    ("0 juin 2027", NOW_NOV_2026, "n'existe pas"),
    ("2027-13-01", NOW_NOV_2026, "Le mois « 13 » n'existe pas"),
    ("9 juin 2027 24h", NOW_NOV_2026, "L'heure « 24h » n'existe pas"),
    ("9 juin 2027 25h-26h", NOW_NOV_2026, "n'existe pas"),
    ("9 juin 2027 14h60", NOW_NOV_2026, "L'heure « 14h60 » n'existe pas"),
    ("9 juin 2027 14:75-15:00", NOW_NOV_2026, "minutes de 0 à 59"),
    ("9 juin 2027 14h-17h blabla", NOW_NOV_2026, "Je n'ai pas compris « blabla » après l'horaire"),
    ("9 juin 2027 blabla 14h-17h", NOW_NOV_2026, "pas compris la date « 9 juin 2027 blabla »"),
    ("blabla 9 juin 2027", NOW_NOV_2026, "pas compris"),
    ("9 juin 2027 14h 17h", NOW_NOV_2026, "pas compris"),
    ("9 juin 2027 14", NOW_NOV_2026, "pas compris"),
    ("9 juin 2027 14h5", NOW_NOV_2026, "pas compris"),
    ("2e juin 2027", NOW_NOV_2026, "pas compris"),
    ("le le 9 juin 2027", NOW_NOV_2026, "pas compris"),
    ("9 juin 2207 14h-17h", NOW_NOV_2026, "trop loin dans le futur"),
    ("31 décembre 9999", NOW_NOV_2026, "trop loin dans le futur"),
    ("dans 999 mois", NOW_NOV_2026, "trop loin dans le futur"),
    ("14h-17h", NOW_NOV_2026, "Il manque la date"),
    ("9 juin 2027 14h-17h journée complète", NOW_NOV_2026, "pas les deux"),
    ("dans 0 jours", NOW_NOV_2026, "au moins un jour"),
    ("dans 2 heures", NOW_NOV_2026, "pas compris"),
    ("dans 1.5 semaines", NOW_NOV_2026, "pas compris"),
    # 2h30 does not exist in Paris on the night summer time starts.
    ("dimanche 28 mars 2027 2h30-4h", NOW_NOV_2026, "passage à l'heure d'été"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "now", "fragment"), REFUSED_WHEN)
def test_parse_when_refuses(text, now, fragment):
    with pytest.raises(UserError) as info:
        parse_when(text, PARIS, now)
    message = info.value.message
    assert fragment in message
    assert str(info.value) == message
    # Every message ends with an example, and that example is itself valid.
    example = EXAMPLE_RE.search(message)
    assert example, message
    parse_when(example.group("example"), PARIS, now)


def test_a_refused_date_is_a_value_error():
    assert issubclass(UserError, ValueError)


def test_weekday_mismatch_suggests_the_right_weekday():
    with pytest.raises(UserError) as info:
        parse_when("jeudi 9 juin 2027 14h-17h", PARIS, NOW_NOV_2026)
    assert info.value.message.endswith("Exemple : « mercredi 9 juin 2027 14h-17h ».")


def test_default_example_is_a_future_thursday():
    with pytest.raises(UserError) as info:
        parse_when("bientôt", PARIS, NOW_NOV_2026)
    assert info.value.message.endswith("Exemple : « jeudi 3 décembre 2026 14h-17h ».")


# ---------------------------------------------------------------------------
# parse_due_date
# ---------------------------------------------------------------------------

ACCEPTED_DUE = [
    ("vendredi", NOW_NOV_2026, date(2026, 11, 27)),
    ("vendredi prochain", NOW_NOV_2026, date(2026, 11, 27)),
    ("samedi", NOW_NOV_2026, date(2026, 11, 28)),
    ("demain", NOW_NOV_2026, date(2026, 11, 22)),
    ("aujourd'hui", NOW_NOV_2026, date(2026, 11, 21)),
    ("15 juin", NOW_NOV_2026, date(2027, 6, 15)),
    ("le 15 juin", NOW_NOV_2026, date(2027, 6, 15)),
    ("mardi 15 juin", NOW_NOV_2026, date(2027, 6, 15)),
    ("15/06", NOW_NOV_2026, date(2027, 6, 15)),
    ("15/06/2027", NOW_NOV_2026, date(2027, 6, 15)),
    ("2027-06-15", NOW_NOV_2026, date(2027, 6, 15)),
    ("1er décembre", NOW_NOV_2026, date(2026, 12, 1)),
    ("dans 2 semaines", NOW_NOV_2026, date(2026, 12, 5)),
    ("dans deux semaines", NOW_NOV_2026, date(2026, 12, 5)),
    ("dans 3 jours", NOW_NOV_2026, date(2026, 11, 24)),
    ("dans huit jours", NOW_NOV_2026, date(2026, 11, 28)),
    ("dans 15 jours", NOW_NOV_2026, date(2026, 12, 5)),
    ("dans un mois", NOW_NOV_2026, date(2026, 12, 21)),
    ("fin juin", NOW_NOV_2026, date(2027, 6, 30)),
    ("fin février", NOW_NOV_2026, date(2027, 2, 28)),
    ("fin fevrier 2028", NOW_NOV_2026, date(2028, 2, 29)),
    ("fin d'août", NOW_NOV_2026, date(2027, 8, 31)),
    ("fin novembre", NOW_NOV_2026, date(2026, 11, 30)),
    ("fin du mois", NOW_NOV_2026, date(2026, 11, 30)),
    ("fin de mois", NOW_JUNE_9_2027, date(2027, 6, 30)),
    ("9 juin", NOW_JUNE_9_2027, date(2027, 6, 9)),
    ("jeudi", NOW_JAN_2022, date(2022, 1, 13)),
]


@pytest.mark.parametrize(("text", "now", "expected"), ACCEPTED_DUE)
def test_parse_due_date_accepts(text, now, expected):
    assert parse_due_date(text, PARIS, now) == expected


REFUSED_DUE = [
    ("", "Indiquez une échéance"),
    ("bientôt", "Je n'ai pas compris la date « bientôt »"),
    ("hier", "pas compris"),
    ("15 juin 2022", "Le 15 juin 2022 est déjà passé"),
    ("2026-11-20", "Le 20 novembre 2026 est déjà passé"),
    ("fin octobre 2026", "Le 31 octobre 2026 est déjà passé"),
    ("jeudi 15 juin 2027", "est un mardi, pas un jeudi"),
    ("31 juin", "Le 31 juin n'existe pas"),
    ("vendredi 14h", "pas compris"),
    ("15 juin blabla", "pas compris"),
    ("fin", "pas compris"),
    ("fin juin 2999", "trop loin dans le futur"),
    ("31/12/9999", "trop loin dans le futur"),
]


@pytest.mark.parametrize(("text", "fragment"), REFUSED_DUE)
def test_parse_due_date_refuses(text, fragment):
    with pytest.raises(UserError) as info:
        parse_due_date(text, PARIS, NOW_NOV_2026)
    assert fragment in info.value.message
    assert " Exemple : « " in info.value.message
    assert info.value.message.endswith("».")


def test_due_date_weekday_mismatch_suggests_the_right_day():
    with pytest.raises(UserError) as info:
        parse_due_date("jeudi 15 juin 2027", PARIS, NOW_NOV_2026)
    assert info.value.message.endswith("Exemple : « mardi 15 juin 2027 ».")


# ---------------------------------------------------------------------------
# parse_recurrence
# ---------------------------------------------------------------------------

FIRST_THURSDAY = paris(2027, 1, 7, 14)  # first Thursday of January 2027
SECOND_MONDAY = paris(2027, 6, 14, 9)  # second Monday of June 2027
FOURTH_THURSDAY = paris(2027, 10, 28, 14)  # 4th and last Thursday of October
FIFTH_THURSDAY = paris(2027, 9, 30, 14)  # 5th Thursday of September -> "last"

ACCEPTED_RECURRENCES = [
    ("tous les mois", FIRST_THURSDAY, Recurrence("MONTHLY", 1, (3, 1))),
    ("chaque mois", FIRST_THURSDAY, Recurrence("MONTHLY", 1, (3, 1))),
    ("Tous les mois", SECOND_MONDAY, Recurrence("MONTHLY", 1, (0, 2))),
    ("tous les 2 mois", FIRST_THURSDAY, Recurrence("MONTHLY", 2, (3, 1))),
    ("tous les trois mois", FIRST_THURSDAY, Recurrence("MONTHLY", 3, (3, 1))),
    ("mensuel", FIRST_THURSDAY, Recurrence("MONTHLY", 1, (3, 1))),
    ("tous les mois", FOURTH_THURSDAY, Recurrence("MONTHLY", 1, (3, 4))),
    ("tous les mois", FIFTH_THURSDAY, Recurrence("MONTHLY", 1, (3, -1))),
    ("toutes les semaines", FIRST_THURSDAY, Recurrence("WEEKLY", 1)),
    ("chaque semaine", FIRST_THURSDAY, Recurrence("WEEKLY", 1)),
    ("hebdomadaire", FIRST_THURSDAY, Recurrence("WEEKLY", 1)),
    ("toutes les 2 semaines", FIRST_THURSDAY, Recurrence("WEEKLY", 2)),
    ("toutes les deux semaines", FIRST_THURSDAY, Recurrence("WEEKLY", 2)),
    ("une semaine sur deux", FIRST_THURSDAY, Recurrence("WEEKLY", 2)),
    ("tous les 15 jours", FIRST_THURSDAY, Recurrence("WEEKLY", 2)),
    ("tous les quinze jours", FIRST_THURSDAY, Recurrence("WEEKLY", 2)),
    ("tous les 14 jours", FIRST_THURSDAY, Recurrence("WEEKLY", 2)),
    ("tous les 7 jours", FIRST_THURSDAY, Recurrence("WEEKLY", 1)),
    ("toutes les 3 semaines", FIRST_THURSDAY, Recurrence("WEEKLY", 3)),
    ("tous les 12 mois", FIRST_THURSDAY, Recurrence("MONTHLY", 12, (3, 1))),    # the bound
    ("toutes les 52 semaines", FIRST_THURSDAY, Recurrence("WEEKLY", 52)),
]


@pytest.mark.parametrize(("text", "start", "expected"), ACCEPTED_RECURRENCES)
def test_parse_recurrence_accepts(text, start, expected):
    assert parse_recurrence(text, start) == expected


REFUSED_RECURRENCES = [
    ("", "Indiquez une fréquence"),
    ("tous les jours", "seules les répétitions par semaine ou par mois"),
    ("tous les ans", "pas compris la répétition « tous les ans »"),
    ("de temps en temps", "pas compris"),
    ("tous les 10 jours", "nombre entier de semaines"),
    ("toutes les 0 semaines", "au moins 1"),
    ("tous les mois blabla", "pas compris"),
    # At least once a year, like a single date is at most ten years ahead.
    ("tous les 999 mois", "tous les 999 mois est trop espacée"),
    ("tous les 13 mois", "au plus 12 mois ou 52 semaines"),
    ("toutes les 53 semaines", "toutes les 53 semaines est trop espacée"),
    ("une semaine sur 999", "trop espacée"),
    ("tous les 378 jours", "trop espacée"),
    ("tous les " + "x" * 500, "« tous les " + "x" * 71 + "… »"),   # quoted as an excerpt
]


@pytest.mark.parametrize(("text", "fragment"), REFUSED_RECURRENCES)
def test_parse_recurrence_refuses(text, fragment):
    with pytest.raises(UserError) as info:
        parse_recurrence(text, FIRST_THURSDAY)
    assert fragment in info.value.message
    assert "Exemple : « toutes les semaines »" in info.value.message


@pytest.mark.parametrize(
    ("recurrence", "expected"),
    [
        (Recurrence("MONTHLY", 1, (3, 1)), {"FREQ": "MONTHLY", "INTERVAL": 1, "BYDAY": "1TH"}),
        (Recurrence("MONTHLY", 2, (0, 2)), {"FREQ": "MONTHLY", "INTERVAL": 2, "BYDAY": "2MO"}),
        (Recurrence("MONTHLY", 1, (3, -1)), {"FREQ": "MONTHLY", "INTERVAL": 1, "BYDAY": "-1TH"}),
        (Recurrence("WEEKLY", 1), {"FREQ": "WEEKLY", "INTERVAL": 1}),
        (Recurrence("WEEKLY", 2), {"FREQ": "WEEKLY", "INTERVAL": 2}),
    ],
)
def test_rrule_dict(recurrence, expected):
    assert recurrence.rrule_dict() == expected


def test_rrule_dict_is_accepted_by_icalendar():
    import icalendar   # a dependency of the bot: missing, the test must fail, not skip
    rule = icalendar.vRecur(parse_recurrence("tous les mois", FIFTH_THURSDAY).rrule_dict())
    assert rule.to_ical() == b"FREQ=MONTHLY;INTERVAL=1;BYDAY=-1TH"


def test_invalid_recurrence_is_a_programming_error():
    with pytest.raises(ValueError):
        Recurrence("DAILY", 1)
    with pytest.raises(ValueError):
        Recurrence("WEEKLY", 0)


# ---------------------------------------------------------------------------
# occurrences
# ---------------------------------------------------------------------------


def _starts(items: list[When]) -> list[datetime]:
    return [item.start for item in items]


def test_weekly_occurrences_keep_local_time_across_dst_end():
    # Summer time ends on Sunday 31 October 2027.
    when = parse_when("jeudi 21 octobre 2027 14h-17h", PARIS, NOW_NOV_2026)
    rec = parse_recurrence("toutes les semaines", when.start)
    result = occurrences(when, rec, NOW_NOV_2026, 4)
    assert result == [
        When(paris(2027, 10, 21, 14), paris(2027, 10, 21, 17), False),
        When(paris(2027, 10, 28, 14), paris(2027, 10, 28, 17), False),
        When(paris(2027, 11, 4, 14), paris(2027, 11, 4, 17), False),
        When(paris(2027, 11, 11, 14), paris(2027, 11, 11, 17), False),
    ]
    # 14h local is 12:00 UTC in summer and 13:00 UTC in winter.
    assert [o.start.astimezone(UTC).hour for o in result] == [12, 12, 13, 13]
    assert all(o.end - o.start == timedelta(hours=3) for o in result)


def test_weekly_occurrences_keep_local_time_across_dst_start():
    when = parse_when("jeudi 18 mars 2027 9h30-11h", PARIS, NOW_NOV_2026)
    rec = parse_recurrence("toutes les semaines", when.start)
    result = occurrences(when, rec, NOW_NOV_2026, 3)
    assert _starts(result) == [
        paris(2027, 3, 18, 9, 30),
        paris(2027, 3, 25, 9, 30),
        paris(2027, 4, 1, 9, 30),
    ]
    assert [o.start.utcoffset() for o in result] == [timedelta(hours=h) for h in (1, 1, 2)]


def test_every_two_weeks():
    when = parse_when("jeudi 7 janvier 2027 14h-17h", PARIS, NOW_NOV_2026)
    rec = parse_recurrence("tous les 15 jours", when.start)
    assert _starts(occurrences(when, rec, NOW_NOV_2026, 3)) == [
        paris(2027, 1, 7, 14),
        paris(2027, 1, 21, 14),
        paris(2027, 2, 4, 14),
    ]


def test_monthly_first_thursday():
    when = parse_when("jeudi 7 janvier 2027 14h-17h", PARIS, NOW_NOV_2026)
    rec = parse_recurrence("tous les mois", when.start)
    assert rec.rrule_dict()["BYDAY"] == "1TH"
    result = occurrences(when, rec, NOW_NOV_2026, 4)
    assert _starts(result) == [
        paris(2027, 1, 7, 14),
        paris(2027, 2, 4, 14),
        paris(2027, 3, 4, 14),
        paris(2027, 4, 1, 14),  # after the switch to summer time
    ]
    assert result[-1].end == paris(2027, 4, 1, 17)


def test_monthly_last_thursday_from_a_fifth_thursday():
    when = parse_when("jeudi 30 septembre 2027 14h-17h", PARIS, NOW_NOV_2026)
    rec = parse_recurrence("tous les mois", when.start)
    assert rec.rrule_dict()["BYDAY"] == "-1TH"
    result = occurrences(when, rec, paris(2027, 10, 1), 3)
    # Last Thursdays, not "fifth Thursdays" (October has only four).
    assert _starts(result) == [
        paris(2027, 10, 28, 14),
        paris(2027, 11, 25, 14),
        paris(2027, 12, 30, 14),
    ]


def test_occurrences_agree_with_the_icalendar_rule():
    when = parse_when("lundi 14 juin 2027 9h-10h", PARIS, NOW_NOV_2026)
    rec = parse_recurrence("tous les 2 mois", when.start)
    rule = ";".join(f"{key}={value}" for key, value in rec.rrule_dict().items())
    reference = rrulestr(rule, dtstart=when.start.replace(tzinfo=None))
    expected = [dt.replace(tzinfo=PARIS) for dt in reference[:5]]
    assert _starts(occurrences(when, rec, NOW_NOV_2026, 5)) == expected
    assert expected[1] == paris(2027, 8, 9, 9)  # second Monday of August


def test_occurrences_start_at_or_after_after():
    when = parse_when("jeudi 21 octobre 2027 14h-17h", PARIS, NOW_NOV_2026)
    rec = Recurrence("WEEKLY", 1)
    # Exactly at an occurrence: it is included.
    assert _starts(occurrences(when, rec, paris(2027, 11, 4, 14), 2)) == [
        paris(2027, 11, 4, 14),
        paris(2027, 11, 11, 14),
    ]
    # One minute later: it is not.
    assert _starts(occurrences(when, rec, paris(2027, 11, 4, 14, 1), 1)) == [
        paris(2027, 11, 11, 14)
    ]
    # "after" given in UTC.
    after_utc = datetime(2027, 11, 4, 13, 0, tzinfo=UTC)  # = 14:00 Paris
    assert _starts(occurrences(when, rec, after_utc, 1)) == [paris(2027, 11, 4, 14)]


def test_occurrences_all_day_weekly_across_dst():
    when = parse_when("jeudi 28 octobre 2027", PARIS, NOW_NOV_2026)
    result = occurrences(when, Recurrence("WEEKLY", 1), NOW_NOV_2026, 2)
    assert result == [
        When(paris(2027, 10, 28), paris(2027, 10, 29), True),
        When(paris(2027, 11, 4), paris(2027, 11, 5), True),
    ]


def test_occurrences_all_day_on_the_25_hour_day():
    # Sunday 31 October 2027 lasts 25 hours; the event still ends at midnight.
    when = parse_when("dimanche 24 octobre 2027", PARIS, NOW_NOV_2026)
    result = occurrences(when, Recurrence("WEEKLY", 1), paris(2027, 10, 25), 1)
    assert result == [When(paris(2027, 10, 31), paris(2027, 11, 1), True)]
    assert result[0].end - result[0].start == timedelta(hours=24)  # wall-clock difference
    assert result[0].end.astimezone(UTC) - result[0].start.astimezone(UTC) == timedelta(hours=25)


def test_occurrences_start_only():
    when = parse_when("lundi 14h", PARIS, NOW_NOV_2026)
    result = occurrences(when, Recurrence("WEEKLY", 1), NOW_NOV_2026, 2)
    assert result == [
        When(paris(2026, 11, 23, 14), None, False),
        When(paris(2026, 11, 30, 14), None, False),
    ]


def test_occurrences_without_recurrence():
    when = parse_when("9 juin 2027 14h-17h", PARIS, NOW_NOV_2026)
    assert occurrences(when, None, NOW_NOV_2026, 3) == [when]
    assert occurrences(when, None, paris(2027, 6, 9, 14, 1), 3) == []
    assert occurrences(when, Recurrence("WEEKLY", 1), NOW_NOV_2026, 0) == []


# ---------------------------------------------------------------------------
# Formatting
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2027, 6, 9), "9 juin 2027"),
        (date(2027, 7, 1), "1er juillet 2027"),
        (date(2027, 8, 15), "15 août 2027"),
        (date(2027, 2, 2), "2 février 2027"),
        (date(2026, 12, 31), "31 décembre 2026"),
    ],
)
def test_format_date_fr(day, expected):
    assert format_date_fr(day) == expected


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2027, 6, 9), "mercredi 9 juin 2027"),
        (date(2027, 6, 10), "jeudi 10 juin 2027"),
        (date(2027, 7, 1), "jeudi 1er juillet 2027"),
        (date(2027, 3, 28), "dimanche 28 mars 2027"),
        (date(2026, 11, 23), "lundi 23 novembre 2026"),
    ],
)
def test_format_day_fr(day, expected):
    assert format_day_fr(day) == expected


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (time(14), time(17), "14h\u201317h"),
        (time(9, 30), time(11), "9h30\u201311h"),
        (time(9, 5), time(10, 45), "9h05\u201310h45"),
        (time(0), time(1), "0h\u20131h"),
        (time(14), None, "14h"),
    ],
)
def test_format_hours_fr(start, end, expected):
    assert format_hours_fr(start, end) == expected


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        (When(paris(2027, 6, 9, 14), paris(2027, 6, 9, 17), False), "mercredi 9 juin 2027, 14h–17h"),
        (When(paris(2027, 6, 9, 9, 30), paris(2027, 6, 9, 11), False), "mercredi 9 juin 2027, 9h30–11h"),
        (When(paris(2027, 7, 1, 14), None, False), "jeudi 1er juillet 2027, 14h"),
        (When(paris(2027, 7, 7), paris(2027, 7, 8), True), "mercredi 7 juillet 2027 (journée complète)"),
        (When(paris(2027, 7, 1), paris(2027, 7, 2), True), "jeudi 1er juillet 2027 (journée complète)"),
        (When(paris(2027, 7, 7), paris(2027, 7, 10), True), "du mercredi 7 juillet 2027 au vendredi 9 juillet 2027"),
        (
            When(paris(2027, 6, 9, 22), paris(2027, 6, 10, 2), False),
            "mercredi 9 juin 2027, 22h – jeudi 10 juin 2027, 2h",
        ),
        # Shown in the event's own timezone, even if end is in UTC.
        (
            When(paris(2027, 6, 9, 14), datetime(2027, 6, 9, 15, tzinfo=UTC), False),
            "mercredi 9 juin 2027, 14h–17h",
        ),
    ],
)  # fmt: skip
def test_format_when_fr(when, expected):
    assert format_when_fr(when) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("9 juin 2027 14h-17h", "mercredi 9 juin 2027, 14h–17h"),
        ("9 juin 2027 de 14h à 17h", "mercredi 9 juin 2027, 14h–17h"),
        ("2027-06-09 14:00-17:00", "mercredi 9 juin 2027, 14h–17h"),
        ("le 7 juillet", "mercredi 7 juillet 2027 (journée complète)"),
        ("1er juillet 2027 14h", "jeudi 1er juillet 2027, 14h"),
        ("mardi prochain 9h30-11h", "mardi 24 novembre 2026, 9h30–11h"),
        ("dimanche 28 mars 2027 14h-17h", "dimanche 28 mars 2027, 14h–17h"),
    ],
)
def test_parse_then_format(text, expected):
    assert format_when_fr(parse_when(text, PARIS, NOW_NOV_2026)) == expected


def test_when_requires_aware_datetimes():
    with pytest.raises(ValueError):
        When(datetime(2027, 6, 9, 14), None, False)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Février", "fevrier"),
        ("AOÛT", "aout"),
        ("Décembre", "decembre"),
        ("Journée Complète", "journee complete"),
        ("aujourd'hui", "aujourd'hui"),
    ],
)
def test_normalize(text, expected):
    assert normalize(text) == expected
