"""Independent checks for generated iCalendar data.

* :func:`parse_with_icaljs` - Mozilla's ical.js (Node), see ``tests/icaljs``;
* :func:`parse_with_vobject` - the ``vobject`` Python parser (dateutil for time zones);
* :func:`check_rules` - our own structural rules, on the raw bytes.

Neither parser shares code with ``icalendar``, the library that writes the data.
Time-zone conversions are done by each parser from the VTIMEZONE in the file,
not from a system tz database, so a wrong VTIMEZONE shows up as a wrong instant.

The ical.js helper needs ``node`` and ``npm ci --prefix tests/icaljs``; without
them the calling test is skipped (with the reason), never silently passed — and in
CI (``CI`` set) it fails instead (:func:`tests.conftest_servers.skip_or_fail`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import vobject
from dateutil import tz as dateutil_tz

from tests.conftest_servers import skip_or_fail

ICALJS_DIR = Path(__file__).parent / "icaljs"
PARSE_SCRIPT = ICALJS_DIR / "parse.mjs"
MAX_OCTETS = 75
OCCURRENCES = 6  # same as parse.mjs

# Fields both parsers report for a VEVENT and that must agree.
COMMON_FIELDS = (
    "uid",
    "sequence",
    "summary",
    "description",
    "location",
    "url",
    "status",
    "dtstamp",
    "created",
    "lastModified",
    "start",
    "end",
    "isDate",
    "startZone",
    "occurrences",
    "organizer",
    "attendees",
    "alarms",
)


# --------------------------------------------------------------------------- ical.js


def parse_with_icaljs(data: bytes) -> dict:
    """Parse with ical.js; returns the JSON printed by ``tests/icaljs/parse.mjs``.

    Fails the test (not skips) when ical.js rejects the data.
    """
    node = shutil.which("node")
    if node is None:
        skip_or_fail("ical.js cross-check needs Node.js: `node` is not on PATH")
    if not (ICALJS_DIR / "node_modules" / "ical.js" / "package.json").is_file():
        skip_or_fail(
            "ical.js cross-check needs its dependencies: run `npm ci --prefix tests/icaljs`"
        )
    env = {"PATH": os.environ.get("PATH", ""), "TZ": "UTC", "LANG": "C.UTF-8"}
    proc = subprocess.run(
        [node, str(PARSE_SCRIPT)],
        input=data,
        capture_output=True,
        cwd=ICALJS_DIR,
        env=env,
        timeout=60,
        check=False,
    )
    stderr = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == 0, f"ical.js rejected the calendar (rc={proc.returncode}): {stderr}"
    return json.loads(proc.stdout.decode("utf-8"))


# --------------------------------------------------------------------------- vobject


def _iso(value: date | datetime | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        assert value.tzinfo is not None, f"vobject returned a floating time {value!r}"
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return value.isoformat()


def _zone_of(line) -> str | None:
    value = line.value
    if not isinstance(value, datetime):
        return None
    tzid = _param(line, "X-VOBJ-ORIGINAL-TZID")  # where vobject keeps TZID after parsing
    if tzid is None:
        return "UTC" if value.utcoffset() == timedelta(0) else "floating"
    # vobject falls back to pytz for unknown TZIDs: insist on the file's VTIMEZONE.
    assert isinstance(value.tzinfo, dateutil_tz.tz._tzicalvtz), (
        f"vobject did not resolve TZID={tzid} through a VTIMEZONE of the file "
        f"(got {type(value.tzinfo).__name__})"
    )
    return tzid


def _duration_string(delta: timedelta) -> str:
    """timedelta -> RFC 5545 duration, spelled like ical.js does (-P7D, -PT1H, -P1DT2H)."""
    sign = "-" if delta < timedelta(0) else ""
    seconds = abs(int(delta.total_seconds()))
    days, seconds = divmod(seconds, 86400)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    out = f"{sign}P{days}D" if days else f"{sign}P"
    if hours or minutes or seconds:
        out += "T"
        out += f"{hours}H" if hours else ""
        out += f"{minutes}M" if minutes else ""
        out += f"{seconds}S" if seconds else ""
    return out if out not in {"P", "-P"} else "PT0S"


def _param(line, name: str) -> str | None:
    values = line.params.get(name)
    if not values:
        return None
    # vobject does not implement RFC 6868 (^' ^n ^^ in parameter values).
    return re.sub(r"\^(['n^])", lambda m: {"'": '"', "n": "\n", "^": "^"}[m[1]], values[0])


def _value(component, name: str):
    line = component.contents.get(name.lower())
    return line[0].value if line else None


def _reset_vobject_zones(text: str) -> None:
    # vobject keeps a process-wide TZID -> tzinfo registry in which the first
    # registration wins (and unknown TZIDs fall back to pytz). Forget every TZID
    # this file mentions so that only its own VTIMEZONEs can resolve them.
    unfolded = re.sub(r"\r?\n[ \t]", "", text)
    for _quote, tzid in re.findall(r'TZID[:=]("?)([^";:\r\n]+)\1', unfolded):
        vobject.icalendar.registerTzid(tzid, None)


def parse_with_vobject(data: bytes) -> list[dict]:
    """Parse with vobject; one dict per VEVENT with the keys of :data:`COMMON_FIELDS`."""
    text = data.decode("utf-8")
    _reset_vobject_zones(text)
    components = list(vobject.readComponents(text, validate=True))
    assert len(components) == 1, f"expected one VCALENDAR, got {len(components)}"
    cal = components[0]
    assert cal.name == "VCALENDAR"
    events = []
    for vevent in cal.contents.get("vevent", []):
        start_line = vevent.dtstart
        end_line = vevent.contents.get("dtend", [None])[0]
        timed = isinstance(start_line.value, datetime)
        occurrences: list[str | None] = []
        if "rrule" in vevent.contents:
            for when in vevent.getrruleset(addRDate=False):
                if len(occurrences) == OCCURRENCES:
                    break
                occurrences.append(_iso(when if timed else when.date()))
        organizer = vevent.contents.get("organizer", [None])[0]
        sequence = _value(vevent, "sequence")
        events.append(
            {
                "uid": _value(vevent, "uid"),
                "sequence": int(sequence) if sequence is not None else None,
                "summary": _value(vevent, "summary"),
                "description": _value(vevent, "description"),
                "location": _value(vevent, "location"),
                "url": _value(vevent, "url"),
                "status": _value(vevent, "status"),
                "dtstamp": _iso(_value(vevent, "dtstamp")),
                "created": _iso(_value(vevent, "created")),
                "lastModified": _iso(_value(vevent, "last-modified")),
                "start": _iso(start_line.value),
                "end": _iso(end_line.value) if end_line is not None else None,
                "isDate": not timed,
                "startZone": _zone_of(start_line),
                "rrule": _value(vevent, "rrule"),
                "occurrences": occurrences,
                "organizer": (
                    {"cn": _param(organizer, "CN"), "address": organizer.value}
                    if organizer is not None
                    else None
                ),
                "attendees": [
                    {
                        "cn": _param(line, "CN"),
                        "address": line.value,
                        "partstat": _param(line, "PARTSTAT"),
                        "role": _param(line, "ROLE"),
                        "rsvp": _param(line, "RSVP"),
                    }
                    for line in vevent.contents.get("attendee", [])
                ],
                "alarms": [
                    {
                        "action": _value(alarm, "action"),
                        "trigger": _duration_string(alarm.trigger.value),
                        "description": _value(alarm, "description"),
                    }
                    for alarm in vevent.contents.get("valarm", [])
                ],
            }
        )
    return events


def parse_both(data: bytes) -> list[dict]:
    """Parse with both parsers, assert they agree, return the ical.js events.

    The returned dicts also carry ``method``/``calname`` of the calendar under
    the keys ``_method`` and ``_calname``.
    """
    py = parse_with_vobject(data)
    js = parse_with_icaljs(data)
    assert len(js["events"]) == len(py), (len(js["events"]), len(py))
    for js_event, py_event in zip(js["events"], py, strict=True):
        for field in COMMON_FIELDS:
            assert js_event[field] == py_event[field], (
                f"parsers disagree on {field} of {js_event['uid']}: "
                f"ical.js={js_event[field]!r} vobject={py_event[field]!r}"
            )
        js_event["_method"] = js["method"]
        js_event["_calname"] = js["calname"]
    return js["events"]


# --------------------------------------------------------------------------- own rules


def _split_content_line(line: str) -> tuple[str, list[tuple[str, str]], str]:
    """``NAME;P=a;Q="b:c":value`` -> (NAME, [(P, a), (Q, b:c)], value)."""
    quoted = False
    for index, char in enumerate(line):
        if char == '"':
            quoted = not quoted
        elif char == ":" and not quoted:
            head, value = line[:index], line[index + 1 :]
            break
    else:
        raise AssertionError(f"content line without ':': {line!r}")
    parts: list[str] = []
    current, quoted = "", False
    for char in head:
        if char == '"':
            quoted = not quoted
        if char == ";" and not quoted:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    params = []
    for part in parts[1:]:
        key, _, val = part.partition("=")
        params.append((key.upper(), val.strip('"')))
    return parts[0].upper(), params, value


def check_rules(data: bytes, method: str | None) -> None:
    """Assert the rules we promise on top of "some parser accepts it"."""
    assert isinstance(data, bytes)
    text = data.decode("utf-8")  # strict: must be valid UTF-8
    assert text.endswith("\r\n"), "must end with CRLF"
    assert "\r" not in text.replace("\r\n", ""), "bare CR"
    assert "\n" not in text.replace("\r\n", ""), "bare LF (line endings must be CRLF)"
    physical = data.split(b"\r\n")[:-1]
    for raw in physical:
        assert len(raw) <= MAX_OCTETS, f"line of {len(raw)} octets: {raw[:40]!r}..."
        raw.decode("utf-8")  # folding must not split a multi-octet character
        assert raw, "empty line"

    logical: list[str] = []
    for raw in physical:
        line = raw.decode("utf-8")
        if line[0] in " \t":
            assert logical, "continuation line first"
            logical[-1] += line[1:]
        else:
            logical.append(line)

    stack: list[str] = []
    components: list[dict] = []  # {"name", "props": [(name, params, value)]}
    current: list[dict] = []
    for line in logical:
        name, params, value = _split_content_line(line)
        if name == "BEGIN":
            stack.append(value.upper())
            current.append({"name": value.upper(), "props": [], "parents": list(stack[:-1])})
        elif name == "END":
            assert stack and stack[-1] == value.upper(), f"unbalanced END:{value}"
            stack.pop()
            components.append(current.pop())
        else:
            assert current, f"property outside any component: {line!r}"
            current[-1]["props"].append((name, dict(params), value))
    assert not stack, f"unclosed components {stack}"
    calendars = [c for c in components if c["name"] == "VCALENDAR"]
    assert len(calendars) == 1, "exactly one VCALENDAR"
    assert logical[0] == "BEGIN:VCALENDAR" and logical[-1] == "END:VCALENDAR"

    cal_props = calendars[0]["props"]
    methods = [value for name, _, value in cal_props if name == "METHOD"]
    assert methods == ([] if method is None else [method]), f"METHOD {methods} != {method}"
    assert ("VERSION", {}, "2.0") in cal_props
    assert any(name == "PRODID" for name, _, _ in cal_props)

    timezones = {
        value
        for c in components
        if c["name"] == "VTIMEZONE"
        for name, _, value in c["props"]
        if name == "TZID"
    }
    for component in components:
        for name, params, value in component["props"]:
            if "TZID" in params:
                assert params["TZID"] in timezones, f"{name} uses TZID without VTIMEZONE"
            if name in {"DTSTAMP", "CREATED", "LAST-MODIFIED"}:
                assert value.endswith("Z"), f"{name}:{value} is not UTC"

    events = [c for c in components if c["name"] == "VEVENT"]
    for event in events:
        names = [name for name, _, _ in event["props"]]
        for required in ("UID", "DTSTAMP", "DTSTART"):
            assert names.count(required) == 1, f"VEVENT needs exactly one {required}"
        props = {name: (params, value) for name, params, value in event["props"]}
        assert props["UID"][1].strip(), "empty UID"
        if props["DTSTART"][0].get("VALUE") == "DATE":
            assert re.fullmatch(r"\d{8}", props["DTSTART"][1])
        if method in {"REQUEST", "CANCEL"}:
            assert "ORGANIZER" in props, f"METHOD:{method} needs ORGANIZER"
        if method == "CANCEL":
            assert props["STATUS"][1] == "CANCELLED"
    for alarm in (c for c in components if c["name"] == "VALARM"):
        names = {name for name, _, _ in alarm["props"]}
        assert {"ACTION", "TRIGGER", "DESCRIPTION"} <= names, f"incomplete VALARM {names}"
