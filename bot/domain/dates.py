"""French date and time parsing and formatting for Maillage.

Everything here is pure and synchronous: no I/O, no clock. The current
moment (``now``) is always passed in by the caller, which keeps every
function deterministic and easy to test.

Parsing is deliberately strict. The input is first canonicalised (lowercase,
accents stripped, dashes and apostrophes unified), then split into an
optional trailing time range, an optional "all day" marker and a date part.
The time range and every absolute date form are parsed with our own regular
expressions; ``dateparser`` is only used for relative offsets such as
"dans 2 semaines", after our own regex has checked the shape of the text.
Anything not fully understood is refused with a
:class:`~bot.support.errors.UserError` whose message is a French sentence (the
text typed quoted as is) ending with an example of a valid input.

Why not hand everything to ``dateparser``? It is too lenient for a bot that
creates calendar events: it silently ignores a weekday contradicting the date
("jeudi 9 juin 2027" is a Wednesday), fills a missing day from the relative
base ("août" becomes "21 août"), does not understand "mardi prochain" or
"dans quinze jours", and moves the clock time for "dans 2 heures".
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from dateutil.rrule import FR, MO, MONTHLY, SA, SU, TH, TU, WE, WEEKLY, rrule

from bot.support.errors import UserError
from bot.support.text import (
    excerpt,
    normalize,  # noqa: F401  (also part of this module's API)
)

__all__ = [
    "Recurrence",
    "When",
    "format_date_fr",
    "format_day_fr",
    "format_hours_fr",
    "format_when_fr",
    "normalize",
    "occurrences",
    "parse_due_date",
    "parse_recurrence",
    "parse_when",
]

# ---------------------------------------------------------------------------
# Vocabulary
# ---------------------------------------------------------------------------

WEEKDAYS_FR = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
MONTHS_FR = (
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
)

# Accent-free spellings (and common abbreviations) -> month number.
_MONTH_NUMBERS: dict[str, int] = {
    "janvier": 1, "janv": 1,
    "fevrier": 2, "fevr": 2, "fev": 2,
    "mars": 3,
    "avril": 4, "avr": 4,
    "mai": 5,
    "juin": 6,
    "juillet": 7, "juil": 7,
    "aout": 8,
    "septembre": 9, "sept": 9,
    "octobre": 10, "oct": 10,
    "novembre": 11, "nov": 11,
    "decembre": 12, "dec": 12,
}  # fmt: skip
_WEEKDAY_NUMBERS = {name: index for index, name in enumerate(WEEKDAYS_FR)}
MONTH_WORDS = frozenset(_MONTH_NUMBERS)   # accent-free, for callers spotting a date in text

# Number words accepted in "dans deux semaines", "toutes les deux semaines"...
_NUMBER_WORDS = {
    "un": 1, "une": 1, "deux": 2, "trois": 3, "quatre": 4, "cinq": 5, "six": 6,
    "sept": 7, "huit": 8, "neuf": 9, "dix": 10, "onze": 11, "douze": 12, "quinze": 15,
}  # fmt: skip

_RRULE_WEEKDAYS = (MO, TU, WE, TH, FR, SA, SU)
_ICAL_WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")

EN_DASH = "\u2013"

# Dates further away than this are refused as typos ("9 juin 2207").
MAX_YEARS_AHEAD = 10
# A series meets at least once a year: "tous les 999 mois" is a typo, not a network's rhythm.
MAX_INTERVAL = {"WEEKLY": 52, "MONTHLY": 12}

# ---------------------------------------------------------------------------
# Regular expressions (all applied to canonical text, see _canonical)
# ---------------------------------------------------------------------------

# Named groups, shared by the patterns below.
G_WEEKDAY = "weekday"
G_DAY = "day"
G_MONTH = "month"
G_YEAR = "year"
G_WORD = "word"
G_COUNT = "count"
G_UNIT = "unit"
G_START_HOUR = "start_hour"
G_START_MINUTE = "start_minute"
G_END_HOUR = "end_hour"
G_END_MINUTE = "end_minute"

_WEEKDAY_ALT = "|".join(WEEKDAYS_FR)
# Longest first so that "fevrier" wins over "fev" and "septembre" over "sept".
_MONTH_ALT = "|".join(sorted(_MONTH_NUMBERS, key=len, reverse=True))
_NUMBER_ALT = r"\d{1,3}|" + "|".join(_NUMBER_WORDS)


def _time_pattern(hour_group: str, minute_group: str) -> str:
    """A clock time: "14h", "14 h", "9h30", "14h00" or "14:00"."""
    return rf"(?P<{hour_group}>\d{{1,2}})(?:\s?h\s?|:(?=\d{{2}}))(?P<{minute_group}>\d{{2}})?"


_START_TIME = _time_pattern(G_START_HOUR, G_START_MINUTE)
_END_TIME = _time_pattern(G_END_HOUR, G_END_MINUTE)
_TIME_RANGE = (
    rf"(?:(?:de|des|entre|a partir de|a)\s+)?{_START_TIME}"
    rf"(?:\s*(?:-|a|au|jusqu'a|et)\s*{_END_TIME})?"
)
# The time range must close the text (bar an all-day marker, checked apart).
_TIME_RANGE_AT_END_RE = re.compile(rf"(?:^|\s){_TIME_RANGE}$")
# Used only to explain errors: a time range followed by unexpected text.
_TIME_RANGE_ANYWHERE_RE = re.compile(rf"(?:^|\s){_TIME_RANGE}(?=\s|$)")

_ALL_DAY_RE = re.compile(
    r"(?:^|\s)(?:journee complete|journee entiere|toute la journee|jour entier)$"
)

# "le jeudi 9 juin", "jeudi 9 juin", "le 9 juin", "9 juin".
_OPTIONAL_WEEKDAY = rf"(?:(?:le\s+)?(?P<{G_WEEKDAY}>{_WEEKDAY_ALT})\s+|le\s+)?"
# "jeudi 9 juin 2027", "le 1er juillet", "7 aout".
_DAY_MONTH_NAME_RE = re.compile(
    rf"^{_OPTIONAL_WEEKDAY}(?P<{G_DAY}>1er|\d{{1,2}})\s+(?P<{G_MONTH}>{_MONTH_ALT})\.?"
    rf"(?:\s+(?P<{G_YEAR}>\d{{4}}))?$"
)
# "09/06/2027", "15/06".
_DAY_MONTH_NUMERIC_RE = re.compile(
    rf"^{_OPTIONAL_WEEKDAY}(?P<{G_DAY}>\d{{1,2}})/(?P<{G_MONTH}>\d{{1,2}})"
    rf"(?:/(?P<{G_YEAR}>\d{{4}}))?$"
)
# "2027-06-09".
_ISO_DATE_RE = re.compile(
    rf"^{_OPTIONAL_WEEKDAY}(?P<{G_YEAR}>\d{{4}})-(?P<{G_MONTH}>\d{{2}})-(?P<{G_DAY}>\d{{2}})$"
)
# "aujourd'hui", "demain", "apres-demain".
_RELATIVE_WORD_RE = re.compile(
    rf"^(?P<{G_WORD}>aujourd'hui|aujourdhui|demain|apres-demain|apres demain)$"
)
_OFFSET_UNITS = {
    "jour": "jours", "jours": "jours",
    "semaine": "semaines", "semaines": "semaines",
    "mois": "mois",
}  # fmt: skip
# "huit jours" means a week and "quinze jours" two weeks in French.
_DAY_IDIOMS_IN_WEEKS = {8: 1, 15: 2}
_RELATIVE_WORD_DAYS = {
    "aujourd'hui": 0,
    "aujourdhui": 0,
    "demain": 1,
    "apres-demain": 2,
    "apres demain": 2,
}
# "mardi", "mardi prochain".
_WEEKDAY_ONLY_RE = re.compile(rf"^(?P<{G_WEEKDAY}>{_WEEKDAY_ALT})(?:\s+prochain)?$")
# "dans 2 semaines", "dans trois jours", "dans un mois".
_OFFSET_RE = re.compile(
    rf"^dans\s+(?P<{G_COUNT}>{_NUMBER_ALT})\s+(?P<{G_UNIT}>jours?|semaines?|mois)$"
)
# Due dates only: "fin juin", "fin d'aout 2027", "fin du mois".
_END_OF_MONTH_RE = re.compile(
    rf"^fin\s+(?:de\s+|du\s+|d')?(?:mois|(?P<{G_MONTH}>{_MONTH_ALT})\.?"
    rf"(?:\s+(?P<{G_YEAR}>\d{{4}}))?)$"
)

# Recurrences.
_MONTHLY_RE = re.compile(
    rf"^(?:(?:tous les|chaque)\s+mois|tous les\s+(?P<{G_COUNT}>{_NUMBER_ALT})\s+mois"
    r"|mensuel|mensuelle|mensuellement)$"
)
_WEEKLY_RE = re.compile(
    rf"^(?:(?:toutes les|chaque)\s+semaines?|toutes les\s+(?P<{G_COUNT}>{_NUMBER_ALT})\s+semaines"
    rf"|une semaine sur\s+(?P<every>{_NUMBER_ALT})|hebdomadaire|hebdomadairement)$"
)
_DAYS_INTERVAL_RE = re.compile(rf"^tous les\s+(?P<{G_COUNT}>{_NUMBER_ALT})\s+jours$")

# Characters unified by _canonical.
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "`": "'", "\u02bc": "'"})
_DASHES = str.maketrans({"\u2013": "-", "\u2014": "-", "\u2011": "-", "\u2212": "-"})
_PUNCTUATION_AS_SPACE = str.maketrans({",": " ", "(": " ", ")": " ", ";": " "})

# ---------------------------------------------------------------------------
# Public types
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class When:
    """When something happens.

    ``start`` and ``end`` are timezone-aware. For an all-day event, ``start``
    is local midnight of that day and ``end`` local midnight of the next day.
    ``end`` is None when only a start time was given; the caller picks a
    default duration.
    """

    start: datetime
    end: datetime | None
    all_day: bool

    def __post_init__(self) -> None:
        if self.start.tzinfo is None:
            raise ValueError("When.start must be timezone-aware")
        if self.end is not None and self.end.tzinfo is None:
            raise ValueError("When.end must be timezone-aware")


@dataclass(frozen=True)
class Recurrence:
    """A repetition rule: weekly or monthly, every ``interval`` periods.

    For MONTHLY, ``by_weekday_rank`` is ``(weekday, rank)`` with weekday
    0=Monday and rank 1..4, or -1 for the last such weekday of the month.
    """

    freq: str
    interval: int
    by_weekday_rank: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        if self.freq not in ("WEEKLY", "MONTHLY"):
            raise ValueError(f"unsupported frequency: {self.freq!r}")
        if self.interval < 1:
            raise ValueError("interval must be at least 1")

    def rrule_dict(self) -> dict:
        """The rule as a dict for ``icalendar`` (``vRecur``)."""
        rule: dict = {"FREQ": self.freq, "INTERVAL": self.interval}
        if self.by_weekday_rank is not None:
            weekday, rank = self.by_weekday_rank
            rule["BYDAY"] = f"{rank}{_ICAL_WEEKDAYS[weekday]}"
        return rule


# ---------------------------------------------------------------------------
# Text helpers
# ---------------------------------------------------------------------------


def _canonical(text: str) -> str:
    """Normalised text with unified dashes/apostrophes and single spaces."""
    text = normalize(text).translate(_APOSTROPHES).translate(_DASHES)
    text = text.translate(_PUNCTUATION_AS_SPACE)
    return " ".join(text.split()).rstrip(".")


def _parse_number(token: str) -> int:
    """An integer written with digits or as a French word ("deux")."""
    return int(token) if token.isdigit() else _NUMBER_WORDS[token]


def _require_aware(now: datetime) -> None:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")


# ---------------------------------------------------------------------------
# Error messages
# ---------------------------------------------------------------------------


def _example_when(today: date) -> str:
    """A valid parse_when input: a Thursday at least a week after ``today``."""
    day = today + timedelta(days=7 + (3 - today.weekday()) % 7)
    return f"{format_day_fr(day)} 14h-17h"


def _when_error(reason: str, today: date, example: str | None = None) -> UserError:
    example = example or _example_when(today)
    return UserError(f"{reason} Exemple : « {example} ».")


_DUE_EXAMPLES = "« vendredi », « 15 juin », « 15/06/2027 » ou « dans 2 semaines »"


def _due_error(reason: str, example: str | None = None) -> UserError:
    examples = f"« {example} »" if example else _DUE_EXAMPLES
    return UserError(f"{reason} Exemple : {examples}.")


_RECURRENCE_EXAMPLES = "« toutes les semaines », « toutes les 2 semaines » ou « tous les mois »"

# ---------------------------------------------------------------------------
# Date part
# ---------------------------------------------------------------------------


class _DateProblem(Exception):
    """Internal: the date part is wrong. Turned into a UserError by callers.

    ``suggested_day`` is the date the user most likely meant when it is
    obvious (wrong weekday), so that the error can show a tailored example.
    """

    def __init__(self, reason: str, suggested_day: date | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.suggested_day = suggested_day

    def shown_with(self, canonical: str, original: str) -> str:
        """The reason, quoting what the user typed rather than its canonical form."""
        return self.reason.replace(f"« {excerpt(canonical)} »", f"« {excerpt(original)} »")


def _day_number(token: str) -> int:
    return 1 if token == "1er" else int(token)


def _month_number(token: str) -> int:
    return int(token) if token.isdigit() else _MONTH_NUMBERS[token]


def _describe_day_month(day: int, month: int, year: int | None = None) -> str:
    """ "31 juin", "29 février 2027" (month names with accents)."""
    ordinal = "1er" if day == 1 else str(day)
    month_text = MONTHS_FR[month - 1] if 1 <= month <= 12 else f"mois {month}"
    return f"{ordinal} {month_text}" + (f" {year}" if year is not None else "")


def _build_date(day: int, month: int, year: int | None, today: date) -> date:
    """The date for day/month[/year]; without a year, the next one from today."""
    if not 1 <= month <= 12:
        raise _DateProblem(f"Le mois « {month} » n'existe pas (il faut un mois de 1 à 12).")
    if year is not None:
        try:
            return date(year, month, day)
        except ValueError:
            raise _DateProblem(
                f"Le {_describe_day_month(day, month, year)} n'existe pas."
            ) from None
    # A leap year comes at least every 8 years (1900 and 2100 are not leap).
    for candidate_year in range(today.year, today.year + 9):
        try:
            candidate = date(candidate_year, month, day)
        except ValueError:
            continue
        if candidate >= today:
            return candidate
    raise _DateProblem(f"Le {_describe_day_month(day, month)} n'existe pas.")


def _check_weekday(weekday: str | None, day: date) -> None:
    """Refuse a weekday name that contradicts the date."""
    if weekday is None or _WEEKDAY_NUMBERS[weekday] == day.weekday():
        return
    actual = WEEKDAYS_FR[day.weekday()]
    raise _DateProblem(
        f"Le jour ne correspond pas à la date : le {format_date_fr(day)} est un {actual}, "
        f"pas un {weekday}.",
        suggested_day=day,
    )


def _explicit_date(match: re.Match[str], today: date) -> date:
    year_text = match.group(G_YEAR)
    result = _build_date(
        _day_number(match.group(G_DAY)),
        _month_number(match.group(G_MONTH)),
        int(year_text) if year_text else None,
        today,
    )
    _check_weekday(match.group(G_WEEKDAY), result)
    return result


def _check_not_past_nor_too_far(day: date, today: date) -> None:
    if day < today:
        raise _DateProblem(f"Le {format_date_fr(day)} est déjà passé.")
    if day.year > today.year + MAX_YEARS_AHEAD:
        raise _DateProblem(
            f"Le {format_date_fr(day)} est trop loin dans le futur "
            f"(plus de {MAX_YEARS_AHEAD} ans) : est-ce une faute de frappe ?"
        )


def _next_weekday(weekday: str, today: date) -> date:
    """The next such weekday strictly after today ("lundi" said on a Monday)."""
    days_ahead = (_WEEKDAY_NUMBERS[weekday] - today.weekday() - 1) % 7 + 1
    return today + timedelta(days=days_ahead)


def _offset_date(match: re.Match[str], tz: ZoneInfo, now: datetime) -> date:
    """ "dans N jours/semaines/mois", computed by dateparser."""
    count = _parse_number(match.group(G_COUNT))
    unit = _OFFSET_UNITS[match.group(G_UNIT)]
    if count == 0:
        raise _DateProblem("Le délai doit être d'au moins un jour.")
    # French idioms: "dans huit jours" is in a week, "dans quinze jours" in two.
    if unit == "jours" and count in _DAY_IDIOMS_IN_WEEKS:
        count, unit = _DAY_IDIOMS_IN_WEEKS[count], "semaines"
    import dateparser  # on first use: 0.1 s off the bot's start-up

    # dateparser does not know "quinze" and mishandles decimals: give it
    # a plain "dans <digits> <unit>" that our regex has already validated.
    parsed = dateparser.parse(
        f"dans {count} {unit}",
        languages=["fr"],
        settings={
            "PREFER_DATES_FROM": "future",
            "RETURN_AS_TIMEZONE_AWARE": True,
            "RELATIVE_BASE": now.astimezone(tz).replace(tzinfo=None),
            "TIMEZONE": tz.key,
        },
    )
    if parsed is None:  # pragma: no cover - our regex only lets valid offsets through
        raise _DateProblem(f"Je n'ai pas compris le délai « {match.group(0)} ».")
    return parsed.date()


def _parse_date_part(text: str, tz: ZoneInfo, now: datetime) -> date:
    """The calendar day described by canonical ``text`` (no time in it)."""
    today = now.astimezone(tz).date()
    for pattern in (_DAY_MONTH_NAME_RE, _DAY_MONTH_NUMERIC_RE, _ISO_DATE_RE):
        match = pattern.match(text)
        if match:
            return _explicit_date(match, today)
    match = _RELATIVE_WORD_RE.match(text)
    if match:
        return today + timedelta(days=_RELATIVE_WORD_DAYS[match.group(G_WORD)])
    match = _WEEKDAY_ONLY_RE.match(text)
    if match:
        return _next_weekday(match.group(G_WEEKDAY), today)
    match = _OFFSET_RE.match(text)
    if match:
        return _offset_date(match, tz, now)
    raise _DateProblem(f"Je n'ai pas compris la date « {excerpt(text)} ».")


# ---------------------------------------------------------------------------
# Time part
# ---------------------------------------------------------------------------


def _build_time(hour_text: str, minute_text: str | None) -> time:
    hour, minute = int(hour_text), int(minute_text or 0)
    if hour >= 24 or minute >= 60:
        shown = f"{hour_text}h{minute_text or ''}"
        raise _DateProblem(
            f"L'heure « {shown} » n'existe pas : les heures vont de 0 à 23 "
            "et les minutes de 0 à 59."
        )
    return time(hour, minute)


def _split_time_range(text: str) -> tuple[str, time | None, time | None]:
    """Split canonical text into (date part, start time, end time)."""
    match = _TIME_RANGE_AT_END_RE.search(text)
    if match is None:
        _refuse_trailing_text(text)
        return text, None, None
    start = _build_time(match.group(G_START_HOUR), match.group(G_START_MINUTE))
    end = None
    if match.group(G_END_HOUR) is not None:
        end = _build_time(match.group(G_END_HOUR), match.group(G_END_MINUTE))
    return text[: match.start()].strip(), start, end


def _refuse_trailing_text(text: str) -> None:
    """Explain "9 juin 14h-17h blabla": a time range followed by leftovers."""
    matches = list(_TIME_RANGE_ANYWHERE_RE.finditer(text))
    if matches:
        leftover = text[matches[-1].end() :].strip()
        raise _DateProblem(f"Je n'ai pas compris « {excerpt(leftover)} » après l'horaire.")


def _localize(naive: datetime, tz: ZoneInfo) -> datetime:
    """Attach ``tz`` to a wall time, normalising times skipped by DST."""
    return naive.replace(tzinfo=tz).astimezone(UTC).astimezone(tz)


def _local_datetime(day: date, at: time, tz: ZoneInfo) -> datetime:
    """An aware datetime for a wall time; refuse a time skipped by DST."""
    naive = datetime.combine(day, at)
    aware = _localize(naive, tz)
    if aware.replace(tzinfo=None) != naive:
        raise _DateProblem(
            f"L'heure {format_hours_fr(at, None)} n'existe pas le {format_date_fr(day)} "
            "à cause du passage à l'heure d'été."
        )
    return aware


# ---------------------------------------------------------------------------
# parse_when
# ---------------------------------------------------------------------------


def parse_when(text: str, tz: ZoneInfo, now: datetime) -> When:
    """Parse a French date with an optional time range.

    Accepts for instance "9 juin 2027 14h-17h", "jeudi 10 juin de 14h à 17h",
    "2027-06-09 14:00-17:00", "demain 10h-12h", "le 7 juillet" (all day),
    "mardi prochain 9h30-11h" or "lundi 14h" (end left to the caller).
    Raises UserError, with a French message, for anything else.
    """
    _require_aware(now)
    today = now.astimezone(tz).date()
    canonical = _canonical(text)
    if not canonical:
        raise _when_error("Indiquez une date et un horaire.", today)
    try:
        return _parse_when_canonical(canonical, tz, now)
    except _DateProblem as problem:
        example = None
        if problem.suggested_day is not None and problem.suggested_day > today:
            example = f"{format_day_fr(problem.suggested_day)} 14h-17h"
        raise _when_error(problem.shown_with(canonical, text), today, example) from None


def _parse_when_canonical(text: str, tz: ZoneInfo, now: datetime) -> When:
    all_day_match = _ALL_DAY_RE.search(text)
    if all_day_match:
        text = text[: all_day_match.start()].strip()
    date_text, start_time, end_time = _split_time_range(text)
    if all_day_match and start_time is not None:
        raise _DateProblem("Choisissez entre un horaire et « journée complète », pas les deux.")
    if not date_text:
        raise _DateProblem("Il manque la date (par exemple « jeudi » ou « 15 juin »).")
    day = _parse_date_part(date_text, tz, now)
    _check_not_past_nor_too_far(day, now.astimezone(tz).date())
    if start_time is None:
        return _all_day(day, tz)
    return _timed(day, start_time, end_time, tz, now)


def _all_day(day: date, tz: ZoneInfo) -> When:
    start = _localize(datetime.combine(day, time()), tz)
    end = _localize(datetime.combine(day + timedelta(days=1), time()), tz)
    return When(start=start, end=end, all_day=True)


def _timed(day: date, start_time: time, end_time: time | None, tz: ZoneInfo, now: datetime) -> When:
    if end_time is not None and end_time <= start_time:
        raise _DateProblem(
            f"L'heure de fin ({format_hours_fr(end_time, None)}) tombe avant ou en même temps "
            f"que l'heure de début ({format_hours_fr(start_time, None)})."
        )
    start = _local_datetime(day, start_time, tz)
    if start <= now:
        raise _DateProblem(
            f"L'heure de début ({format_hours_fr(start_time, None)}) est déjà passée aujourd'hui."
        )
    end = _local_datetime(day, end_time, tz) if end_time is not None else None
    return When(start=start, end=end, all_day=False)


# ---------------------------------------------------------------------------
# parse_due_date
# ---------------------------------------------------------------------------


def parse_due_date(text: str, tz: ZoneInfo, now: datetime) -> date:
    """Parse a due date for an action item ("vendredi", "15 juin", "fin juin"...).

    Refuses past dates; today is accepted.
    """
    _require_aware(now)
    today = now.astimezone(tz).date()
    canonical = _canonical(text)
    if not canonical:
        raise _due_error("Indiquez une échéance.")
    try:
        due = _end_of_month(canonical, today) or _parse_date_part(canonical, tz, now)
        _check_not_past_nor_too_far(due, today)
    except _DateProblem as problem:
        example = None
        if problem.suggested_day is not None and problem.suggested_day >= today:
            example = format_day_fr(problem.suggested_day)
        raise _due_error(problem.shown_with(canonical, text), example) from None
    return due


def _end_of_month(text: str, today: date) -> date | None:
    """ "fin juin" -> last day of the next June; "fin du mois" -> this month's."""
    match = _END_OF_MONTH_RE.match(text)
    if match is None:
        return None
    if match.group(G_MONTH) is None:
        month, year = today.month, today.year
    else:
        month = _MONTH_NUMBERS[match.group(G_MONTH)]
        year = int(match.group(G_YEAR)) if match.group(G_YEAR) else today.year
        if match.group(G_YEAR) is None and month < today.month:
            year += 1
    return date(year, month, calendar.monthrange(year, month)[1])


