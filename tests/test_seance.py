"""Séance lifecycle: opening (bound or ad hoc), agenda points, attendance corrections,
closing, and closing by itself (the service and its exactly-once job)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import col, select

from bot.app.wiring import build_core
from bot.domain import seance as seance_service
from bot.domain.attendance import attendance
from bot.engine.events import Message
from bot.engine.registry import (
    PERMISSION_REPLY,
    PermissionDenied,
    UsageError,
    dispatch,
    parse_invocation,
)
from bot.services import autoclose
from bot.storage.models import (
    Attendance,
    Item,
    ItemKind,
    Outbox,
    Registration,
    Rencontre,
    RencontreStatus,
    RsvpStatus,
    Seance,
    SeanceStatus,
    Topic,
)
from bot.support import signals
from tests.conftest import FACILITATOR, MEMBER, NOW, ROOM
from tests.servicehost import FakeHost
from tests.test_items import items, open_seance, refused, run

AGENDA = ["Tour d'écran et actualités locales", "Partage d'expérience par Arras",
          "Mise en perspective des prochaines séances"]


def add_rencontre(db, number: int, start: datetime, *, hours: int = 3, title: str = "Réseau régional des CPO",
                  status: str = RencontreStatus.PLANNED, recurrence: dict | None = None) -> int:
    with db.session() as session:
        rencontre = Rencontre(room_id=ROOM, number=number, uid=f"uid-{number}", title=title, agenda=AGENDA,
                              start_at=start, end_at=start + timedelta(hours=hours), status=status,
                              recurrence=recurrence, created_at=NOW, updated_at=NOW)
        session.add(rencontre)
        session.flush()
        return rencontre.id


def seances(db) -> list[Seance]:
    with db.session() as session:
        return list(session.exec(select(Seance).order_by(col(Seance.number))))


def topics(db) -> list[Topic]:
    with db.session() as session:
        return list(session.exec(select(Topic).order_by(col(Topic.id))))


def sent(ctx) -> list[tuple[str, str]]:
    """(tag, plain body) of the notices a command sent (replies included)."""
    return [(o.tag, o.content["body"]) for o in ctx.outgoing if o.event_type == "m.room.message"]


# --- opening -------------------------------------------------------------------------------------

def test_opening_without_rencontre_is_an_ad_hoc_seance_with_a_meteo_prompt(make_ctx, db):
    ctx = run(make_ctx, "!seance ouvrir", sender=FACILITATOR)
    [seance] = seances(db)
    assert (seance.number, seance.rencontre_id, seance.title, seance.status, seance.opened_by) == (
        1, None, "Séance du 21 novembre 2026", SeanceStatus.OPEN, FACILITATOR)
    assert seance.opened_at == NOW
    (_, opening), (tag, prompt) = sent(ctx)
    assert "compte rendu n°1" in opening and "(hors cr)" in opening and "!meteo" in opening
    assert tag == f"meteo:{seance.id}" and "Météo du jour" in prompt and "☀️" in prompt
    assert ctx.outgoing[0].content["m.relates_to"]["m.in_reply_to"]["event_id"] == ctx.event_id
    assert "m.relates_to" not in ctx.outgoing[1].content   # the prompt stands alone: people reply to it


def test_an_ad_hoc_seance_takes_the_text_as_title(make_ctx, db):
    run(make_ctx, "!startmeeting Point d'étape *urgent*", sender=FACILITATOR)
    assert seances(db)[0].title == "Point d'étape *urgent*"


def test_opening_binds_todays_rencontre_and_posts_its_agenda(make_ctx, db):
    add_rencontre(db, 1, NOW + timedelta(days=7))                      # next week
    today = add_rencontre(db, 2, datetime(2026, 11, 21, 13, tzinfo=UTC))  # 14h Paris today
    ctx = run(make_ctx, "!seance ouvrir", sender=FACILITATOR)
    [seance] = seances(db)
    assert (seance.rencontre_id, seance.title) == (today, "Réseau régional des CPO")
    opening = sent(ctx)[0][1]
    assert "rencontre #2" in opening and "samedi 21 novembre 2026, 14h–17h" in opening
    assert all(point in opening for point in AGENDA)


def test_opening_a_repeated_rencontre_binds_todays_occurrence(make_ctx, db):
    weekly = {"freq": "WEEKLY", "interval": 1, "by_weekday_rank": None}
    bound = add_rencontre(db, 1, datetime(2026, 11, 7, 13, tzinfo=UTC), recurrence=weekly)
    run(make_ctx, "#startmeeting", sender=FACILITATOR)
    assert seances(db)[0].rencontre_id == bound


def test_opening_rencontre_n(make_ctx, db):
    other = add_rencontre(db, 4, NOW + timedelta(days=30), title="Rencontre de décembre")
    add_rencontre(db, 5, NOW + timedelta(hours=3))
    run(make_ctx, "!seance ouvrir #4", sender=FACILITATOR)
    assert (seances(db)[0].rencontre_id, seances(db)[0].title) == (other, "Rencontre de décembre")


def test_opening_an_unknown_or_cancelled_rencontre_is_refused(make_ctx, db):
    add_rencontre(db, 3, NOW + timedelta(days=2), status=RencontreStatus.CANCELLED)
    assert "pas de rencontre #9" in refused(make_ctx, "!seance ouvrir 9", sender=FACILITATOR)
    assert "annulée" in refused(make_ctx, "!seance ouvrir 3", sender=FACILITATOR)
    assert seances(db) == []


def test_only_one_open_seance_per_room_but_several_per_day(make_ctx, db):
    run(make_ctx, "!seance ouvrir Matin", sender=FACILITATOR)
    reason = refused(make_ctx, "!seance ouvrir", sender=FACILITATOR)
    assert "séance n°1" in reason and "Matin" in reason and "déjà ouverte" in reason and "10h" in reason
    run(make_ctx, "!seance clore", sender=FACILITATOR)
    run(make_ctx, "!seance ouvrir Après-midi", sender=FACILITATOR)
    assert [(s.number, s.title, s.status) for s in seances(db)] == [
        (1, "Matin", SeanceStatus.CLOSED), (2, "Après-midi", SeanceStatus.OPEN)]


def test_members_may_not_open_or_close(config, db, room, make_ctx):
    ctx = make_ctx(sender=MEMBER)
    for text in ("!seance ouvrir", "!startmeeting", "!point suivant", "!presence @Anabela De Castro"):
        with pytest.raises(PermissionDenied):
            dispatch(ctx, parse_invocation(text, "!", ctx.registry))
    core = build_core(config, db, "@maillage:localhost", clock=lambda: NOW)
    core.handle(Message("$try", ROOM, MEMBER, "!seance ouvrir", NOW), room)
    with db.session() as session:
        [reply] = session.exec(select(Outbox)).all()
    assert reply.content["body"] == PERMISSION_REPLY and seances(db) == []


# --- agenda points -----------------------------------------------------------------------------

def test_points_follow_the_agenda_and_hold_the_discussion(make_ctx, db):
    add_rencontre(db, 1, datetime(2026, 11, 21, 13, tzinfo=UTC))
    open_seance(make_ctx)
    first = run(make_ctx, "!point suivant", sender=FACILITATOR)
    assert sent(first) == [("", f"📌 Point 1 : {AGENDA[0]}")]
    run(make_ctx, "!info noté au point 1")
    run(make_ctx, "#topic Un point ajouté", sender=FACILITATOR)
    run(make_ctx, "!point next", sender=FACILITATOR)      # after an extra point: the first not taken
    run(make_ctx, "!topic suivant", sender=FACILITATOR)
    assert "terminé" in refused(make_ctx, "!point suivant", sender=FACILITATOR)
    assert [(t.position, t.title) for t in topics(db)] == [
        (1, AGENDA[0]), (2, "Un point ajouté"), (3, AGENDA[1]), (4, AGENDA[2])]
    [info] = items(db)
    assert info.topic_id == topics(db)[0].id
    assert seances(db)[0].current_topic_id == topics(db)[-1].id


def test_point_needs_a_title_or_an_agenda(make_ctx, db):
    open_seance(make_ctx)
    assert "ordre du jour" in refused(make_ctx, "!point suivant", sender=FACILITATOR)
    assert "titre" in refused(make_ctx, "!point", sender=FACILITATOR)
    run(make_ctx, "!seance clore", sender=FACILITATOR)
    assert "aucune séance" in refused(make_ctx, "!point Hors séance", sender=FACILITATOR)
    assert topics(db) == []


# --- attendance corrections ----------------------------------------------------------------------

def test_presence_corrections_win_over_activity(make_ctx, db, room):
    room.joined.add("@quentin:localhost")
    room.display_names["@quentin:localhost"] = "Quentin Poilvé"
    seance = open_seance(make_ctx)
    run(make_ctx, "!info j'étais là")
    ctx = run(make_ctx, "!presence -@Anabela De Castro, @quentin:localhost", sender=FACILITATOR)
    assert "Anabela De Castro : absent·e" in ctx.replies[0] and "Quentin Poilvé : présent·e" in ctx.replies[0]
    run(make_ctx, "!info je parle encore")                 # activity does not undo a correction
    with db.session() as session:
        rows = {r.user_id: (r.present, r.corrected) for r in session.exec(select(Attendance))}
        present, _excused, facilitators = attendance(session, session.get(Seance, seance.id))
    assert rows[MEMBER] == (False, True) and rows["@quentin:localhost"] == (True, True)
    assert (present, facilitators) == (["@quentin:localhost"], [FACILITATOR])
    assert "Personne Inconnue" in refused(make_ctx, "!presence @Personne Inconnue", sender=FACILITATOR)
    assert "indiquez la personne" in refused(make_ctx, "!presence", sender=FACILITATOR)


def test_presence_after_closing_corrects_the_last_seance(make_ctx, db):
    seance = open_seance(make_ctx)
    run(make_ctx, "!seance clore", sender=FACILITATOR)
    run(make_ctx, "!presence @Anabela De Castro", sender=FACILITATOR)
    with db.session() as session:
        assert session.get(Attendance, (seance.id, MEMBER)).corrected


# --- closing ------------------------------------------------------------------------------------

def test_closing_stops_capture_and_posts_a_summary(make_ctx, db, registry):
    closed = []
    registry.connect(signals.seance_closed, lambda ctx, seance: closed.append(seance.number))
    open_seance(make_ctx)
    run(make_ctx, "!meteo 4 bien")
    run(make_ctx, "!action une")
    run(make_ctx, "!action deux")
    ctx = run(make_ctx, "#endmeeting", sender=FACILITATOR)
    [seance] = seances(db)
    assert (seance.status, seance.closed_at) == (SeanceStatus.CLOSED, NOW)
    summary = ctx.replies[0]
    assert "compte rendu n°1" in summary and "1 météo, 2 actions" in summary
    assert "Ont participé (2) : Maïta Giraldi, Anabela De Castro" in summary
    assert closed == [1]
    assert "aucune séance" in refused(make_ctx, "!seance clore", sender=FACILITATOR)
    assert "aucune séance" in refused(make_ctx, "!meteo 3", sender=MEMBER)


@pytest.mark.parametrize("text", ["!seance clore ?", "!seance clore demain", "#endmeeting svp"])
def test_close_with_unexpected_words_keeps_the_seance_open(make_ctx, db, text):
    open_seance(make_ctx)
    assert "ne prend pas d'argument" in refused(make_ctx, text, sender=FACILITATOR)
    [seance] = seances(db)
    assert seance.status == SeanceStatus.OPEN


# --- closing by itself ----------------------------------------------------------------------------

def test_autoclose_time(make_ctx, db, config):
    start = datetime(2026, 11, 20, 13, tzinfo=UTC)          # yesterday
    add_rencontre(db, 1, start, hours=3)
    adhoc = open_seance(make_ctx, "Libre")
    run(make_ctx, "!seance clore", sender=FACILITATOR)
    bound = open_seance(make_ctx, "1")                     # opened the day after: closes 4 h later
    hours = config.bot.seance_auto_close_hours
    with db.session() as session:
        assert seance_service.autoclose_at(session, adhoc, hours) == NOW + timedelta(hours=12)
        assert seance_service.autoclose_at(session, bound, hours) == NOW + timedelta(hours=hours)
        on_time = Seance(room_id=ROOM, number=9, rencontre_id=bound.rencontre_id, opened_at=start)
        assert seance_service.autoclose_at(session, on_time, hours) == start + timedelta(hours=3 + hours)
    assert seance_service.due_for_closing(db, config, NOW + timedelta(hours=3)) == []
    assert seance_service.due_for_closing(db, config, NOW + timedelta(hours=4)) == [(ROOM, bound.id)]


def test_autoclose_of_a_repeated_rencontre_uses_the_days_occurrence(make_ctx, db, config):
    weekly = {"freq": "WEEKLY", "interval": 1, "by_weekday_rank": None}
    add_rencontre(db, 1, datetime(2026, 10, 31, 13, tzinfo=UTC), recurrence=weekly)   # Saturdays 14h
    seance = open_seance(make_ctx)
    with db.session() as session:
        closes = seance_service.autoclose_at(session, seance, 4)
    assert closes == datetime(2026, 11, 21, 20, tzinfo=UTC)


def test_the_autoclose_job_closes_once_and_leaves_a_closed_seance_alone(config, db, room, make_ctx):
    seance = open_seance(make_ctx)
    core = build_core(config, db, "@maillage:localhost", clock=lambda: NOW + timedelta(hours=13))
    job = f"autoclose:{seance.id}"
    assert core.run_job(job, room, lambda ctx: seance_service.close_by_itself(seance.id, ctx)) >= 1
    assert core.run_job(job, room, lambda ctx: seance_service.close_by_itself(seance.id, ctx)) == 0
    [closed] = seances(db)
    assert closed.status == SeanceStatus.CLOSED and closed.closed_at == NOW + timedelta(hours=13)
    with db.session() as session:
        notices = [r for r in session.exec(select(Outbox))
                   if r.source_event_id == job and "Séance close" in r.content.get("body", "")]
    assert len(notices) == 1 and "close automatiquement" in notices[0].content["body"]
    assert "m.relates_to" not in notices[0].content

    second = open_seance(make_ctx)
    run(make_ctx, "!seance clore", sender=FACILITATOR)
    assert core.run_job(f"autoclose:{second.id}", room,
                        lambda ctx: seance_service.close_by_itself(second.id, ctx)) == 0


async def test_the_service_closes_a_forgotten_seance(config, db, room, make_ctx):
    seance = open_seance(make_ctx)
    host = FakeHost(config, db, room, NOW + timedelta(hours=1))
    task = asyncio.create_task(autoclose.autoclose(host))
    try:
        await asyncio.sleep(0.05)
        assert host.jobs == [] and seances(db)[0].status == SeanceStatus.OPEN
        host.now = NOW + timedelta(hours=12, minutes=1)
        host.changed()                        # a sync batch was handled: check again
        for _ in range(100):
            if host.jobs:
                break
            await asyncio.sleep(0.01)
    finally:
        task.cancel()
    assert host.jobs == [f"autoclose:{seance.id}"]
    assert seances(db)[0].status == SeanceStatus.CLOSED


def test_registered_people_who_react_are_present(config, db, room, make_ctx):
    from bot.engine.events import Reaction

    rencontre = add_rencontre(db, 1, datetime(2026, 11, 21, 13, tzinfo=UTC))
    room.joined |= {"@inscrite:localhost", "@curieux:localhost", "@excusee:localhost"}
    with db.session() as session:
        for user, status in (("@inscrite:localhost", RsvpStatus.REGISTERED),
                             ("@excusee:localhost", RsvpStatus.EXCUSED)):
            session.add(Registration(rencontre_id=rencontre, user_id=user, status=status, updated_at=NOW))
    seance = open_seance(make_ctx)
    core = build_core(config, db, "@maillage:localhost", clock=lambda: NOW)
    for n, user in enumerate(("@inscrite:localhost", "@curieux:localhost", "@excusee:localhost")):
        core.handle(Reaction(f"$r{n}", ROOM, user, "$something", "👍", NOW), room)
    with db.session() as session:
        present, excused, facilitators = attendance(session, session.get(Seance, seance.id))
        assert session.exec(select(Item)).all() == []
    assert (present, excused, facilitators) == (["@inscrite:localhost"], ["@excusee:localhost"], [FACILITATOR])



def test_point_suivant_refuses_trailing_text(make_ctx):
    ctx = make_ctx(sender=FACILITATOR)
    with pytest.raises(UsageError, match="ne prend pas de texte"):
        dispatch(ctx, parse_invocation("!point suivant et dernier", "!", ctx.registry))


def test_actu_reseau_is_local_news_not_regional(make_ctx):
    ctx = make_ctx(sender=FACILITATOR)
    dispatch(ctx, parse_invocation("!seance ouvrir Séance libre", "!", ctx.registry))
    ctx.session.commit()
    member = make_ctx(event_id="$actu")
    dispatch(member, parse_invocation("!actu Réseau REP+ : nouvelle coordination", "!", member.registry))
    member.session.commit()
    item = member.session.exec(select(Item).where(Item.event_id == "$actu")).one()
    assert (item.kind, item.text) == (ItemKind.LOCAL_NEWS, "Réseau REP+ : nouvelle coordination")
