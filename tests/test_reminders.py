"""Reminders: the arithmetic (pure, explicit clocks, DST), the catch-up after downtime,
rescheduling and removal, and the real APScheduler driven against the real database
through a fake host implementing ServiceHost over the real Core.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from bot.domain import reminders
from bot.domain.reminders import (
    Reminder,
    due_reminders,
    load_due,
    parse_offsets,
    plan_occurrence,
    reminder_instants,
    time_until_fr,
)
from bot.engine.events import Message
from bot.services import reminders as reminder_service_module
from bot.services.reminders import ReminderService
from bot.storage.models import (
    CancelledOccurrence,
    Outbox,
    Registration,
    ReminderSent,
    Rencontre,
    Room,
)
from bot.support.errors import UserError
from tests.conftest import FACILITATOR, MEMBER, NOW, ROOM
from tests.servicehost import FakeHost

PARIS = ZoneInfo("Europe/Paris")
BOT = "@maillage:localhost"
DEFAULT = (timedelta(days=7), timedelta(days=1), timedelta(hours=1))


def paris(*args) -> datetime:
    return datetime(*args, tzinfo=PARIS)


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def instants(start: datetime, offsets=DEFAULT) -> dict[timedelta, datetime]:
    return dict(reminder_instants(start, offsets, PARIS))


# --- whole days in wall time, hours as durations -------------------------------------------


def test_day_after_the_spring_change():
    # Monday 29 March 2027 14h (CEST, 12:00Z); clocks went forward on Sunday 28 at 2h.
    found = instants(paris(2027, 3, 29, 14))
    assert found[timedelta(days=1)] == utc(2027, 3, 28, 12)      # 14h on the 28th, CEST
    assert found[timedelta(days=7)] == utc(2027, 3, 22, 13)      # 14h on the 22nd, CET (not 12:00Z)
    assert found[timedelta(hours=1)] == utc(2027, 3, 29, 11)


def test_j_minus_1_across_the_spring_change_keeps_the_wall_time():
    # Sunday 28 March 2027 14h CEST (12:00Z); the day before is still CET.
    found = instants(paris(2027, 3, 28, 14))
    assert found[timedelta(days=1)] == utc(2027, 3, 27, 13)      # 14h on the 27th, CET
    assert found[timedelta(days=1)].astimezone(PARIS).hour == 14


def test_autumn_change():
    # Monday 1 November 2027 14h CET (13:00Z); clocks went back on Sunday 31 October at 3h.
    found = instants(paris(2027, 11, 1, 14))
    assert found[timedelta(days=1)] == utc(2027, 10, 31, 13)
    assert found[timedelta(days=7)] == utc(2027, 10, 25, 12)     # 14h on the 25th, CEST
    # Sunday 31 October 14h CET: J-1 is Saturday 14h CEST, 25 hours before.
    sunday = instants(paris(2027, 10, 31, 14))
    assert sunday[timedelta(days=1)] == utc(2027, 10, 30, 12)


def test_hour_offsets_are_durations_across_the_change():
    # Sunday 31 October 2027 3h30 CET (02:30Z): two hours before is 00:30Z, i.e. 2h30 CEST
    # on the clock (the wall-clock 1h30 would be three hours before).
    found = instants(paris(2027, 10, 31, 3, 30), (timedelta(hours=2), timedelta(minutes=90)))
    assert found[timedelta(hours=2)] == utc(2027, 10, 31, 0, 30)
    assert found[timedelta(minutes=90)] == utc(2027, 10, 31, 1, 0)


def test_instants_are_sorted_earliest_first():
    found = reminder_instants(paris(2027, 6, 9, 14), DEFAULT, PARIS)
    assert [offset for offset, _ in found] == [timedelta(days=7), timedelta(days=1), timedelta(hours=1)]


# --- what is due -------------------------------------------------------------------------------

START = paris(2027, 6, 9, 14)  # 12:00Z


def planned(start=START, offsets=DEFAULT, rencontre_id=1) -> list[Reminder]:
    return plan_occurrence(rencontre_id, ROOM, start, offsets, PARIS)


def offsets_of(items: list[Reminder]) -> list[int]:
    return [r.offset_minutes for r in items]


def test_before_any_reminder_everything_is_scheduled():
    due = due_reminders(planned(), set(), utc(2027, 5, 1))
    assert due.send == [] and due.skip == []
    assert offsets_of(due.future) == [10080, 1440, 60]
    assert due.future[0].job_id == "reminder:1:2027-06-09T12:00:00Z:10080"


def test_on_time_the_reminder_is_sent_and_the_rest_stays_scheduled():
    due = due_reminders(planned(), set(), utc(2027, 6, 8, 12, 0))   # J-1, exactly
    assert offsets_of(due.send) == [1440] and offsets_of(due.skip) == [10080]
    assert offsets_of(due.future) == [60]


def test_after_downtime_only_the_latest_useful_reminder_is_sent_once():
    now = utc(2027, 6, 9, 11, 30)       # down from before J-7 until 30 min before the start
    due = due_reminders(planned(), set(), now)
    assert offsets_of(due.send) == [60]
    assert sorted(offsets_of(due.skip)) == [1440, 10080]
    assert due.future == []
    done = {r.key for r in due.send + due.skip}
    again = due_reminders(planned(), done, now + timedelta(minutes=5))
    assert again.send == [] and again.skip == [] and again.future == []


def test_a_later_reminder_already_sent_supersedes_an_older_unsent_one():
    reminders_ = planned()
    h1 = next(r for r in reminders_ if r.offset_minutes == 60)
    due = due_reminders(reminders_, {h1.key}, utc(2027, 6, 9, 11, 30))
    assert due.send == [] and sorted(offsets_of(due.skip)) == [1440, 10080]


def test_nothing_once_the_rencontre_has_begun():
    due = due_reminders(planned(), set(), utc(2027, 6, 9, 12, 0))
    assert due.send == due.skip == due.future == []


def test_occurrences_are_independent():
    both = planned() + planned(START + timedelta(days=28))
    due = due_reminders(both, set(), utc(2027, 6, 8, 13))
    assert [(r.occurrence_start, r.offset_minutes) for r in due.send] == [(utc(2027, 6, 9, 12), 1440)]
    assert utc(2027, 7, 7, 12) in {r.occurrence_start for r in due.future}


# --- offsets ----------------------------------------------------------------------------------------


def test_parse_offsets():
    assert parse_offsets("7j 1j 1h") == [10080, 1440, 60]
    assert parse_offsets("1h, 2 semaines ; 30 min") == [20160, 60, 30]
    assert parse_offsets("1 jour 1jour") == [1440]
    assert parse_offsets("Défaut") is None
    assert parse_offsets("aucun") == []
    for bad in ("7x", "bientôt"):
        with pytest.raises(UserError, match="je n'ai pas compris « .+ » : écrivez des délais"):
            parse_offsets(bad)
    for bad in ("0h", "90j", "1j 2j 3j 4j 5j 6j 7j"):
        with pytest.raises(UserError, match="il faut de 1 à 6 délais"):
            parse_offsets(bad)


def test_time_until_in_french():
    start = paris(2027, 6, 9, 14)
    assert time_until_fr(start, start - timedelta(minutes=1)) == "dans 1 minute"
    assert time_until_fr(start, start - timedelta(minutes=45)) == "dans 45 minutes"
    assert time_until_fr(start, start - timedelta(hours=1)) == "dans 1 heure"
    assert time_until_fr(start, paris(2027, 6, 8, 14)) == "demain"
    assert time_until_fr(start, paris(2027, 6, 2, 14)) == "dans 7 jours"


# --- against the database -----------------------------------------------------------------------------


class ReminderHost(FakeHost):
    """The shared fake host, plus a way to run a command in the room."""

    def command(self, sender: str, text: str, event_id: str) -> None:
        self.core.handle(Message(event_id, ROOM, sender, text, self.clock()), self.rooms[ROOM])


def reminder_rows(db) -> list[Outbox]:
    with db.session() as session:
        return [row for row in session.exec(select(Outbox).order_by(Outbox.id))
                if row.source_event_id.startswith("reminder:")]


def sent_rows(db) -> list[ReminderSent]:
    with db.session() as session:
        return list(session.exec(select(ReminderSent).order_by(ReminderSent.offset_minutes)))


@pytest.fixture
def host(config, db, room):
    fake = ReminderHost(config, db, room, now=NOW)
    yield fake
    fake.worker.shutdown(wait=True)


@pytest.fixture
async def service(host):
    """A started scheduler whose jobs the test inspects (it is not left to fire)."""
    reminder_service = ReminderService(host)
    reminder_service.scheduler.start(paused=True)
    yield reminder_service
    reminder_service.scheduler.shutdown(wait=False)


def plan(host: FakeHost, text: str = "9 juin 2027 14h-17h", extra: str = "\ntitre: Réseau CPO") -> None:
    host.command(FACILITATOR, f"!rencontre planifier {text}{extra}", f"$plan-{text}")


async def test_missed_reminders_after_downtime(host, service, db):
    plan(host)
    host.command(MEMBER, "!inscription 1", "$rsvp")
    host.now = utc(2027, 6, 9, 11, 20)  # the bot comes back 40 minutes before the start
    await service.sync()
    [row] = reminder_rows(db)
    assert row.source_event_id == "reminder:1:2027-06-09T12:00:00Z:60"
    body = row.content["body"]
    assert "Rappel — rencontre #1 : Réseau CPO, dans 40 minutes" in body
    assert "mercredi 9 juin 2027, 14h–17h" in body
    assert "Inscrit·e·s (1) : Anabela De Castro" in body
    assert [(s.offset_minutes, s.skipped) for s in sent_rows(db)] == [(60, False), (1440, True),
                                                                       (10080, True)]
    assert host.woken == 1
    # Restarted again, and later: never twice.
    host.now += timedelta(minutes=10)
    await service.sync()
    await ReminderService(host).sync()
    assert len(reminder_rows(db)) == 1 and len(sent_rows(db)) == 3


async def test_jobs_follow_the_database(host, service, db):
    plan(host)
    await service.sync()
    assert service.job_ids() == {"reminder:1:2027-06-09T12:00:00Z:10080",
                                 "reminder:1:2027-06-09T12:00:00Z:1440",
                                 "reminder:1:2027-06-09T12:00:00Z:60"}
    job = service.scheduler.get_job("reminder:1:2027-06-09T12:00:00Z:1440")
    assert job.next_run_time == utc(2027, 6, 8, 12)

    host.command(FACILITATOR, "!rencontre modifier 1\ndate: 10 juin 2027 9h-12h", "$move")
    await service.sync()
    assert service.job_ids() == {"reminder:1:2027-06-10T07:00:00Z:10080",
                                 "reminder:1:2027-06-10T07:00:00Z:1440",
                                 "reminder:1:2027-06-10T07:00:00Z:60"}

    host.command(FACILITATOR, "!rencontre annuler 1", "$cancel")
    await service.sync()
    assert service.job_ids() == set()
    assert reminder_rows(db) == []


async def test_room_offsets_and_series(host, service, db):
    host.command(FACILITATOR, "!rappels 2h", "$offsets")
    plan(host, "1er juillet 2027 9h30-12h", "\nrepeter: toutes les semaines")
    host.command(FACILITATOR, "!rencontre annuler 1 le 8 juillet 2027", "$skip-one")
    host.now = utc(2027, 6, 30, 12)
    await service.sync()
    # Planning horizon: the longest offset plus a day, and always the next occurrence.
    assert service.job_ids() == {"reminder:1:2027-07-01T07:30:00Z:120"}
    host.now = utc(2027, 7, 7, 12)   # the 8th is cancelled: next is the 15th
    await service.sync()
    assert service.job_ids() == {"reminder:1:2027-07-15T07:30:00Z:120"}
    with db.session() as session:
        assert len(session.exec(select(CancelledOccurrence)).all()) == 1


async def test_a_stale_job_sends_nothing(host, service, db):
    plan(host)
    host.now = utc(2027, 6, 8, 12)                  # J-1 is due…
    host.command(FACILITATOR, "!rencontre modifier 1\ntitre: Autre", "$edit")  # …but just changed
    due = await host.in_worker(load_due, db, host.config, host.now)
    assert due.send == []                            # its time came before the change
    stale = Reminder(utc(2027, 6, 8, 12), 1, utc(2027, 6, 9, 12), 1440, ROOM)
    await service._send(stale)                       # a late wake-up from the old plan
    assert reminder_rows(db) == [] and sent_rows(db) == []


async def test_no_reminders_when_the_room_wants_none(host, service, db):
    host.command(FACILITATOR, "!rappels aucun", "$none")
    plan(host)
    host.now = utc(2027, 6, 9, 11, 30)
    await service.sync()
    assert service.job_ids() == set() and reminder_rows(db) == [] and sent_rows(db) == []


async def test_the_real_scheduler_sends_once_on_time(config, db, room):
    """The service as the runtime starts it, with the real clock and a one-minute offset."""
    host = ReminderHost(config, db, room)  # real clock
    now = host.clock()
    with db.session() as session:
        session.add(Room(room_id=ROOM, joined_at=now, reminder_offsets=[1]))
        rencontre = Rencontre(room_id=ROOM, number=1, uid="u1@test", title="Point rapide",
                              start_at=now + timedelta(seconds=63), created_at=now, updated_at=now)
        session.add(rencontre)
        session.flush()
        session.add(Registration(rencontre_id=rencontre.id, user_id=MEMBER, status="registered",
                                 updated_at=now))
    task = asyncio.create_task(reminder_service_module.run(host))
    try:
        await asyncio.sleep(0.1)
        host.changed()                               # the first sync batch is handled
        await asyncio.sleep(reminders.DEBOUNCE_SECONDS + 0.5)
        assert reminder_rows(db) == []               # scheduled, not yet due
        deadline = asyncio.get_running_loop().time() + 15
        while not reminder_rows(db) and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.2)
        host.changed()                               # a rebuild right after changes nothing
        await asyncio.sleep(reminders.DEBOUNCE_SECONDS + 0.5)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        host.worker.shutdown(wait=True)
    [row] = reminder_rows(db)
    assert "Rappel — rencontre #1 : Point rapide, dans 1 minute" in row.content["body"]
    assert "Anabela De Castro" in row.content["body"]
    assert [(s.offset_minutes, s.skipped) for s in sent_rows(db)] == [(1, False)]