# ---------------------------------------------------------------------------
# Recurrence
# ---------------------------------------------------------------------------


def parse_recurrence(text: str, start: datetime) -> Recurrence:
    """Parse "toutes les semaines", "toutes les 2 semaines", "tous les mois"...

    A monthly rule repeats on the same weekday rank as ``start`` (the first
    Thursday, the third Monday...); a fifth weekday means "the last one".
    "tous les 15 jours" is the French idiom for every two weeks.
    """
    canonical = _canonical(text)
    try:
        return _parse_recurrence_canonical(canonical, start)
    except _DateProblem as problem:
        reason = problem.shown_with(canonical, text)
        raise UserError(f"{reason} Exemple : {_RECURRENCE_EXAMPLES}.") from None


def _parse_recurrence_canonical(text: str, start: datetime) -> Recurrence:
    if not text:
        raise _DateProblem("Indiquez une fréquence de répétition.")
    match = _MONTHLY_RE.match(text)
    if match:
        interval = _bounded("MONTHLY", _interval(match.group(G_COUNT)))
        return Recurrence("MONTHLY", interval, _weekday_rank(start))
    match = _WEEKLY_RE.match(text)
    if match:
        interval = _interval(match.group(G_COUNT) or match.group("every"))
        return Recurrence("WEEKLY", _bounded("WEEKLY", interval))
    match = _DAYS_INTERVAL_RE.match(text)
    if match:
        weeks = _weeks_from_days(_parse_number(match.group(G_COUNT)))
        return Recurrence("WEEKLY", _bounded("WEEKLY", weeks))
    raise _DateProblem(
        f"Je n'ai pas compris la répétition « {excerpt(text)} » : seules les répétitions "
        "par semaine ou par mois sont possibles."
    )


