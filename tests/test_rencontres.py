"""Rencontres: plan, change, cancel, list, register, excuse, withdraw, reactions, ``!rappels``.

Successes run a command on the recording Context (``make_ctx``) over a real temporary
database. Refusals go through the real :class:`~bot.engine.core.Core` so that the French reply
and the rollback ("nothing changed in the database") are both those users get.
"""

from __future__ import annotations

import dataclasses
import itertools
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from bot.app.wiring import SENT_HOOKS, build_core
from bot.domain.rencontres import parse_fields, parse_mode, split_number
from bot.engine import outbox
from bot.engine.events import Message, Reaction, Redaction
from bot.engine.registry import PERMISSION_REPLY, UsageError, dispatch, parse_invocation
from bot.storage.models import (
    Announcement,
    CancelledOccurrence,
    Outbox,
    Profile,
    Registration,
    ReminderSent,
    Rencontre,
    RencontreStatus,
    Room,
    RsvpStatus,
)
from bot.support.errors import UserError
from bot.support.signals import rencontre_changed
from commands.rencontres import reaction_status
from tests.conftest import FACILITATOR, MEMBER, NOW, ROOM, handle_message

BOT = "@maillage:localhost"
OTHER = "@quentin:localhost"
PLAN = ("!rencontre planifier 9 juin 2027 14h-17h\n"
        "titre: Réseau CPO\n"
        "mode: visio\n"
        "lien: https://visio.example.net/reseau-cpo\n"
        "objectif: Proposer un espace régional d'échanges\n"
        "odj: Tour d'écran des participant·e·s\n"
        "odj: Présentation par la cité éducative d'Arras\n"
        "odj: Mise en perspective des prochaines séances\n"
        "intervenant: Nicolas Labre (CE Arras)")


def run(ctx, text: str):
    """A command as the core runs it (the core commits; here the test does)."""
    dispatch(ctx, parse_invocation(text, "!", ctx.registry))
    ctx.session.commit()
    return ctx


def announcements(ctx) -> list:
    return [o for o in ctx.outgoing if o.tag.startswith("announce:")]


def notices(ctx) -> list[str]:
    return [o.content["body"] for o in ctx.outgoing
            if o.event_type == "m.room.message" and o.content.get("msgtype") == "m.notice"]


def rencontres_in(db) -> list[Rencontre]:
    with db.session() as session:
        return list(session.exec(select(Rencontre).order_by(Rencontre.id)))


def registrations(db) -> list[Registration]:
    with db.session() as session:
        return list(session.exec(select(Registration).order_by(Registration.id)))


def snapshot(db) -> dict[str, list[str]]:
    """Every row that a rencontre command could touch."""
    models = (Rencontre, Registration, CancelledOccurrence, Announcement, Room, ReminderSent)
    with db.session() as session:
        return {m.__name__: sorted(repr(row.model_dump()) for row in session.exec(select(m)))
                for m in models}


@pytest.fixture
def core(config, db, registry):
    return build_core(config, db, BOT, registry, clock=lambda: NOW)


@pytest.fixture
def say(core, db, room):
    """Send a message through the real core; returns the bodies of what it queued."""
    counter = itertools.count()

    def send(sender: str, text: str) -> list[str]:
        rows = handle_message(core, db, room, f"$say{next(counter)}", sender, text)
        return [row.content.get("body", "") for row in rows]

    return send


@pytest.fixture
def changes(registry):
    """What was sent on ``rencontre_changed`` (number, change, extra arguments)."""
    seen = []

    def receiver(ctx, rencontre, change, **extra):
        seen.append((rencontre.number, change, extra))

    registry.connect(rencontre_changed, receiver)
    return seen


@pytest.fixture
def planned(make_ctx):
    """Rencontre #1 as planned by the facilitator."""
    return run(make_ctx(FACILITATOR, "$plan"), PLAN)


# --- planning ---------------------------------------------------------------------------------


def test_plan_creates_the_rencontre_from_the_lines(planned, db, changes):
    [rencontre] = rencontres_in(db)
    assert rencontre.number == 1 and rencontre.room_id == ROOM
    assert rencontre.title == "Réseau CPO"
    assert rencontre.mode == "distanciel"  # "visio"
    assert rencontre.link == "https://visio.example.net/reseau-cpo"
    assert rencontre.objective == "Proposer un espace régional d'échanges"
    assert rencontre.agenda == ["Tour d'écran des participant·e·s",
                                "Présentation par la cité éducative d'Arras",
                                "Mise en perspective des prochaines séances"]
    assert rencontre.speakers == ["Nicolas Labre (CE Arras)"]
    # 14h in Paris in June is 12:00 UTC.
    assert rencontre.start_at == datetime(2027, 6, 9, 12, 0, tzinfo=UTC)
    assert rencontre.end_at == datetime(2027, 6, 9, 15, 0, tzinfo=UTC)
    assert not rencontre.all_day and rencontre.timezone == "Europe/Paris"
    assert rencontre.status == RencontreStatus.PLANNED and rencontre.sequence == 0
    assert rencontre.uid.startswith("rencontre-") and rencontre.uid.endswith("@localhost")
    assert rencontre.created_by == FACILITATOR and rencontre.created_at == NOW
    assert rencontre.recurrence is None


