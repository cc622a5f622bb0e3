"""``!actions`` and the follow-up of actions: listing by person, overdue ones at a séance's
opening, and the direct-message reminders to their owner (once each, across restarts)."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from bot.engine.events import Message
from bot.services.action_reminders import (
    ActionReminderService,
    due_reminders,
    load_due,
    plan_action,
)
from bot.storage.models import ActionReminderSent, Item, Outbox
from tests.conftest import FACILITATOR, MEMBER, NOW, ROOM
from tests.servicehost import FakeHost

PARIS = ZoneInfo("Europe/Paris")
CAYENNE = ZoneInfo("America/Cayenne")


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


class Host(FakeHost):
    counter = itertools.count()

    def say(self, sender: str, text: str) -> list[Outbox]:
        event_id = f"$act{next(self.counter)}"
        self.core.handle(Message(event_id, ROOM, sender, text, self.clock()), self.rooms[ROOM])
        with self.db.session() as session:
            return list(session.exec(select(Outbox).where(Outbox.source_event_id == event_id)
                                     .order_by(Outbox.id)))

    def reply(self, sender: str, text: str) -> str:
        return "\n".join(r.content.get("body", "") for r in self.say(sender, text)
                         if r.event_type == "m.room.message")


@pytest.fixture
def host(config, db, room):
    fake = Host(config, db, room, now=NOW)   # Saturday 21 November 2026, 10h in Paris
    yield fake
    fake.worker.shutdown(wait=True)


@pytest.fixture
def noted(host):
    """A séance with three actions: Anabela's (due Wednesday), Maïta's (no date), nobody's."""
    host.say(FACILITATOR, "!seance ouvrir Réseau CPO")
    host.say(FACILITATOR, "!action Envoyer le bilan @Anabela De Castro pour mercredi 25 novembre 2026")
    host.say(FACILITATOR, "!action Réserver la salle @Maïta Giraldi")
    host.say(MEMBER, "!action Trouver un intervenant")
    host.say(FACILITATOR, "!seance clore")
    return host


def dm_rows(db) -> list[Outbox]:
    with db.session() as session:
        return [r for r in session.exec(select(Outbox).order_by(Outbox.id)) if r.dm_user]


def sent_rows(db) -> list[ActionReminderSent]:
    with db.session() as session:
        return list(session.exec(select(ActionReminderSent).order_by(ActionReminderSent.kind)))


# --- !actions --------------------------------------------------------------------------------

def test_actions_lists_the_open_ones_by_person(noted):
    body = noted.reply(MEMBER, "!actions")
    assert "Actions à suivre (3 ouvertes)" in body
    lines = body.splitlines()
    anabela, maita, nobody = (lines.index(n) for n in ("Anabela De Castro", "Maïta Giraldi",
                                                       "Sans responsable"))
    assert anabela < maita < nobody
    assert ("n°1 Envoyer le bilan — échéance : mercredi 25 novembre 2026 — CR n°1"
            in lines[anabela + 2])
    assert "n°2 Réserver la salle — CR n°1" in lines[maita + 2]
    assert "n°3 Trouver un intervenant — CR n°1" in lines[nobody + 2]
    assert "!action fait <n>" in body


def test_actions_moi_and_of_someone(noted):
    mine = noted.reply(MEMBER, "!actions moi")
    assert "Mes actions à suivre (1 ouverte)" in mine and "Envoyer le bilan" in mine
    assert "Réserver" not in mine
    assert "Réserver la salle" in noted.reply(MEMBER, "!actions @Maïta Giraldi")
    noted.say(FACILITATOR, "!action fait 2")
    assert noted.reply(FACILITATOR, "!actions moi") == ("Vous n'avez aucune action ouverte "
                                                         "dans ce salon.")
    assert "Maïta Giraldi n'a aucune action ouverte" in noted.reply(MEMBER, "!actions @Maïta Giraldi")


def test_no_action_at_all(host):
    assert host.reply(MEMBER, "!actions") == "Il n'y a aucune action ouverte dans ce salon."


@pytest.mark.parametrize("args", ["@Personne Inconnue", "tout le monde", "x" * 500])
def test_actions_of_nobody_is_refused(noted, args):
    body = noted.reply(MEMBER, f"!actions {args}")
    assert "Je ne trouve pas" in body and "Usage : !actions [moi | @personne]" in body
    assert "Rien n'a été enregistré" in body


def test_overdue_actions_are_listed_when_a_seance_opens(noted):
    noted.now = utc(2026, 11, 27, 9)      # Friday: Anabela's action is two days late
    body = noted.reply(FACILITATOR, "!seance ouvrir Réseau CPO")
    assert "Actions en retard (1)" in body
    assert ("n°1 Envoyer le bilan — Anabela De Castro — échéance : mercredi 25 novembre 2026 "
            "(en retard) — CR n°1") in body
    assert "Réserver" not in body         # no due date: never late
    assert "Actions en retard" not in noted.reply(FACILITATOR, "!seance clore")
    noted.say(MEMBER, "!action fait 1")
    assert "Actions en retard" not in noted.reply(FACILITATOR, "!seance ouvrir Encore")