def _interval(token: str | None) -> int:
    interval = 1 if token is None else _parse_number(token)
    if interval < 1:
        raise _DateProblem("L'intervalle de répétition doit être d'au moins 1.")
    return interval


def _bounded(freq: str, interval: int) -> int:
    """Refuse a series meeting less than once a year (the same reasoning as MAX_YEARS_AHEAD:
    such an interval is a typo, and its dates would run far past any planning horizon)."""
    if interval > MAX_INTERVAL[freq]:
        every, unit = ("toutes les", "semaines") if freq == "WEEKLY" else ("tous les", "mois")
        raise _DateProblem(
            f"Une répétition {every} {interval} {unit} est trop espacée : une série se réunit "
            f"au moins une fois par an (au plus {MAX_INTERVAL['MONTHLY']} mois ou "
            f"{MAX_INTERVAL['WEEKLY']} semaines entre deux dates)."
        )
    return interval


def _weeks_from_days(days: int) -> int:
    """ "tous les 15 jours" -> 2 weeks, "tous les 8 jours" -> 1, multiples of 7."""
    if days in _DAY_IDIOMS_IN_WEEKS:
        return _DAY_IDIOMS_IN_WEEKS[days]
    if days > 0 and days % 7 == 0:
        return days // 7
    raise _DateProblem(
        f"Une répétition tous les {days} jours n'est pas possible : "
        "il faut un nombre entier de semaines."
    )