def test_plan_posts_a_tagged_announcement_then_signals(make_ctx, db, changes):
    ctx = run(make_ctx(FACILITATOR, "$plan"), PLAN)
    [rencontre] = rencontres_in(db)
    [announcement] = announcements(ctx)
    assert announcement.tag == f"announce:{rencontre.id}"
    assert "m.relates_to" not in announcement.content  # posted in the room, not as a reply
    body = announcement.content["body"]
    assert "Nouvelle rencontre #1 : Réseau CPO" in body
    assert "mercredi 9 juin 2027, 14h–17h" in body
    assert "Mode : distanciel" in body
    assert "Objectif : Proposer un espace régional d'échanges" in body
    assert "Intervenant·e·s : Nicolas Labre (CE Arras)" in body
    assert ("Réagissez ✅ à ce message ou tapez !inscription 1 ; ❌ ou !excuse 1 motif pour "
            "vous excuser.") in body
    html = announcement.content["formatted_body"]
    assert "<ol>" in html and html.index("Tour d'écran") < html.index("Mise en perspective")
    assert '<a href="https://visio.example.net/reseau-cpo">' in html
    assert changes == [(1, "created", {})]
    assert "Rencontre #1 planifiée" in ctx.replies[0]


def test_keys_ignore_accents_and_case_and_accept_mode_synonyms(make_ctx, db):
    run(make_ctx(FACILITATOR), "!rencontre planifier jeudi 10 juin 2027 9h30-12h\n"
                               "TITRE: Groupe de travail\n"
                               "Mode: Sur place\n"
                               "Lieu: Mairie d'Arras, salle 2\n"
                               "Ordre du jour: Accueil\n"
                               "- Ateliers\n"
                               "Intervenante: Mme Rivet\n"
                               "Répéter: tous les mois")
    [rencontre] = rencontres_in(db)
    assert rencontre.title == "Groupe de travail" and rencontre.mode == "presentiel"
    assert rencontre.place == "Mairie d'Arras, salle 2"
    assert rencontre.agenda == ["Accueil", "Ateliers"] and rencontre.speakers == ["Mme Rivet"]
    # Monthly, on the 2nd Thursday like the first date.
    assert rencontre.recurrence == {"freq": "MONTHLY", "interval": 1, "by_weekday_rank": [3, 2]}


@pytest.mark.parametrize("text, mode", [
    ("distanciel", "distanciel"), ("En ligne", "distanciel"), ("visio", "distanciel"),
    ("présentiel", "presentiel"), ("PRESENTIEL", "presentiel"), ("sur place", "presentiel"),
    ("hybride", "hybride"),
])
def test_mode_values(text, mode):
    assert parse_mode(text) == mode


def test_an_all_day_rencontre(make_ctx, db):
    ctx = run(make_ctx(FACILITATOR), "!rencontre planifier le 7 juillet 2027\ntitre: Séminaire")
    [rencontre] = rencontres_in(db)
    assert rencontre.all_day and rencontre.end_at - rencontre.start_at == timedelta(days=1)
    assert "mercredi 7 juillet 2027 (journée complète)" in announcements(ctx)[0].content["body"]


def test_user_text_is_escaped_in_the_announcement(make_ctx):
    ctx = run(make_ctx(FACILITATOR), "!rencontre planifier 9 juin 2027 14h-17h\n"
                                     "titre: *Gras* <script>alert(1)</script> [x](javascript:y)\n"
                                     "odj: # pas un titre")
    html = announcements(ctx)[0].content["formatted_body"]
    assert "<script>" not in html and "<em>" not in html and "<h1>" not in html
    assert "javascript:" not in html.replace("(javascript:y)", "")
    assert "*Gras*" in announcements(ctx)[0].content["body"]


# --- refusals: French answer, nothing changed -----------------------------------------------------

