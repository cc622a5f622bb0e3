// Test helper: parse an iCalendar object from stdin with ical.js (Mozilla,
// an implementation independent from the Python one) and print a JSON summary.
//
//   node tests/icaljs/parse.mjs < file.ics
//
// Exit status: 0 on success, 2 on a parse error, 3 on a structural problem
// (e.g. a TZID without a matching VTIMEZONE in the same object).
import { readFileSync } from "node:fs";
import ICAL from "ical.js";

const OCCURRENCES = 6; // instances listed for recurring events

function fail(code, message) {
  process.stderr.write(`${message}\n`);
  process.exit(code);
}

function text(component, name) {
  const value = component.getFirstPropertyValue(name);
  return value === null || value === undefined ? null : String(value);
}

// A DATE as "YYYY-MM-DD"; a DATE-TIME as a UTC ISO string, converted through
// the VTIMEZONE of its TZID (not through the system tz database).
function instant(time) {
  if (!time) return null;
  if (time.isDate) return time.toString();
  return time.toJSDate().toISOString().replace(".000Z", "Z");
}

function zoneOf(time) {
  if (!time || time.isDate) return null;
  if (!time.zone || time.zone === ICAL.Timezone.localTimezone) return "floating";
  return time.zone.tzid;
}

let jcal;
const source = readFileSync(0, "utf8");
try {
  jcal = ICAL.parse(source);
} catch (error) {
  fail(2, `ical.js parse error: ${error.message}`);
}
if (Array.isArray(jcal[0])) {
  // Several top-level components: we always emit exactly one VCALENDAR.
  fail(3, `expected one VCALENDAR, got ${jcal.length} top-level components`);
}

const calendar = new ICAL.Component(jcal);
if (calendar.name !== "vcalendar") fail(3, `top-level component is ${calendar.name}`);

const timezones = [];
for (const vtimezone of calendar.getAllSubcomponents("vtimezone")) {
  const zone = new ICAL.Timezone(vtimezone);
  ICAL.TimezoneService.register(zone);
  timezones.push(zone.tzid);
}

const errors = [];
const events = [];
for (const vevent of calendar.getAllSubcomponents("vevent")) {
  for (const name of ["dtstart", "dtend", "recurrence-id"]) {
    const property = vevent.getFirstProperty(name);
    const tzid = property && property.getParameter("tzid");
    if (tzid && !timezones.includes(tzid)) {
      errors.push(`${name} uses TZID ${tzid} without a VTIMEZONE`);
    }
  }

  const event = new ICAL.Event(vevent);
  const rruleValue = vevent.getFirstPropertyValue("rrule");
  const occurrences = [];
  if (rruleValue) {
    const iterator = event.iterator();
    for (let next = iterator.next(); next && occurrences.length < OCCURRENCES; next = iterator.next()) {
      occurrences.push(instant(next));
    }
  }
  const organizer = vevent.getFirstProperty("organizer");
  events.push({
    uid: event.uid,
    sequence: event.sequence,
    summary: event.summary,
    description: event.description,
    location: event.location,
    url: text(vevent, "url"),
    status: text(vevent, "status"),
    dtstamp: instant(vevent.getFirstPropertyValue("dtstamp")),
    created: instant(vevent.getFirstPropertyValue("created")),
    lastModified: instant(vevent.getFirstPropertyValue("last-modified")),
    start: instant(event.startDate),
    end: vevent.hasProperty("dtend") ? instant(event.endDate) : null,
    startZone: zoneOf(event.startDate),
    isDate: event.startDate.isDate,
    rrule: rruleValue ? rruleValue.toString() : null,
    occurrences,
    organizer: organizer
      ? { cn: organizer.getParameter("cn") ?? null, address: organizer.getFirstValue() }
      : null,
    attendees: vevent.getAllProperties("attendee").map((attendee) => ({
      cn: attendee.getParameter("cn") ?? null,
      address: attendee.getFirstValue(),
      partstat: attendee.getParameter("partstat") ?? null,
      role: attendee.getParameter("role") ?? null,
      rsvp: attendee.getParameter("rsvp") ?? null,
    })),
    alarms: vevent.getAllSubcomponents("valarm").map((alarm) => ({
      action: text(alarm, "action"),
      trigger: text(alarm, "trigger"),
      description: text(alarm, "description"),
    })),
  });
}

if (errors.length) fail(3, errors.join("\n"));

process.stdout.write(
  JSON.stringify(
    {
      prodid: text(calendar, "prodid"),
      version: text(calendar, "version"),
      method: text(calendar, "method"),
      calname: text(calendar, "x-wr-calname"),
      timezones,
      events,
    },
    null,
    2,
  ) + "\n",
);