def _weekday_rank(start: datetime) -> tuple[int, int]:
    """(weekday, rank) of ``start`` in its month; a fifth weekday is the last (-1)."""
    rank = (start.day - 1) // 7 + 1
    return start.weekday(), -1 if rank == 5 else rank


def occurrences(when: When, rec: Recurrence | None, after: datetime, count: int) -> list[When]:
    """The next ``count`` occurrences starting at or after ``after``.

    Computed in local wall time, so a 14h rencontre stays at 14h across a
    daylight saving time change.
    """
    _require_aware(after)
    if count <= 0:
        return []
    if rec is None:
        return [when] if when.start >= after else []
    tz = when.start.tzinfo
    start_wall = when.start.replace(tzinfo=None)
    duration = when.end.replace(tzinfo=None) - start_wall if when.end is not None else None
    rule = _build_rrule(rec, start_wall)
    # Start a little early: "after" may be in another offset than the result.
    after_wall = after.astimezone(tz).replace(tzinfo=None) - timedelta(days=2)
    result: list[When] = []
    for wall in rule.xafter(after_wall, inc=True):
        start = _localize(wall, tz)
        if start < after:
            continue
        end = _localize(wall + duration, tz) if duration is not None else None
        result.append(When(start=start, end=end, all_day=when.all_day))
        if len(result) == count:
            break
    return result