REFUSALS = [
    (MEMBER, PLAN, PERMISSION_REPLY),
    (FACILITATOR, "!rencontre planifier le 35 juin 14h", "35 juin"),
    (FACILITATOR, "!rencontre planifier 1er janvier 2026 14h-17h", "déjà passé"),
    (FACILITATOR, "!rencontre planifier 9 juin 2027 17h-14h", "tombe avant"),
    (FACILITATOR, "!rencontre planifier", "il manque la date"),
    (FACILITATOR, "!rencontre planifier 9 juin 2027 14h\ncouleur: bleu", "je ne connais pas la clé « couleur »"),
    (FACILITATOR, "!rencontre planifier 9 juin 2027 14h\nmode: bof", "le mode « bof » n'existe pas"),
    (FACILITATOR, "!rencontre planifier 9 juin 2027 14h\nlien: javascript:alert(1)", "https://"),
    (FACILITATOR, "!rencontre planifier 9 juin 2027 14h\nlien: www.example.net", "https://"),
    (FACILITATOR, "!rencontre planifier 9 juin 2027 14h\nn'importe quoi", "« clé: valeur »"),
    (FACILITATOR, "!rencontre planifier 9 juin 2027 14h\ntitre: a\ntitre: b", "donnée deux fois"),
    (FACILITATOR, "!rencontre planifier 9 juin 2027 14h\nlieu:", "n'a pas de valeur"),
    (FACILITATOR, "!rencontre planifier 9 juin 2027 14h\nrepeter: tous les ans", "répétition"),
    # A series meets at least once a year, like a single date is at most ten years ahead.
    (FACILITATOR, "!rencontre planifier 9 juin 2027 14h\nrepeter: tous les 999 mois", "trop espacée"),
    (FACILITATOR, "!rencontre planifier 9 juin 2027 14h\nrepeter: tous les 13 mois", "au plus 12 mois"),
    (FACILITATOR, "!rencontre planifier 9 juin 2027 14h\nrepeter: toutes les 53 semaines", "trop espacée"),
]


@pytest.mark.parametrize("sender, text, expected", REFUSALS)
def test_planning_refusals(say, db, sender, text, expected):
    before = snapshot(db)
    replies = say(sender, text)
    assert len(replies) == 1 and expected.lower() in replies[0].lower()
    if expected != PERMISSION_REPLY:
        assert "Rien n'a été enregistré" in replies[0] and "Usage : !rencontre planifier" in replies[0]
    assert snapshot(db) == before


def test_unknown_key_lists_the_keys(say):
    [reply] = say(FACILITATOR, "!rencontre planifier 9 juin 2027 14h\nsalle: 2")
    assert "Clés possibles : titre, date, mode, lieu, lien, objectif, odj (répétable)" in reply


@pytest.mark.parametrize("sender, text, expected", [
    (MEMBER, "!rencontre modifier 1\ntitre: Pirate", PERMISSION_REPLY),
    (MEMBER, "!meeting cancel 1", PERMISSION_REPLY),
    (FACILITATOR, "!rencontre modifier 9\ntitre: X", "pas de rencontre #9"),
    (FACILITATOR, "!rencontre modifier\ntitre: X", "indiquez le numéro"),
    (FACILITATOR, "!rencontre modifier 1", "indiquez ce qui change"),
    (FACILITATOR, "!rencontre modifier 1\ndate: hier 14h", "hier"),
    (FACILITATOR, "!rencontre modifier 1\ntitre:", "n'a pas de valeur"),
    (FACILITATOR, "!rencontre annuler 9", "pas de rencontre #9"),
    (FACILITATOR, "!rencontre annuler 1 le 10 juin 2027", "a lieu le mercredi 9 juin 2027"),
    (MEMBER, "!rencontre 9", "pas de rencontre #9"),
    (MEMBER, "!rencontre quoi", "ni un numéro"),
    (MEMBER, "!inscription 9", "pas de rencontre #9"),
    (MEMBER, "!inscription #9", "pas de rencontre #9"),
    (MEMBER, "!excuse #9 malade", "pas de rencontre #9"),
    (MEMBER, "!inscrits 9", "pas de rencontre #9"),
    (FACILITATOR, "!rappels bientôt", "7j 1j 1h"),
    (FACILITATOR, "!rappels 0h", "entre 1 minute"),
    (FACILITATOR, "!rappels 999999999 sem", "entre 1 minute et 60 jours"),
    (FACILITATOR, "!rappels 99999999999999999999j", "entre 1 minute et 60 jours"),
    (FACILITATOR, "!rappels 9" + "9" * 5000 + "j", "entre 1 minute et 60 jours"),
    (FACILITATOR, "!rencontre modifier 1\nrepeter: tous les 999 mois", "trop espacée"),
    (FACILITATOR, "!rencontre modifier 1\nrepeter: une semaine sur 60", "au plus 12 mois ou 52 semaines"),
    # Written like a date but not one: refused, never read as the motif of a whole cancel.
    (FACILITATOR, "!rencontre annuler 1 le 31 février", "le 31 février n'existe pas"),
    (FACILITATOR, "!rencontre annuler 1 le 32 janvier grève", "32 janvier"),
    (FACILITATOR, "!rencontre annuler 1 31 février", "le 31 février n'existe pas"),
    (FACILITATOR, "!rencontre annuler 1 le jeudi 31 février", "le 31 février n'existe pas"),
    (FACILITATOR, "!rencontre annuler 1 le 31/02", "n'existe pas"),
    (FACILITATOR, "!rencontre annuler 1 le 1er janvier 2026", "déjà passé"),
    # Numbers beyond six digits are typos, not a motif or the next rencontre.
    (MEMBER, "!excuse 1234567 malade", "6 chiffres au plus"),
    (MEMBER, "!inscription #99999999999999999999", "6 chiffres au plus"),
    (FACILITATOR, "!rencontre annuler #1234567", "6 chiffres au plus"),
    (FACILITATOR, "!rencontre modifier 1234567\ntitre: X", "6 chiffres au plus"),
    (MEMBER, "!rencontre 1234567", "6 chiffres au plus"),
    (MEMBER, "!rencontres svp", "ne prend pas d'argument"),
    (MEMBER, "!rappels 1h", PERMISSION_REPLY),
])
def test_refusals_leave_the_rencontre_alone(say, db, sender, text, expected):
    say(FACILITATOR, PLAN)
    before = snapshot(db)
    replies = say(sender, text)
    assert len(replies) == 1 and expected.lower() in replies[0].lower()
    assert snapshot(db) == before