def test_listing_shows_late_and_today(noted):
    noted.now = utc(2026, 11, 25, 9)
    assert "mercredi 25 novembre 2026 (aujourd'hui)" in noted.reply(MEMBER, "!actions")
    noted.now = utc(2026, 11, 26, 9)
    body = noted.reply(MEMBER, "!actions")
    assert "(3 ouvertes, dont 1 en retard)" in body and "(en retard)" in body


# --- reminder arithmetic ---------------------------------------------------------------------

def test_two_days_before_and_on_the_day_at_9h_room_time():
    found = plan_action(1, ROOM, date(2027, 6, 9), 2, PARIS, NOW)
    assert [(r.kind, r.at) for r in found] == [("before", utc(2027, 6, 7, 7)), ("day", utc(2027, 6, 9, 7))]
    found = plan_action(1, ROOM, date(2027, 6, 9), 2, CAYENNE, NOW)
    assert [r.at for r in found] == [utc(2027, 6, 7, 12), utc(2027, 6, 9, 12)]


def test_across_the_spring_and_autumn_changes():
    spring = plan_action(1, ROOM, date(2027, 3, 29), 2, PARIS, NOW)
    assert [r.at for r in spring] == [utc(2027, 3, 27, 8), utc(2027, 3, 29, 7)]   # 9h CET, 9h CEST
    autumn = plan_action(1, ROOM, date(2027, 11, 1), 2, PARIS, NOW)
    assert [r.at for r in autumn] == [utc(2027, 10, 30, 7), utc(2027, 11, 1, 8)]  # 9h CEST, 9h CET


def test_no_reminder_before_when_the_room_wants_none_and_none_from_the_past():
    assert [r.kind for r in plan_action(1, ROOM, date(2027, 6, 9), 0, PARIS, NOW)] == ["day"]
    noted_late = utc(2027, 6, 8, 10)      # noted the day before: J-2 had come already
    assert [r.kind for r in plan_action(1, ROOM, date(2027, 6, 9), 2, PARIS, noted_late)] == ["day"]


def test_after_downtime_only_the_latest_useful_one():
    planned = plan_action(1, ROOM, date(2027, 6, 9), 2, PARIS, NOW)
    due = due_reminders(planned, set(), utc(2027, 6, 9, 15))
    assert [r.kind for r in due.send] == ["day"] and [r.kind for r in due.skip] == ["before"]
    assert due_reminders(planned, set(), utc(2027, 6, 9, 22)).send == []   # the day is over in Paris
    assert due_reminders(planned, {(1, date(2027, 6, 9), "day")}, utc(2027, 6, 9, 15)).send == []


# --- the service ------------------------------------------------------------------------------

async def test_the_owner_gets_each_reminder_once(noted, db):
    service = ActionReminderService(noted)
    service.scheduler.start(paused=True)
    try:
        await service.sync()
        assert service.job_ids() == {"action-reminder:1:2026-11-25:before",
                                     "action-reminder:1:2026-11-25:day"}
        assert dm_rows(db) == []
        noted.now = utc(2026, 11, 23, 8, 1)          # Monday 9h01 in Paris
        await service.sync()
        await service.sync()
        await ActionReminderService(noted).sync()    # as after a restart
        [row] = dm_rows(db)
        assert row.dm_user == MEMBER
        body = row.content["body"]
        assert "Action à suivre n°1 — échéance dans 2 jours, le mercredi 25 novembre 2026" in body
        assert "« Envoyer le bilan »" in body and "!action fait 1" in body
        noted.now = utc(2026, 11, 25, 8, 30)
        await service.sync()
        assert [r.content["body"].split("\n")[0] for r in dm_rows(db)][1] == (
            "⏰ Action à suivre n°1 — échéance aujourd'hui, le mercredi 25 novembre 2026")
        assert [(s.kind, s.skipped) for s in sent_rows(db)] == [("before", False), ("day", False)]
    finally:
        service.scheduler.shutdown(wait=False)


async def test_done_moved_or_ownerless_actions_get_no_reminder(noted, db):
    noted.say(MEMBER, "!action fait 1")
    noted.now = utc(2026, 11, 25, 8, 30)
    await ActionReminderService(noted).sync()
    assert dm_rows(db) == [] and sent_rows(db) == []
    due = await noted.in_worker(load_due, db, noted.config, noted.now)
    assert due.send == due.future == []


async def test_a_stale_wake_up_sends_nothing(noted, db):
    service = ActionReminderService(noted)
    noted.now = utc(2026, 11, 23, 8, 1)
    due = await noted.in_worker(load_due, db, noted.config, noted.now)
    [reminder] = due.send
    noted.say(MEMBER, "!action fait 1")           # done in between
    await service._send(reminder)
    assert dm_rows(db) == [] and sent_rows(db) == []
    with db.session() as session:
        assert session.exec(select(Item).where(Item.action_number == 1)).one().done_at is not None


async def test_the_room_chooses_the_days_and_the_time(noted, db):
    noted.say(FACILITATOR, "!salon actions 1 à 17h30")
    due = await noted.in_worker(load_due, db, noted.config, noted.now)
    assert [(r.kind, r.at) for r in due.future] == [("before", utc(2026, 11, 24, 16, 30)),
                                                    ("day", utc(2026, 11, 25, 16, 30))]
