"""iCalendar (RFC 5545) and iTIP (RFC 5546) generation for rencontres.

Pure functions: no I/O, no clock, no randomness. The caller supplies every
value that must be stable between two generations (UID, SEQUENCE, DTSTAMP...).
Escaping, parameter quoting (RFC 6868) and line folding are done by the
``icalendar`` library; this module only decides *what* goes into the file.

VTIMEZONE components are generated from the tz database seen by ``zoneinfo``
(system or ``tzdata``) by ``icalendar.Calendar.add_missing_timezones``
(``Timezone.from_tzid`` underneath), restricted to the years spanned by the
events (the library default is 1970-2038), then post-processed so that ical.js
and vobject read them correctly (see :func:`_spell_out_onsets`).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from typing import TYPE_CHECKING
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.rrule import rrulestr

if TYPE_CHECKING:   # icalendar (~0.1 s to import) is imported on first use (issue 11)
    from icalendar import Calendar, Event, vRecur

__all__ = [
    "METHODS",
    "PARTSTATS",
    "PRODID",
    "Attendee",
    "CalendarEvent",
    "build_calendar",
    "ics_filename",
]

PRODID = "-//Maillage//Maillage//FR"
METHODS = frozenset({"PUBLISH", "REQUEST", "CANCEL"})
PARTSTATS = frozenset({"ACCEPTED", "DECLINED", "NEEDS-ACTION", "TENTATIVE"})

#: How far ahead the VTIMEZONE of an open-ended recurring event is spelled out.
#: Beyond that, clients keep applying the last listed observance.
RECURRENCE_HORIZON_YEARS = 5
#: Upper bound when expanding a COUNT rule to find its last occurrence.
_MAX_EXPANSION = 10_000

_ALARM_FALLBACK = "Rappel"
# C0 controls (except TAB and LF) and DEL are not allowed in TEXT values
# (RFC 5545 §3.3.11, TSAFE-CHAR); CR/CRLF are normalised to LF first.
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@dataclass(frozen=True)
class Attendee:
    name: str
    address: str  # "mailto:x@y.fr" or "https://matrix.to/#/@user:server"
    partstat: str  # "ACCEPTED" | "DECLINED" | "NEEDS-ACTION" | "TENTATIVE"


@dataclass(frozen=True)
class CalendarEvent:
    uid: str
    sequence: int
    summary: str
    description: str
    start: datetime
    end: datetime | None
    all_day: bool
    tzid: str
    location: str = ""
    url: str = ""
    organizer_name: str = ""
    organizer_address: str = ""
    attendees: tuple[Attendee, ...] = ()
    alarms: tuple[timedelta, ...] = ()
    rrule: dict | None = None
    exdates: tuple[datetime, ...] = ()  # occurrence starts removed from the RRULE set
    cancelled: bool = False
    created: datetime | None = None
    last_modified: datetime | None = None


# --------------------------------------------------------------------------- helpers


def _text(value: str) -> str:
    """Make free text representable as an iCalendar TEXT value.

    TEXT cannot carry a carriage return or other control characters, so line
    breaks are normalised to LF (which icalendar writes as ``\\n``) and the
    remaining control characters are dropped. Everything else, including
    ``;``, ``,``, ``\\`` and non-BMP characters, is left to icalendar's escaping.
    """
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL_CHARS.sub("", value)


def _param(value: str) -> str:
    """Parameter values (CN) cannot contain line breaks at all."""
    return " ".join(_text(value).split("\n")).strip()


def _zone(tzid: str) -> ZoneInfo:
    try:
        return ZoneInfo(tzid)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {tzid!r}") from exc


def _require_aware(value: datetime, what: str) -> None:
    if not isinstance(value, datetime):
        raise TypeError(f"{what} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware")


def _utc(value: datetime, what: str) -> datetime:
    _require_aware(value, what)
    return value.astimezone(UTC)


def _cal_address(address: str, what: str) -> str:
    address = address.strip()
    if not address:
        raise ValueError(f"{what} address is empty")
    if ":" not in address:
        if "@" in address:  # bare e-mail address
            return f"mailto:{address}"
        raise ValueError(f"{what} address {address!r} is not a URI")
    if any(c.isspace() or ord(c) < 0x20 for c in address):
        raise ValueError(f"{what} address {address!r} contains whitespace")
    return address


def _all_day_bounds(ev: CalendarEvent, zone: ZoneInfo) -> tuple[date, date]:
    """DTSTART/DTEND dates of an all-day event (DTEND is exclusive)."""
    first = ev.start.astimezone(zone).date()
    if ev.end is None:
        return first, first + timedelta(days=1)
    local_end = ev.end.astimezone(zone)
    last = local_end.date()
    if local_end.time() != time(0):  # e.g. 23:59 on the last day: inclusive
        last += timedelta(days=1)
    return first, max(last, first + timedelta(days=1))


def _rrule(ev: CalendarEvent, zone: ZoneInfo) -> vRecur:
    from icalendar import vDDDTypes, vRecur

    rule: dict[str, object] = {str(k).upper(): v for k, v in (ev.rrule or {}).items()}
    if "FREQ" not in rule:
        raise ValueError(f"{ev.uid}: RRULE needs FREQ")
    if "UNTIL" in rule and "COUNT" in rule:
        raise ValueError(f"{ev.uid}: RRULE cannot have both UNTIL and COUNT")
    until = rule.get("UNTIL")
    if isinstance(until, str):
        until = vDDDTypes.from_ical(until)
    if isinstance(until, datetime):
        if until.tzinfo is None:  # read as local wall time of the event
            until = until.replace(tzinfo=zone)
        # RFC 5545 §3.3.10: DATE for all-day events, UTC DATE-TIME otherwise.
        rule["UNTIL"] = until.astimezone(zone).date() if ev.all_day else until.astimezone(UTC)
    elif isinstance(until, date):
        if not ev.all_day:  # inclusive: up to the end of that local day
            end_of_day = datetime.combine(until + timedelta(days=1), time(0), zone)
            until = end_of_day.astimezone(UTC) - timedelta(seconds=1)
        rule["UNTIL"] = until
    return vRecur(rule)


def _occurrences(recur: vRecur, start: date | datetime):
    """dateutil expansion of ``recur`` (all-day events expand from local midnight)."""
    if not isinstance(start, datetime):
        start = datetime.combine(start, time(0))
    return rrulestr(recur.to_ical().decode("ascii"), dtstart=start)


def _check_rrule_start(ev: CalendarEvent, recur: vRecur, start: date | datetime) -> None:
    # RFC 5545 §3.8.5.3: a DTSTART that is not an occurrence of its RRULE gives
    # an undefined recurrence set (ical.js and dateutil drop it, Google keeps it).
    first = next(iter(_occurrences(recur, start)), None)
    expected = start if isinstance(start, datetime) else datetime.combine(start, time(0))
    if first != expected:
        raise ValueError(
            f"{ev.uid}: start {start} is not the first occurrence of RRULE "
            f"{recur.to_ical().decode('ascii')} (first would be {first})"
        )


def _last_year(ev: CalendarEvent, zone: ZoneInfo, recur: vRecur | None, dtstamp: datetime) -> int:
    """Last year whose UTC offsets matter for a timed event."""
    start = ev.start.astimezone(zone)
    last = start if ev.end is None else max(start, ev.end.astimezone(zone))
    if recur is None:
        return last.year
    if "UNTIL" in recur:
        until = recur["UNTIL"]
        until = until[0] if isinstance(until, list) else until
        return max(last.year, until.year)
    if "COUNT" in recur:
        occurrences = list(_occurrences(recur, start)[:_MAX_EXPANSION])
        if occurrences:
            return max(last.year, (occurrences[-1] + (last - start)).year)
    # Open-ended: spell the zone out for a reasonable horizon.
    return max(last.year, dtstamp.year) + RECURRENCE_HORIZON_YEARS


def _spell_out_onsets(cal: Calendar) -> None:
    """Rewrite the RDATEs of generated VTIMEZONEs as one onset per property.

    ``Timezone.from_tzid`` writes an observance's first onset as DTSTART and
    the later ones as a single comma-separated RDATE. Two widespread readers
    misread that: ical.js (Thunderbird) and vobject (Radicale) only use the
    first value of a multi-valued RDATE, and ical.js ignores DTSTART once an
    observance has RDATE. So every onset, DTSTART included, gets its own RDATE
    line; RFC 5545 §3.8.5.2 treats the repeated DTSTART as the same instance.
    """
    for timezone in cal.timezones:
        for observance in timezone.subcomponents:
            rdate = observance.get("RDATE")
            if rdate is None:
                continue
            lists = rdate if isinstance(rdate, list) else [rdate]
            onsets = [observance["DTSTART"].dt]
            onsets += [value.dt for rdates in lists for value in rdates.dts]
            del observance["RDATE"]
            for onset in dict.fromkeys(onsets):
                observance.add("RDATE", onset)


def _add_exdates(out: Event, ev: CalendarEvent, zone: ZoneInfo) -> None:
    """One EXDATE line per removed occurrence, in the same form as DTSTART.

    An EXDATE must equal the start of the occurrence it removes: a DATE for
    all-day events, else a DATE-TIME with the event's TZID (RFC 5545 §3.8.5.1).
    One value per line, as for VTIMEZONE RDATEs (see :func:`_spell_out_onsets`).
    """
    if ev.exdates and not ev.rrule:
        raise ValueError(f"{ev.uid}: EXDATE needs an RRULE")
    for removed in sorted(set(ev.exdates)):
        _require_aware(removed, "exdate")
        local = removed.astimezone(zone)
        out.add("EXDATE", local.date() if ev.all_day else local)


def _event(ev: CalendarEvent, *, method: str | None, dtstamp: datetime) -> Event:
    from icalendar import Alarm, Event, vCalAddress

    if not ev.uid or not ev.uid.strip():
        raise ValueError("event UID is required (it must be stable, never random)")
    if any(c.isspace() for c in ev.uid):
        raise ValueError(f"event UID {ev.uid!r} must not contain whitespace")
    if ev.sequence < 0:
        raise ValueError(f"{ev.uid}: SEQUENCE must be >= 0")
    _require_aware(ev.start, "start")
    if ev.end is not None:
        _require_aware(ev.end, "end")
        if ev.end < ev.start:
            raise ValueError(f"{ev.uid}: end is before start")
    zone = _zone(ev.tzid)
    recur = _rrule(ev, zone) if ev.rrule else None

    out = Event()
    out.add("UID", ev.uid)
    out.add("DTSTAMP", dtstamp)
    out.add("SEQUENCE", ev.sequence)
    if ev.all_day:
        first, after_last = _all_day_bounds(ev, zone)
        dtstart: date | datetime = first
        out.add("DTSTART", first)  # VALUE=DATE
        out.add("DTEND", after_last)
    else:
        # Expressed in the event's own zone so that TZID and VTIMEZONE match.
        dtstart = ev.start.astimezone(zone)
        out.add("DTSTART", dtstart)
        if ev.end is not None:
            out.add("DTEND", ev.end.astimezone(zone))
    if recur is not None:
        _check_rrule_start(ev, recur, dtstart)
        out.add("RRULE", recur)
    _add_exdates(out, ev, zone)
    out.add("SUMMARY", _text(ev.summary))
    if ev.description:
        out.add("DESCRIPTION", _text(ev.description))
    if ev.location:
        out.add("LOCATION", _text(ev.location))
    if ev.url:
        out.add("URL", ev.url.strip())
    cancelled = ev.cancelled or method == "CANCEL"
    out.add("STATUS", "CANCELLED" if cancelled else "CONFIRMED")
    if ev.created is not None:
        out.add("CREATED", _utc(ev.created, "created"))
    if ev.last_modified is not None:
        out.add("LAST-MODIFIED", _utc(ev.last_modified, "last_modified"))

    if ev.organizer_address.strip():
        organizer = vCalAddress(_cal_address(ev.organizer_address, "organizer"))
        if ev.organizer_name.strip():
            organizer.params["CN"] = _param(ev.organizer_name)
        out.add("ORGANIZER", organizer)
    elif method in {"REQUEST", "CANCEL"}:
        raise ValueError(f"{ev.uid}: iTIP METHOD:{method} requires an organizer address")

    for attendee in ev.attendees:
        partstat = attendee.partstat.upper()
        if partstat not in PARTSTATS:
            raise ValueError(f"{ev.uid}: invalid PARTSTAT {attendee.partstat!r}")
        address = vCalAddress(_cal_address(attendee.address, "attendee"))
        if attendee.name.strip():
            address.params["CN"] = _param(attendee.name)
        address.params["PARTSTAT"] = partstat
        address.params["ROLE"] = "REQ-PARTICIPANT"
        address.params["RSVP"] = "FALSE"
        out.add("ATTENDEE", address)

    alarm_text = _text(ev.summary) or _ALARM_FALLBACK
    for offset in dict.fromkeys(ev.alarms):  # drop duplicates, keep order
        alarm = Alarm()
        alarm.add("ACTION", "DISPLAY")
        alarm.add("TRIGGER", -offset)  # relative to DTSTART
        alarm.add("DESCRIPTION", alarm_text)
        out.add_component(alarm)
    return out


# --------------------------------------------------------------------------- public API


def build_calendar(
    events: Sequence[CalendarEvent],
    *,
    method: str | None,
    dtstamp: datetime,
    calname: str = "",
) -> bytes:
    """Serialise ``events`` as one VCALENDAR object (UTF-8, CRLF, folded).

    ``method`` is the iTIP method ("PUBLISH", "REQUEST", "CANCEL") or ``None``
    for a subscription feed (no METHOD property). REQUEST and CANCEL need an
    organizer on every event and a single UID per message (RFC 5546 §3.2).
    With CANCEL every event is written with STATUS:CANCELLED.
    """
    if method is not None:
        method = method.upper()
        if method not in METHODS:
            raise ValueError(f"unsupported iTIP method {method!r}")
    stamp = _utc(dtstamp, "dtstamp")
    if method in {"REQUEST", "CANCEL"}:
        if not events:
            raise ValueError(f"METHOD:{method} needs at least one event")
        if len({ev.uid for ev in events}) != 1:
            raise ValueError(f"an iTIP METHOD:{method} message carries exactly one UID")

    from icalendar import Calendar

    cal = Calendar()
    cal.add("PRODID", PRODID)
    cal.add("VERSION", "2.0")
    cal.add("CALSCALE", "GREGORIAN")
    if method is not None:
        cal.add("METHOD", method)
    if calname:
        cal.add("X-WR-CALNAME", _param(calname))

    # years spanned per time zone, for compact VTIMEZONEs
    years: dict[str, list[int]] = {}
    for ev in events:
        cal.add_component(_event(ev, method=method, dtstamp=stamp))
        if not ev.all_day and ev.tzid != "UTC":
            zone = _zone(ev.tzid)
            span = years.setdefault(ev.tzid, [])
            recur = _rrule(ev, zone) if ev.rrule else None
            span += [ev.start.astimezone(zone).year, _last_year(ev, zone, recur, stamp)]

    timed_tzids = set(years)
    if method is None and len(timed_tzids) == 1:
        # Only a hint for clients that subscribe to the feed (Google, Apple):
        # every DTSTART/DTEND carries its own TZID anyway.
        cal.add("X-WR-TIMEZONE", next(iter(timed_tzids)))

    if years:
        first = min(min(span) for span in years.values())
        last = max(max(span) for span in years.values())
        cal.add_missing_timezones(first_date=date(first, 1, 1), last_date=date(last + 1, 1, 1))
        _spell_out_onsets(cal)
        missing = cal.get_missing_tzids()
        if missing:  # pragma: no cover - ZoneInfo() accepted them above
            raise ValueError(f"cannot build VTIMEZONE for {sorted(missing)}")
    return cal.to_ical()


def ics_filename(summary: str, start: datetime) -> str:
    """A safe ASCII file name such as ``2027-06-09-reseau-cpo.ics``."""
    ascii_text = unicodedata.normalize("NFKD", summary).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    if len(slug) > 60:
        slug = slug[:60].rsplit("-", 1)[0] or slug[:60]
    slug = slug.strip("-") or "rencontre"
    return f"{start.date().isoformat()}-{slug}.ics"