def test_an_unknown_number_points_to_the_list_with_the_rooms_prefix(config, db, registry, room):
    """The refusal names ``rencontres`` with the configured prefix, not a hard-coded ``!``."""
    other = dataclasses.replace(config, bot=dataclasses.replace(config.bot, command_prefix="?"))
    core = build_core(other, db, BOT, registry, clock=lambda: NOW)
    core.handle(Message("$unknown", ROOM, MEMBER, "?inscription 7", NOW), room)
    with db.session() as session:
        [reply] = session.exec(select(Outbox).where(Outbox.source_event_id == "$unknown"))
    body = reply.content["body"]
    assert "il n'y a pas de rencontre #7" in body.casefold()
    assert "(la liste : ?rencontres)" in body and "!rencontres" not in body


@pytest.mark.parametrize("text", ["!inscription", "!excuse malade", "!desinscription", "!rencontre",
                                  "!inscrits"])
def test_nothing_to_answer_without_an_upcoming_rencontre(say, db, text):
    before = snapshot(db)
    [reply] = say(MEMBER, text)
    assert "aucune rencontre à venir" in reply
    assert snapshot(db) == before


def test_cancelled_or_past_rencontres_take_no_answer(say, make_ctx, db):
    say(FACILITATOR, PLAN)
    later = make_ctx(MEMBER, now=datetime(2027, 6, 9, 13, 30, tzinfo=UTC))  # 15h30 in Paris: under way, still open
    run(later, "!inscription 1")
    after = make_ctx(MEMBER, "$after", now=datetime(2027, 6, 9, 15, 1, tzinfo=UTC))  # it ended at 15:00 UTC
    with pytest.raises(UserError, match="déjà passée"):
        dispatch(after, parse_invocation("!excuse 1", "!", after.registry))
    say(FACILITATOR, "!rencontre annuler 1")
    [reply] = say(OTHER, "!inscription 1")
    assert "est annulée" in reply
    assert [r.user_id for r in registrations(db)] == [MEMBER]


# --- numbering, sequence, change, cancel --------------------------------------------------------


def test_numbers_are_never_reused(say, db, config):
    say(FACILITATOR, PLAN)
    say(FACILITATOR, "!rencontre planifier 10 juin 2027 14h")
    say(FACILITATOR, "!rencontre annuler 2")
    say(FACILITATOR, "!rencontre planifier 11 juin 2027 14h")
    say(FACILITATOR, "!rencontre annuler 3")
    say(FACILITATOR, "!rencontre annuler 1")
    say(FACILITATOR, "!meeting schedule 12 juin 2027 14h")
    assert [r.number for r in rencontres_in(db)] == [1, 2, 3, 4]
    assert [r.status for r in rencontres_in(db)] == ["cancelled"] * 3 + ["planned"]
    assert len({r.uid for r in rencontres_in(db)}) == 4