def _build_rrule(rec: Recurrence, start_wall: datetime) -> rrule:
    if rec.freq == "WEEKLY":
        return rrule(WEEKLY, interval=rec.interval, dtstart=start_wall)
    weekday, rank = rec.by_weekday_rank or _weekday_rank(start_wall)
    return rrule(
        MONTHLY,
        interval=rec.interval,
        dtstart=start_wall,
        byweekday=_RRULE_WEEKDAYS[weekday](rank),
    )


# ---------------------------------------------------------------------------
# Formatting
# ---------------------------------------------------------------------------


def format_date_fr(d: date) -> str:
    """ "9 juin 2027", "1er juillet 2027"."""
    return _describe_day_month(d.day, d.month, d.year)


def format_day_fr(d: date) -> str:
    """ "jeudi 9 juin 2027"."""
    return f"{WEEKDAYS_FR[d.weekday()]} {format_date_fr(d)}"


def _format_time(t: time) -> str:
    return f"{t.hour}h{t.minute:02d}" if t.minute else f"{t.hour}h"


def format_hours_fr(start: time, end: time | None) -> str:
    """ "14h–17h", "9h30–11h", or "14h" without an end."""
    if end is None:
        return _format_time(start)
    return f"{_format_time(start)}{EN_DASH}{_format_time(end)}"


def format_when_fr(when: When) -> str:
    """ "mercredi 9 juin 2027, 14h–17h" or "mercredi 7 juillet 2027 (journée complète)"."""
    start = when.start
    if when.all_day:
        last_day = (when.end - timedelta(days=1)).date() if when.end else start.date()
        if last_day <= start.date():
            return f"{format_day_fr(start.date())} (journée complète)"
        return f"du {format_day_fr(start.date())} au {format_day_fr(last_day)}"
    end = when.end.astimezone(start.tzinfo) if when.end is not None else None
    if end is not None and end.date() != start.date():
        return (
            f"{format_day_fr(start.date())}, {_format_time(start.time())} {EN_DASH} "
            f"{format_day_fr(end.date())}, {_format_time(end.time())}"
        )
    hours = format_hours_fr(start.time(), end.time() if end is not None else None)
    return f"{format_day_fr(start.date())}, {hours}"
