"""``!fiche``: a cité éducative's fiche, recorded by its members or the animation (history
kept), and opening the cité's news in the minutes the first time it appears."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from sqlmodel import select

from bot.app.wiring import build_core
from bot.minutes.load import build_view
from bot.minutes.render import render_html, render_markdown
from bot.storage.models import Fiche, Seance
from tests.conftest import FACILITATOR, MEMBER, NOW, handle_message

BOT = "@maillage:localhost"
QUENTIN = "@quentin:localhost"
SOISSONS = ("!fiche CE Soissons\ncommune: Soissons\ndépartement: Aisne\nrégion: Hauts-de-France\n"
            "agglomération: GrandSoissons Agglomération\npopulation: 28 000 habitants\n"
            "quartiers: Chevreux, Presles, Saint-Crépin\ncollèges: Collège Lamartine, Collège Saint-Just\n"
            "contact: Mme Rivet\nlien: https://www.ville-soissons.fr/cite-educative")


class Clock:
    now = NOW


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def room(room):
    room.joined.add(QUENTIN)
    room.display_names[QUENTIN] = "Quentin Poilvé"
    return room


@pytest.fixture
def say(config, db, room, clock):
    core = build_core(config, db, BOT, clock=lambda: clock.now)
    counter = itertools.count()

    def send(sender: str, text: str) -> str:
        rows = handle_message(core, db, room, f"$fiche{next(counter)}", sender, text, clock.now)
        clock.now += timedelta(seconds=10)
        return "\n".join(r.content.get("body", "") for r in rows if r.event_type == "m.room.message")

    return send


@pytest.fixture
def profiles(say):
    say(MEMBER, "!profil Cheffe de projet cité éducative ; CE Soissons")
    say(QUENTIN, "!profil Chef de projet ; CE Beauvais")


def versions(db) -> list[Fiche]:
    with db.session() as session:
        return list(session.exec(select(Fiche).order_by(Fiche.id)))


def test_a_member_records_the_fiche_of_her_cite(say, db, profiles):
    reply = say(MEMBER, SOISSONS)
    assert "Fiche enregistrée" in reply
    assert "Fiche — CE Soissons" in reply
    assert "Commune : Soissons" in reply and "Département : Aisne" in reply
    assert "Population : 28\u202f000" in reply
    assert "Collèges : Collège Lamartine, Collège Saint-Just" in reply
    assert "Lien : https://www.ville-soissons.fr/cite-educative" in reply
    assert "Mise à jour le 21 novembre 2026 par Anabela De Castro (1 version)" in reply
    shown = say(QUENTIN, "!fiche ce  soissons")     # case and spaces aside
    assert "Quartiers prioritaires : Chevreux, Presles, Saint-Crépin" in shown
    assert say(MEMBER, "!fiche").startswith("Fiche — CE Soissons")   # her own structure


def test_history_is_kept_and_an_empty_value_removes_a_key(say, db, profiles):
    say(MEMBER, SOISSONS)
    reply = say(FACILITATOR, "!fiche CE Soissons\ncontact:\npopulation: 28500")
    assert "Contact" not in reply and "Population : 28\u202f500" in reply and "(2 versions)" in reply
    first, second = versions(db)
    assert first.fields["contact"] == "Mme Rivet" and "contact" not in second.fields
    assert second.fields["commune"] == "Soissons" and second.edited_by == FACILITATOR


def test_no_fiche_yet(say, profiles):
    assert "Pas encore de fiche pour « CE Arras »" in say(QUENTIN, "!fiche CE Arras")


@pytest.mark.parametrize("text, reason", [
    ("!fiche CE Soissons\ncouleur: bleu", "« couleur » n'est pas une clé de fiche (clés : commune, departement"),
    ("!fiche CE Soissons\nSoissons dans l'Aisne", "n'est pas une clé de fiche"),
    ("!fiche CE Soissons\ncommune: A\ncommune: B", "la clé « commune » est donnée deux fois"),
    ("!fiche CE Soissons\npopulation: beaucoup", "population « beaucoup » : un nombre d'habitants"),
    ("!fiche CE Soissons\npopulation: 999999999999", "un nombre d'habitants"),
    ("!fiche CE Soissons\npopulation: 0", "un nombre d'habitants"),
    ("!fiche CE Soissons\nlien: javascript:alert(1)", "doit commencer par http:// ou https://"),
    ("!fiche CE Soissons\ncontact: " + "x" * 400, "trop longue (400 caractères ; 300 au plus)"),
    ("!fiche " + "S" * 200 + "\ncommune: X", "trop long (200 caractères ; 120 au plus)"),
])
def test_bad_fiches_change_nothing(say, db, profiles, text, reason):
    reply = say(MEMBER, text)
    assert reason.lower() in reply.lower() and "Rien n'a été enregistré" in reply
    assert "Usage : !fiche" in reply
    assert versions(db) == []


def test_only_its_members_and_the_animation_edit_it(say, db, profiles):
    reply = say(QUENTIN, SOISSONS)
    assert "Seuls les membres de « CE Soissons »" in reply and "Rien n'a été enregistré" in reply
    assert versions(db) == []
    assert "Fiche enregistrée" in say(FACILITATOR, "!fiche CE Arras\ncommune: Arras")


def test_fiche_without_structure_nor_profile(say):
    assert "indiquez la structure" in say(MEMBER, "!fiche").lower()


# --- in the minutes ---------------------------------------------------------------------------

def seance_view(db, config, room, number: int, now):
    with db.session() as session:
        seance = session.exec(select(Seance).where(Seance.number == number)).one()
        return build_view(session, seance, config, room, now, draft=False)


def test_the_fiche_opens_the_cite_news_the_first_time(say, db, config, room, profiles, clock):
    say(MEMBER, SOISSONS)
    for _ in range(2):
        say(FACILITATOR, "!seance ouvrir Réseau CPO")
        say(MEMBER, "!actu Lancement du dispositif Ouvrir l'école aux parents")
        say(QUENTIN, "!actu Forum des métiers")
        say(FACILITATOR, "!seance clore")
    first = seance_view(db, config, room, 1, clock.now)
    soissons, beauvais = first.local_news
    assert soissons.title == "Actualités de la cité éducative de Soissons"
    assert soissons.fiche[:2] == (("Commune", "Soissons"), ("Département", "Aisne"))
    assert beauvais.fiche == ()                       # no fiche recorded for Beauvais
    markdown = render_markdown(first)
    assert "### Actualités de la cité éducative de Soissons\n\n- *Commune* : Soissons\n" in markdown
    assert "- *Population* : 28\u202f000" in markdown
    assert '<ul class="fiche">\n<li><em>Commune</em>&nbsp;: Soissons</li>' in render_html(first)
    second = seance_view(db, config, room, 2, clock.now)
    assert [s.fiche for s in second.local_news] == [(), ()]   # not the first time any more