def test_numbers_are_per_room(say, core, db, room):
    say(FACILITATOR, PLAN)
    other = type(room)("!autre:localhost", room_version="11", power_users={FACILITATOR: 100})
    core.handle(Message("$other", other.room_id, FACILITATOR, "!rencontre planifier 10 juin 2027 14h",
                        NOW), other)
    assert sorted((r.room_id, r.number) for r in rencontres_in(db)) == [(other.room_id, 1), (ROOM, 1)]


def test_modify_changes_fields_grows_sequence_and_reannounces(make_ctx, planned, db, changes):
    ctx = make_ctx(FACILITATOR, "$edit", now=NOW + timedelta(hours=1))
    run(ctx, "!rencontre modifier #1\ndate: 10 juin 2027 9h-12h\nmode: hybride\nlieu: Lille\nodj: Un seul point")
    [rencontre] = rencontres_in(db)
    assert rencontre.start_at == datetime(2027, 6, 10, 7, 0, tzinfo=UTC)
    assert rencontre.mode == "hybride" and rencontre.place == "Lille"
    assert rencontre.agenda == ["Un seul point"]                    # replaced, not appended
    assert rencontre.title == "Réseau CPO"                          # untouched
    assert rencontre.sequence == 1 and rencontre.updated_at == ctx.now
    body = announcements(ctx)[0].content["body"]
    assert "Rencontre #1 modifiée : Réseau CPO" in body and "Modifié : date, mode, lieu, ordre du jour." in body
    assert "jeudi 10 juin 2027, 9h–12h" in body
    assert "modifiée (date, mode, lieu, ordre du jour)" in ctx.replies[0]
    assert changes[-1] == (1, "modified", {})

    run(make_ctx(FACILITATOR, "$edit2"), "!meeting edit 1 titre: Réseau régional")
    run(make_ctx(FACILITATOR, "$edit3"), "!rencontre modifier 1\nlieu:")
    [rencontre] = rencontres_in(db)
    assert rencontre.title == "Réseau régional" and rencontre.place == "" and rencontre.sequence == 3


def test_cancel_a_single_rencontre(make_ctx, planned, db, changes):
    ctx = run(make_ctx(FACILITATOR, "$cancel"), "!rencontre annuler 1 le 9 juin 2027 grève des transports")
    [rencontre] = rencontres_in(db)
    assert rencontre.status == RencontreStatus.CANCELLED and rencontre.sequence == 1
    assert rencontre.cancel_reason == "grève des transports"
    assert "du mercredi 9 juin 2027, 14h–17h est annulée" in ctx.replies[0]
    body = notices(ctx)[-1]
    assert "Rencontre #1 annulée : Réseau CPO" in body and "Motif : grève des transports" in body
    assert "Réagissez" not in body and announcements(ctx) == []   # no invitation to answer
    assert changes[-1] == (1, "cancelled", {})
    [reply] = run(make_ctx(MEMBER, "$list"), "!rencontres").replies
    assert "Aucune rencontre à venir" in reply


@pytest.fixture
def series(make_ctx):
    """#1: monthly on the 2nd Wednesday from 9 June 2027 (then 14 July, 11 August…)."""
    return run(make_ctx(FACILITATOR, "$series"), PLAN + "\nrepeter: tous les mois")


def test_cancel_one_date_of_a_series(make_ctx, series, db, changes):
    ctx = run(make_ctx(FACILITATOR, "$one"), "!rencontre annuler 1 le 14 juillet 2027 congés d'été")
    with db.session() as session:
        [cancelled] = session.exec(select(CancelledOccurrence)).all()
    assert cancelled.occurrence_start == datetime(2027, 7, 14, 12, 0, tzinfo=UTC)
    assert cancelled.reason == "congés d'été"
    [rencontre] = rencontres_in(db)
    assert rencontre.status == RencontreStatus.PLANNED and rencontre.sequence == 1
    assert "Seule la date du mercredi 14 juillet 2027, 14h–17h" in ctx.replies[0]
    assert "les autres dates sont maintenues" in ctx.replies[0]
    assert "Date annulée — rencontre #1 : Réseau CPO" in notices(ctx)[-1]
    assert changes[-1] == (1, "occurrence_cancelled",
                           {"occurrence_start": datetime(2027, 7, 14, 12, 0, tzinfo=UTC)})
    [listing] = run(make_ctx(MEMBER, "$list"), "!rencontres").replies
    assert "14 juillet" not in listing and "mercredi 11 août 2027, 14h–17h" in listing

    again = make_ctx(FACILITATOR, "$again")
    with pytest.raises(UsageError, match="pas de date à venir le 14 juillet 2027"):
        dispatch(again, parse_invocation("!rencontre annuler 1 le 14 juillet 2027", "!", again.registry))


