"""``!bilan``: the room's year (or school year) at a glance, with the charts."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from bot.engine.registry import PermissionDenied, UsageError
from bot.storage.models import Item, ItemKind, Seance
from commands.bilan import parse_period
from tests.test_cr import ANABELA, run

PARIS = ZoneInfo("Europe/Paris")
LATER = datetime(2022, 12, 1, 9, 0, tzinfo=UTC)




def images(ctx) -> list[dict]:
    return [o.content for o in ctx.outgoing if o.content.get("msgtype") == "m.image"]


def test_periods() -> None:
    now = datetime(2026, 3, 5, 10, 0, tzinfo=PARIS)
    assert (parse_period("", now).start, parse_period("", now).end) == (
        datetime(2026, 1, 1, tzinfo=PARIS), datetime(2027, 1, 1, tzinfo=PARIS))
    school = parse_period(" 2025-2026 ", now)
    assert (school.start, school.end, school.name) == (
        datetime(2025, 9, 1, tzinfo=PARIS), datetime(2026, 9, 1, tzinfo=PARIS), "2025-2026")
    assert parse_period("2025/2026", now).name == "2025-2026"
    for bad, message in (("2025-2027", "d'une année à la suivante"), ("l'an dernier", "ni une année"),
                         ("1850", "hors de portée"), ("2025-2026-2027", "ni une année")):
        with pytest.raises(UsageError, match=message):
            parse_period(bad, now)


def test_bilan_of_a_year_posts_the_summary_and_the_charts(database, config) -> None:
    with database.session() as session:  # an action of n°4 done since
        action = session.exec(select(Item).where(Item.kind == ItemKind.ACTION, Item.action_number == 9)).one()
        action.done_at = LATER
    ctx = run(database, config, "!bilan 2022", now=LATER)
    summary = ctx.replies[0]  # then the images, their body being their text alternative
    assert summary.startswith("Bilan de l'année 2022")
    assert "Séances tenues : 2 (n°3 à n°4)" in summary
    assert "Participation moyenne : 9,0 présent·e·s par séance, 1,5 excusé·e·s" in summary
    assert "Météo du jour : moyenne 3,9/5 sur 10 réponses" in summary
    assert "Cités éducatives représentées : 10 sur la période (7,5 par séance en moyenne)" in summary
    assert "Actions : 6 ouvertes, 3 faites" in summary  # n°3: 2 (1 done), n°4: 4 (2 done)
    meteo, participation = images(ctx)
    assert (meteo["filename"], participation["filename"]) == ("meteo-bilan-2022.png",
                                                              "participation-bilan-2022.png")
    assert "n°3 (06/04/2022) : 5 réponses, moyenne 3,6/5" in meteo["body"]
    assert "n°4 (11/05/2022) : 12 présent·e·s, 3 excusé·e·s, 10 cités" in participation["body"]


def test_one_seance_gives_no_chart_and_an_empty_period_says_so(database, config) -> None:
    ctx = run(database, config, "!bilan 2021-2022", now=LATER)
    assert "Séances tenues : 2" in ctx.replies[0] and len(images(ctx)) == 2
    with database.session() as session:  # n°3 moved to 2021: 2022 has only n°4
        session.exec(select(Seance).where(Seance.number == 3)).one().opened_at = datetime(2021, 4, 6, tzinfo=UTC)
    ctx = run(database, config, "!bilan 2022", now=LATER)
    assert "Séances tenues : 1 (n°4)" in ctx.replies[0] and "à partir de deux séances" in ctx.replies[0]
    assert images(ctx) == []
    ctx = run(database, config, "!bilan 2023", now=LATER)
    assert ctx.replies == ["Aucune séance close dans ce salon au cours de l'année 2023."]
    assert images(ctx) == []


def test_bilan_is_for_facilitators_and_refuses_bad_input(database, config) -> None:
    with pytest.raises(PermissionDenied):
        run(database, config, "!bilan", sender=ANABELA, now=LATER)
    with pytest.raises(UsageError, match="ni une année"):
        run(database, config, "!bilan demain", now=LATER)