@pytest.mark.parametrize("text", ["!rencontre annuler 1 le 31 février", "!rencontre annuler 1 le 32 janvier",
                                  "!rencontre annuler 1 le jeudi 31 février vacances"])
def test_an_invalid_date_never_cancels_a_series(say, db, text):
    say(FACILITATOR, PLAN + "\nrepeter: tous les mois")
    before = snapshot(db)
    [reply] = say(FACILITATOR, text)
    assert "n'existe pas" in reply and "Rien n'a été enregistré" in reply
    assert snapshot(db) == before


def test_a_date_without_le_still_names_the_date(make_ctx, series, db):
    ctx = run(make_ctx(FACILITATOR, "$one"), "!rencontre annuler 1 14 juillet 2027 congés d'été")
    assert "Seule la date du mercredi 14 juillet 2027" in ctx.replies[0]
    [rencontre] = rencontres_in(db)
    assert rencontre.status == RencontreStatus.PLANNED


def test_the_hours_after_the_date_are_not_the_motif(make_ctx, series, db):
    run(make_ctx(FACILITATOR, "$one"), "!rencontre annuler 1 le 14 juillet 2027 de 14h à 17h congés")
    with db.session() as session:
        [cancelled] = session.exec(select(CancelledOccurrence)).all()
    assert cancelled.reason == "congés"


def test_a_motif_starting_with_a_number_stays_a_motif(make_ctx, planned, db):
    run(make_ctx(FACILITATOR, "$cancel"), "!rencontre annuler 1 3 intervenants malades")
    [rencontre] = rencontres_in(db)
    assert rencontre.cancel_reason == "3 intervenants malades"


def test_a_long_refusal_quotes_an_excerpt(say):
    [reply] = say(MEMBER, "!rencontre " + "blabla " * 2800)
    assert len(reply) < 500 and "blabla blabla" in reply and "…" in reply


def test_cancel_a_whole_series_says_so(make_ctx, series, db, changes):
    ctx = run(make_ctx(FACILITATOR, "$all"), "!rencontre annuler 1 le bâtiment ferme")
    [rencontre] = rencontres_in(db)
    assert rencontre.status == RencontreStatus.CANCELLED
    assert rencontre.cancel_reason == "le bâtiment ferme"  # "le" not followed by a date: a motif
    assert "toute la série" in ctx.replies[0] and "!rencontre annuler 1 le" in ctx.replies[0]
    assert "Toute la série est annulée" in notices(ctx)[-1]
    assert changes[-1] == (1, "cancelled", {})


# --- list and details ----------------------------------------------------------------------------------


def test_list_upcoming_with_counts_and_next_dates(say, make_ctx):
    say(FACILITATOR, "!rencontre planifier 1er juillet 2027 9h30-12h\ntitre: Groupe mensuel\n"
                     "mode: présentiel\nrepeter: tous les mois")
    say(FACILITATOR, PLAN)
    say(FACILITATOR, "!rencontre planifier 2 juin 2027 10h\ntitre: Annulée")
    say(FACILITATOR, "!rencontre annuler 3")
    say(MEMBER, "!inscription 2")
    say(OTHER, "!rsvp #2")
    say(OTHER, "!absent 1")
    [reply] = run(make_ctx(MEMBER, "$list"), "!meetings").replies
    lines = reply.splitlines()
    first = next(i for i, line in enumerate(lines) if "#2" in line)
    second = next(i for i, line in enumerate(lines) if "#1" in line)
    assert first < second  # by date: 9 June before 1 July
    assert "#2 — mercredi 9 juin 2027, 14h–17h — distanciel — Réseau CPO — 2 inscrit·e·s" in lines[first]
    assert ("#1 — jeudi 1er juillet 2027, 9h30–12h — présentiel — Groupe mensuel — tous les mois "
            "(le 1er jeudi du mois), puis jeudi 5 août 2027, 9h30–12h") in lines[second]
    assert lines[second].endswith("aucun·e inscrit·e")
    assert "Annulée" not in reply and "#3" not in reply


def test_details_show_everything_and_who_answered(say, make_ctx, db):
    say(FACILITATOR, PLAN)
    say(MEMBER, "!inscription")
    say(OTHER, "!excuse 1 réunion au rectorat")
    [reply] = run(make_ctx(MEMBER, "$show"), "!rencontre #1").replies
    for expected in ("Rencontre #1 : Réseau CPO", "mercredi 9 juin 2027, 14h–17h", "Mode : distanciel",
                     "Lien : https://visio.example.net/reseau-cpo",
                     "Objectif : Proposer un espace régional d'échanges",
                     "Présentation par la cité éducative d'Arras", "Nicolas Labre (CE Arras)",
                     "Inscrit·e·s (1) : Anabela De Castro", "Excusé·e·s (1)",
                     "@quentin:localhost — réunion au rectorat", "!inscription 1"):
        assert expected in reply
    assert run(make_ctx(MEMBER, "$next"), "!meeting").replies == [reply]  # n omitted: the next one


# --- answers -----------------------------------------------------------------------------------------


def test_register_excuse_withdraw_keep_one_row(make_ctx, planned, db):
    ctx = run(make_ctx(MEMBER, "$r1"), "!inscription")
    assert "inscrit·e à la rencontre #1 « Réseau CPO » (la prochaine de ce salon)" in ctx.replies[0]
    assert "!profil" in ctx.replies[0]  # no profile yet: a hint
    [row] = registrations(db)
    assert (row.user_id, row.status, row.reason) == (MEMBER, RsvpStatus.REGISTERED, "")

    ctx = run(make_ctx(MEMBER, "$r2"), "!excuse #1 enfant malade")
    assert "Excuse enregistrée pour la rencontre #1" in ctx.replies[0] and "enfant malade" in ctx.replies[0]
    assert "la prochaine" not in ctx.replies[0]
    [row] = registrations(db)
    assert (row.status, row.reason) == (RsvpStatus.EXCUSED, "enfant malade")

    run(make_ctx(MEMBER, "$r3"), "!present 1")
    [row] = registrations(db)
    assert (row.status, row.reason) == (RsvpStatus.REGISTERED, "")

    ctx = run(make_ctx(MEMBER, "$r4"), "!desinscription 1")
    assert "Votre réponse est retirée" in ctx.replies[0] and registrations(db) == []
    ctx = run(make_ctx(MEMBER, "$r5"), "!unrsvp")
    assert "Rien à retirer" in ctx.replies[0]


def test_a_series_answer_says_it_holds_for_every_date(make_ctx, series):
    ctx = run(make_ctx(MEMBER, "$r"), "!inscription 1")
    assert "Cela vaut pour toutes ses dates" in ctx.replies[0]


def test_attendees_with_profiles(say, make_ctx, db):
    with db.session() as session:
        session.add(Profile(user_id=MEMBER, full_name="Mme De Castro Anabela",
                            role="Cheffe de projet cité éducative", structure="CE Beauvais",
                            updated_at=NOW))
        session.add(Profile(user_id=OTHER, full_name="M. Poilvé Quentin",
                            role="Chef de projet cité éducative", structure="CE Soissons",
                            updated_at=NOW))
    say(FACILITATOR, PLAN)
    say(MEMBER, "!rsvp")
    say(FACILITATOR, "!inscription 1")
    say(OTHER, "!excused 1 conseil d'école")
    [reply] = run(make_ctx(MEMBER, "$who"), "!attendees").replies
    lines = reply.splitlines()
    assert "Rencontre #1 — Réseau CPO (mercredi 9 juin 2027, 14h–17h)" in lines[0]
    assert "Inscrit·e·s (2) :" in reply and "Excusé·e·s (1) :" in reply
    assert "• Mme De Castro Anabela (Cheffe de projet cité éducative ; CE Beauvais)" in lines
    assert "• Maïta Giraldi" in lines  # no profile: the display name
    assert "• M. Poilvé Quentin (Chef de projet cité éducative ; CE Soissons) — conseil d'école" in lines
    assert reply.index("Maïta") < reply.index("Excusé") < reply.index("Poilvé")


# --- reactions on announcements ---------------------------------------------------------------------------


@pytest.fixture
def announced(say, db):
    """#1 planned through the core, its announcement sent as ``$announce``."""
    say(FACILITATOR, PLAN)
    with db.session() as session:
        row = session.exec(select(Outbox).where(Outbox.tag == "announce:1")).one()
    outbox.mark_sent(db, row.id, "$announce", SENT_HOOKS)
    return "$announce"


def react(core, room, sender, key, event_id, target="$announce"):
    return core.handle(Reaction(event_id, ROOM, sender, target, key, NOW), room)


def test_the_sent_announcement_is_remembered(announced, db):
    with db.session() as session:
        assert session.get(Announcement, announced).rencontre_id == rencontres_in(db)[0].id


@pytest.mark.parametrize("key, status", [
    ("✅", "registered"), ("✔️", "registered"), ("☑️", "registered"), ("👍", "registered"),
    ("👍🏽", "registered"), ("👍🏿", "registered"), ("❌", "excused"), ("🎉", None), ("👎", None),
])
def test_reaction_keys(key, status):
    assert reaction_status(key) == status


def test_reactions_register_and_excuse_silently(core, room, announced, db):
    assert react(core, room, MEMBER, "✅", "$yes") == 0       # nothing posted in the room
    assert react(core, room, OTHER, "❌", "$no") == 0
    rows = {r.user_id: r for r in registrations(db)}
    assert (rows[MEMBER].status, rows[MEMBER].reaction_event_id) == ("registered", "$yes")
    assert (rows[OTHER].status, rows[OTHER].reaction_event_id) == ("excused", "$no")

    react(core, room, MEMBER, "👍🏽", "$thumb")                 # counts once: the same row
    react(core, room, MEMBER, "🎉", "$party")                  # not an answer
    react(core, room, MEMBER, "✅", "$elsewhere", target="$not-an-announcement")
    [row] = [r for r in registrations(db) if r.user_id == MEMBER]
    assert (row.status, row.reaction_event_id) == ("registered", "$thumb")
    with db.session() as session:
        assert session.exec(select(Outbox).where(Outbox.source_event_id.in_(
            ["$yes", "$no", "$thumb", "$party", "$elsewhere"]))).all() == []


def test_redacting_the_reaction_withdraws(core, room, announced, db, say):
    react(core, room, MEMBER, "✅", "$yes")
    react(core, room, MEMBER, "👍", "$thumb")
    core.handle(Redaction("$undo-old", ROOM, MEMBER, "$yes", NOW), room)  # superseded: no effect
    assert [r.user_id for r in registrations(db)] == [MEMBER]
    assert core.handle(Redaction("$undo", ROOM, MEMBER, "$thumb", NOW), room) == 0
    assert registrations(db) == []

    # An answer given by command is not withdrawn by redacting an older reaction.
    react(core, room, OTHER, "✅", "$other-yes")
    say(OTHER, "!excuse 1 malade")
    core.handle(Redaction("$undo-other", ROOM, OTHER, "$other-yes", NOW), room)
    [row] = registrations(db)
    assert (row.user_id, row.status, row.reason, row.reaction_event_id) == (OTHER, "excused", "malade", None)


def test_reactions_on_a_cancelled_rencontre_count_for_nothing(core, room, announced, db, say):
    say(FACILITATOR, "!rencontre annuler 1")
    react(core, room, MEMBER, "✅", "$late")
    assert registrations(db) == []


# --- !rappels --------------------------------------------------------------------------------------


def test_room_reminder_offsets(make_ctx, db):
    ctx = run(make_ctx(FACILITATOR, "$a"), "!rappels")
    assert "Rappels avant chaque rencontre de ce salon : J-7, J-1, H-1 (réglage par défaut)" in ctx.replies[0]
    with db.session() as session:
        assert session.get(Room, ROOM) is None  # looking changes nothing
    ctx = run(make_ctx(FACILITATOR, "$b"), "!rappels 2 semaines, 1j 30min")
    assert "J-14, J-1, 30 min avant" in ctx.replies[0]
    with db.session() as session:
        assert session.get(Room, ROOM).reminder_offsets == [20160, 1440, 30]
    run(make_ctx(FACILITATOR, "$c"), "!reminders aucun")
    with db.session() as session:
        assert session.get(Room, ROOM).reminder_offsets == []
    ctx = run(make_ctx(FACILITATOR, "$d"), "!rappels défaut")
    assert "(réglage par défaut)" in ctx.replies[0]
    with db.session() as session:
        assert session.get(Room, ROOM).reminder_offsets is None


# --- parsing helpers ------------------------------------------------------------------------------------


def test_split_number():
    assert split_number("4") == (4, "")
    assert split_number("#4 enfant malade") == (4, "enfant malade")
    assert split_number("malade") == (None, "malade")
    assert split_number("") == (None, "")
    assert split_number("#999999 x") == (999999, "x")
    with pytest.raises(UserError, match="6 chiffres au plus"):
        split_number("1234567 malade")


def test_parse_fields_keeps_order_and_colons_in_values():
    fields = parse_fields(["odj: 14:00 accueil", "", "Lien : https://x.org/a:b", "odj: suite"])
    assert fields == {"odj": ["14:00 accueil", "suite"], "lien": ["https://x.org/a:b"]}
    with pytest.raises(UserError, match="clé: valeur"):
        parse_fields(["https://x.org"])
