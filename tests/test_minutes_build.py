"""The compte-rendu builder (bot.minutes.build): from a séance stored in the database to the minutes.

The main fixture scripts *Compte rendu 4* of the regional CPO network
(shared/reference/003_…) into a real SQLite database: the same kind of
participants, news of several cités éducatives with the discussion that followed,
an experience shared with a link, actions (one carried over from CR 3), next
meetings and the calendar feed. The Markdown and HTML are compared with golden
files; after a deliberate change, regenerate them with

    UPDATE_GOLDEN=1 python -m pytest tests/test_minutes_build.py

and read the diff (git diff tests/golden) before committing it.
"""

from __future__ import annotations

import html as html_module
import io
import os
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import docx
import pytest
from docx.opc.constants import RELATIONSHIP_TYPE

from bot.domain.meteo import MeteoSummary
from bot.engine.roomstate import RoomState
from bot.minutes.build import local_news_title, meteo_synthesis, name_sort_key
from bot.minutes.docx import render_docx
from bot.minutes.load import build_view
from bot.minutes.render import render_html, render_markdown
from bot.storage.models import (
    Attendance,
    CalendarFeed,
    CancelledOccurrence,
    Item,
    ItemKind,
    Profile,
    Registration,
    Rencontre,
    RencontreStatus,
    RsvpStatus,
    Seance,
    SeanceStatus,
    Topic,
)
from bot.support.text import markdown_to_html

GOLDEN = Path(__file__).parent / "golden"
ROOM = "!cpo:localhost"
NBSP = "\u00a0"

# 11 May 2022, 10h–12h30 in Paris (UTC+2).
START = datetime(2022, 5, 11, 8, 0, tzinfo=UTC)
END = datetime(2022, 5, 11, 10, 30, tzinfo=UTC)
PUBLISHED = END + timedelta(hours=2)

ECOLE_DES_SPORTS = "https://cite-educative-arras.example/ecole-des-sports/plaquette.pdf"
FEED_TOKEN = "Q3kz8Vb1-rT0pLmN2xYcWa"

# user id: (full name, role, structure, display name)
PEOPLE = {
    "@anabela:localhost": ("Mme De Castro Anabela", "Cheffe de projet cité éducative", "CE Beauvais",
                           "Anabela De Castro"),
    "@sophie:localhost": ("Mme Jehl Sophie", "Cheffe de projet opérationnel",
                          "CE Hautmont, Louvroil, Neuf-Mesnil", "Sophie Jehl"),
    "@samira:localhost": ("Mme Khodja Samira", "Coordinatrice cité éducative", "CE sud de Lille",
                          "Samira K."),
    "@nicolas:localhost": ("M. Labre Nicolas", "Responsable de service, chef de projet", "CE Arras",
                           "Nicolas Labre"),
    "@amaury:localhost": ("M. Lefort Amaury", "Coordinateur CE", "CE Montataire", "Amaury"),
    "@hacina:localhost": ("Mme Messaoudene Hacina", "Coordinatrice éducation nationale", "CE Maubeuge",
                          "Hacina M."),
    "@quentin:localhost": ("M. Poilvé Quentin", "Chef de projet cité éducative", "CE Soissons",
                           "Quentin Poilvé"),
    "@elodie:localhost": ("Mme Rivet Elodie", "Cheffe de projet cité éducative",
                          "CE Dunkerque/Grande-Synthe", "Elodie Rivet"),
    "@charlotte:localhost": ("Mme Rosa Charlotte", "Chargée de mission", "CE Dunkerque", "Charlotte"),
    "@sebastien:localhost": ("M. Vedis Sébastien", "Coordinateur cité éducative",
                             "Cité éducative de Valenciennes-Anzin", "Sébastien Vedis"),
    "@guillaume:localhost": ("M. Chapron Guillaume", "Chef de projet cité éducative", "CE Douai",
                             "Guillaume"),
    "@delphine:localhost": ("Mme Dégremont Delphine", "Coordinatrice cité éducative", "CE Calais",
                            "Delphine"),
    "@stephanie:localhost": ("Mme Perret Stéphanie", "Coordinatrice cité éducative", "CE Avion",
                             "Stéphanie"),
    "@maita:localhost": ("Mme Giraldi Maïta", "Chargée de mission cohésion sociale", "IREV",
                         "Maïta Giraldi"),
    "@florian:localhost": ("M. Desquin Florian", "Chargé de mission stagiaire", "IREV", "Florian"),
}
FACILITATORS = ("@maita:localhost", "@florian:localhost")
EXCUSED = {"@guillaume:localhost": "congés", "@delphine:localhost": "", "@stephanie:localhost": ""}
AGENDA = [
    "Tour d'écran des participant·e·s, des actualités locales et des questionnements du moment",
    "Présentation et partage d'expérience par la cité éducative d'Arras",
    "Mise en perspective des prochaines séances",
]


def room_state(people: dict = PEOPLE) -> RoomState:
    state = RoomState(ROOM, room_version="11", power_users={"@maita:localhost": 100,
                                                            "@florian:localhost": 50})
    state.joined |= set(people)
    state.display_names.update({user: values[3] for user, values in people.items()})
    return state


@dataclass
class Script:
    """Writes a séance into the database the way the capture stores it."""

    session: object
    seance: Seance
    clock: datetime
    topic: Topic | None = None
    events: int = 0
    items: dict[str, Item] = field(default_factory=dict)

    def tick(self, minutes: int = 1) -> datetime:
        self.clock += timedelta(minutes=minutes)
        return self.clock

    def point(self, title: str) -> Topic:
        position = 1 + (self.topic.position if self.topic else 0)
        self.topic = Topic(seance_id=self.seance.id, position=position, title=title,
                           started_at=self.tick())
        self.session.add(self.topic)
        self.session.flush()
        return self.topic

    def item(self, kind: str, sender: str, text: str = "", reply_to: Item | None = None,
             **fields) -> Item:
        self.events += 1
        event_id = f"$s{self.seance.number}e{self.events}"
        item = Item(seance_id=self.seance.id, topic_id=self.topic.id if self.topic else None,
                    kind=kind, event_id=event_id, sender=sender, text=text,
                    parent_event_id=reply_to.event_id if reply_to else None,
                    created_at=self.tick(), **fields)
        self.session.add(item)
        self.session.flush()
        self.items[event_id] = item
        return item

    def say(self, sender: str, text: str, reply_to: Item | None = None) -> Item:
        return self.item(ItemKind.DISCUSSION, sender, text, reply_to)

    def attend(self, *users: str) -> None:
        for user in users:
            self.session.add(Attendance(seance_id=self.seance.id, user_id=user, first_seen_at=self.tick()))
        self.session.flush()


def add_profiles(session, people: dict = PEOPLE) -> None:
    for user, (name, role, structure, _display) in people.items():
        session.add(Profile(user_id=user, full_name=name, role=role, structure=structure,
                            updated_at=START - timedelta(days=30)))


def add_rencontre(session, number: int, start: datetime, end: datetime | None, **fields) -> Rencontre:
    rencontre = Rencontre(room_id=ROOM, number=number, uid=f"uid-{number}@maillage", start_at=start,
                          end_at=end, created_at=START - timedelta(days=40),
                          updated_at=START - timedelta(days=40), **fields)
    session.add(rencontre)
    session.flush()
    return rencontre


def open_seance(session, number: int, opened: datetime, rencontre: Rencontre | None = None,
                **fields) -> Script:
    seance = Seance(room_id=ROOM, number=number, rencontre_id=rencontre.id if rencontre else None,
                    opened_by="@maita:localhost", opened_at=opened, **fields)
    session.add(seance)
    session.flush()
    return Script(session, seance, opened)


def close(script: Script, at: datetime) -> None:
    script.seance.status = SeanceStatus.CLOSED
    script.seance.closed_at = at
    script.session.flush()


def seance_cr3(session) -> None:
    """6 April 2022: a météo averaging 3,6/5 and two actions, one done since."""
    rencontre = add_rencontre(session, 3, datetime(2022, 4, 6, 12, 0, tzinfo=UTC),
                              datetime(2022, 4, 6, 14, 0, tzinfo=UTC), title="Réseau régional des CPO")
    s = open_seance(session, 3, datetime(2022, 4, 6, 12, 0, tzinfo=UTC), rencontre)
    s.attend("@maita:localhost", "@anabela:localhost", "@quentin:localhost", "@samira:localhost",
             "@hacina:localhost", "@sebastien:localhost")
    for user, mood in (("@anabela:localhost", 4), ("@quentin:localhost", 4), ("@samira:localhost", 3),
                       ("@hacina:localhost", 4), ("@sebastien:localhost", 3)):
        s.item(ItemKind.METEO, user, "", mood=mood)
    s.item(ItemKind.ACTION, "@maita:localhost", "Diffuser la synthèse du séminaire CPO de décembre 2021",
           owner="@maita:localhost", action_number=3)
    s.item(ItemKind.ACTION, "@maita:localhost", "Créer l'espace du réseau sur La Grande Équipe",
           owner="@maita:localhost", action_number=2, done_at=datetime(2022, 4, 20, tzinfo=UTC))
    close(s, datetime(2022, 4, 6, 14, 0, tzinfo=UTC))


def cr4_database(session) -> Seance:
    """The séance of 11 May 2022 as it would have been captured in the room."""
    add_profiles(session)
    seance_cr3(session)
    rencontre = add_rencontre(
        session, 4, START, END, title="Réseau régional des CPO", mode="distanciel",
        objective=("Proposer un espace régional d'échanges et de partage de ressources entre les "
                  "professionnel·le·s en charge de la coordination opérationnelle des cités éducatives."),
        agenda=AGENDA)
    add_rencontre(session, 5, datetime(2022, 6, 9, 12, 0, tzinfo=UTC), datetime(2022, 6, 9, 15, 0, tzinfo=UTC),
                  title="Sensibilisation aux politiques éducatives, avec Jean-Marc Berthet",
                  mode="distanciel")
    add_rencontre(session, 6, datetime(2022, 7, 6, 22, 0, tzinfo=UTC), datetime(2022, 7, 7, 22, 0, tzinfo=UTC),
                  title="Carte des compétences des CPO, avec Jean-Marc Berthet", mode="presentiel",
                  all_day=True, place="IREV, Lille")
    add_rencontre(session, 7, datetime(2022, 5, 20, 8, 0, tzinfo=UTC), None, title="Annulée",
                  status=RencontreStatus.CANCELLED)
    session.add(CalendarFeed(room_id=ROOM, token=FEED_TOKEN, created_at=START))
    for user, reason in EXCUSED.items():
        session.add(Registration(rencontre_id=rencontre.id, user_id=user, status=RsvpStatus.EXCUSED,
                                 reason=reason, updated_at=START - timedelta(days=2)))
    session.add(Registration(rencontre_id=rencontre.id, user_id="@quentin:localhost",
                             status=RsvpStatus.REGISTERED, updated_at=START - timedelta(days=2)))

    s = open_seance(session, 4, START, rencontre)
    s.attend(*FACILITATORS, *(u for u in PEOPLE if u not in EXCUSED and u not in FACILITATORS))
    meteo(s)
    news(s)
    tour_d_ecran(s)
    experience(s)
    perspectives(s)
    follow_up(s)
    close(s, END)
    return s.seance


def meteo(s: Script) -> None:
    s.item(ItemKind.METEO, "@anabela:localhost",
           "Belle dynamique autour de la préparation de la fête de quartier du 2 juillet.", mood=5)
    s.item(ItemKind.METEO, "@quentin:localhost",
           "Première année bouclée : environ 40 actions menées, copil le 23 juin.", mood=4)
    s.item(ItemKind.METEO, "@sebastien:localhost",
           "Clôture du plan d'action culturelle, beaucoup de monde à mobiliser.", mood=4)
    s.item(ItemKind.METEO, "@sophie:localhost",
           "Le travail à trois communes demande beaucoup de coordination.\nMais l'équipe est motivée.",
           mood=3)
    s.item(ItemKind.METEO, "@nicolas:localhost", "", mood=5)


def news(s: Script) -> None:
    s.item(ItemKind.NATIONAL_NEWS, "@maita:localhost",
           "Rencontre nationale des cités éducatives du 9 mars 2022 : les replays et les documents "
           "ressources sont en ligne.",
           url="https://anctv.anct.gouv.fr/Rencontre-nationale-des-Cites-educatives/8076ba2957.html")
    s.item(ItemKind.REGIONAL_NEWS, "@maita:localhost",
           "Un espace collaboratif dédié au partage de ressources du réseau CPO est ouvert sur la "
           "plateforme de La Grande Équipe.", url="https://acteurs.lagrandeequipe.fr/group/617")
    s.point(AGENDA[0])
    copil = s.item(ItemKind.LOCAL_NEWS, "@quentin:localhost",
                   "Organisation le 23 juin d'un comité de copilotage. À l'ordre du jour : bilan de la "
                   "1re année scolaire (état des lieux et d'avancement des projets).",
                   structure="CE Soissons")
    s.say("@sebastien:localhost", "Chez nous, le bilan est fait à partir du protocole de suivi et "
          "d'évaluation, avec des indicateurs agrégés.", reply_to=copil)
    tools = s.say("@anabela:localhost", "Nous mettons en avant les outils de communication déployés "
                  "en année 1.", reply_to=copil)
    s.say("@maita:localhost", "Bonne idée, on pourrait partager ces outils sur La Grande Équipe.",
          reply_to=tools)
    s.item(ItemKind.LOCAL_NEWS, "@quentin:localhost",
           "Ce copil est également l'occasion de valider l'ajout de nouveaux projets au plan "
           "d'action, issus de l'appel à projets.", structure="CE Soissons")
    s.item(ItemKind.LOCAL_NEWS, "@sebastien:localhost",
           "Mise en place d'un comité partenarial thématique « parentalité » : 75 participant·e·s "
           "dont 15 parents, vote via un QR code pour leur action favorite.",
           structure="Cité éducative de Valenciennes-Anzin")
    s.say("@samira:localhost", "Pour chaque thématique prioritaire : focale sur les convergences "
          "et alliances des actions.", reply_to=copil)
    s.item(ItemKind.LOCAL_NEWS, "@sebastien:localhost",
           "Clôture du plan d'action culturelle : exposition « Bye bye grise mine » au musée des "
           "Beaux-Arts de Valenciennes, avec des réinterprétations d'œuvres par des élèves de la cité.",
           structure="Cité éducative de Valenciennes-Anzin")
    s.item(ItemKind.LOCAL_NEWS, "@nicolas:localhost",
           "La cité éducative d'Arras entre dans la phase finale de sa labellisation. Actions menées "
           "en année 1 : 38, en année 2 : 49.\n24 juin : comité stratégique sur l'évaluation et la "
           "fonction de support de la CE.", structure="CE Arras")


def experience(s: Script) -> None:
    s.point(AGENDA[1])
    shared = s.item(
        ItemKind.SHARED_EXPERIENCE, "@nicolas:localhost",
        "De nombreux enfants sont éloignés de l'activité physique et sportive. L'école des sports "
        "offre aux 3-25 ans de la cité éducative une multitude d'activités sportives sur de courtes "
        "périodes, pour les guider vers les clubs arrageois.\nQuatre dispositifs : éveil sportif "
        "(3-5 ans), école multisports (6-11 ans), urban sport (12-15 ans), campus sport (16-25 ans).",
        title="L'école des sports", url=ECOLE_DES_SPORTS, structure="CE Arras")
    s.say("@amaury:localhost", "Comment financez-vous l'encadrement des activités ?", reply_to=shared)


def tour_d_ecran(s: Script) -> None:
    s.item(ItemKind.INFO, "@maita:localhost",
           "Une diversité de modalités d'animation et de présentation lors des COPIL.")
    parents = s.say("@sophie:localhost", "Quels leviers activer pour la mobilisation des parents ?")
    s.say("@samira:localhost", "S'appuyer sur le milieu associatif et sur les actions "
          "écoles-familles-quartier préexistantes.", reply_to=parents)
    s.say("@anabela:localhost", "Investir les fêtes d'écoles pour faire connaître la cité éducative.",
          reply_to=parents)
    s.say("@amaury:localhost", "Une cartographie des acteurs aide beaucoup, nous utilisons Gogocarto.")


def perspectives(s: Script) -> None:
    s.point(AGENDA[2])
    s.item(ItemKind.INFO, "@maita:localhost", "Les séances de juin et juillet seront accompagnées par "
           "Jean-Marc Berthet, sociologue des politiques éducatives.")
    s.say("@elodie:localhost", "Pourrait-on aborder la répartition des tâches entre la troïka et le CPO ?")


def follow_up(s: Script) -> None:
    s.item(ItemKind.QUESTION, "@charlotte:localhost",
           "Comment développer des coopérations sans tomber dans la logique de guichet ?")
    s.item(ItemKind.DECISION, "@maita:localhost",
           "Les séances du 9 juin et du 7 juillet porteront sur la carte des compétences des CPO.")
    s.item(ItemKind.ACTION, "@maita:localhost", "Mettre en ligne les ressources sur l'évaluation des "
           "cités éducatives sur La Grande Équipe", owner="@maita:localhost", action_number=7,
           due_date=date(2022, 5, 20))
    s.item(ItemKind.ACTION, "@quentin:localhost", "Partager le support de présentation du copil du 23 juin",
           owner="@quentin:localhost", action_number=8, due_date=date(2022, 6, 30))
    s.item(ItemKind.ACTION, "@maita:localhost", "Recenser les outils de cartographie des acteurs",
           action_number=9)
    s.item(ItemKind.ACTION, "@maita:localhost", "Envoyer le lien de la visio", action_number=10,
           owner="Florian", done_at=START + timedelta(minutes=30))  # done during the séance
    s.item(ItemKind.RESOURCE, "@amaury:localhost", "Gogocarto, outil de cartographie",
           url="https://gogocarto.fr/")
    s.item(ItemKind.RESOURCE, "@maita:localhost", "Compte rendu de la rencontre du 6 avril 2022",
           url="https://www.irev.fr/sites/default/files/atoms/files/cr_reseau_cpo_ce_06_04_2022.pdf")


@pytest.fixture
def cr4(db, config):
    """(session, séance 4) in the fixture database."""
    with db.session() as session:
        seance = cr4_database(session)
        session.commit()
        yield session, seance


def cr4_view(cr4, config, draft: bool = False, now: datetime = PUBLISHED, state: RoomState | None = None):
    session, seance = cr4
    return build_view(session, seance, config, state or room_state(), now, draft)


# --- golden files ----------------------------------------------------------------------------


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(text, encoding="utf-8", newline="\n")
    assert path.exists(), f"{path} is missing: run with UPDATE_GOLDEN=1 to create it"
    assert text == path.read_text(encoding="utf-8"), f"{name} differs from its golden file"


def test_markdown_of_the_scripted_seance_matches_golden(cr4, config):
    check_golden("seance_cr4.md", render_markdown(cr4_view(cr4, config)))


def test_html_of_the_scripted_seance_matches_golden(cr4, config):
    check_golden("seance_cr4.html", render_html(cr4_view(cr4, config)))


# --- what the builder takes from each table --------------------------------------------------


SECTIONS = ["Objectif de la réunion", "Ordre du jour", "Présent·e·s", "Excusé·e·s", "Animation",
            "Météo du jour", "Actualité nationale", "Actualités du réseau régional", "Actualités locales",
            "Présentation et partage d'expériences", "Échanges", "Questions", "Décisions",
            "Actions à suivre", "Ressources partagées", "Prochaines rencontres"]


def test_header_from_the_rencontre_and_the_seance(cr4, config):
    header = cr4_view(cr4, config).header
    assert (header.network_name, header.title, header.number) == (
        "Cités éducatives des Hauts-de-France", "Réseau régional des CPO", 4)
    assert (header.date_text, header.hours_text, header.mode_text) == (
        "mercredi 11 mai 2022", "10h–12h30", "en distanciel")
    assert (header.version, header.updated_text, header.draft) == (1, "", False)
    assert cr4_view(cr4, config, draft=True).header.draft


def test_people_sorted_by_name_facilitators_apart(cr4, config):
    view = cr4_view(cr4, config)
    names = [p.name for p in view.present]
    assert names == ["Mme De Castro Anabela", "Mme Jehl Sophie", "Mme Khodja Samira", "M. Labre Nicolas",
                     "M. Lefort Amaury", "Mme Messaoudene Hacina", "M. Poilvé Quentin",
                     "Mme Rivet Elodie", "Mme Rosa Charlotte", "M. Vedis Sébastien"]
    assert view.present[0].details == "Cheffe de projet cité éducative ; CE Beauvais"
    assert [(p.name, p.note) for p in view.excused] == [
        ("M. Chapron Guillaume", "congés"), ("Mme Dégremont Delphine", ""), ("Mme Perret Stéphanie", "")]
    assert [p.name for p in view.facilitators] == ["Mme Giraldi Maïta", "M. Desquin Florian"]


def test_meteo_synthesis_and_answers(cr4, config):
    meteo = cr4_view(cr4, config).meteo
    assert meteo.synthesis == ("5 participant·e·s sur 12 ont répondu ; humeurs de 3/5 à 5/5 "
                               "(☀️ 2, 🌤️ 2, ⛅ 1), moyenne 4,2/5, en hausse par rapport à la "
                               "séance précédente (3,6/5).")
    assert [(a.person, a.mood) for a in meteo.answers][:2] == [
        ("Mme De Castro Anabela", "☀️ 5/5"), ("M. Poilvé Quentin", "🌤️ 4/5")]
    assert meteo.answers[-1].text == ""


def moods(**counts: int) -> dict[int, int]:
    """The capture's distribution: all five moods, zeros included."""
    return {mood: counts.get(f"m{mood}", 0) for mood in range(1, 6)}


@pytest.mark.parametrize("summary, participants, expected", [
    (MeteoSummary(1, moods(m4=1), 4.0, None, None), 8,
     "1 participant·e sur 8 a répondu ; humeur 4/5 (🌤️ 1), moyenne 4,0/5."),
    (MeteoSummary(3, moods(m2=3), 2.0, 2.96, "en baisse"), 3,
     ("3 participant·e·s sur 3 ont répondu ; humeur unanime : 2/5 (🌧️ 3), moyenne 2,0/5, "
      "en baisse par rapport à la séance précédente (3,0/5).")),
    (MeteoSummary(2, moods(m5=1, m1=1), 3.0, 3.0, "stable"), 0,
     ("2 participant·e·s sur 2 ont répondu ; humeurs de 1/5 à 5/5 (☀️ 1, ⛈️ 1), moyenne 3,0/5, "
      "stable par rapport à la séance précédente (3,0/5).")),
    (MeteoSummary(0, moods(), None, 3.0, None), 5, ""),
])
def test_meteo_synthesis_sentences(summary, participants, expected):
    assert meteo_synthesis(summary, participants) == expected


def test_local_news_grouped_by_structure_with_their_discussion(cr4, config):
    sections = cr4_view(cr4, config).local_news
    assert [s.title for s in sections] == ["Actualités de la cité éducative de Soissons",
                                           "Actualités de la cité éducative de Valenciennes-Anzin",
                                           "Actualités de la cité éducative d'Arras"]
    soissons = sections[0]
    assert [e.text[:20] for e in soissons.entries] == ["Organisation le 23 j", "Ce copil est égaleme"]
    assert all(e.author == "" and e.children == () for e in soissons.entries)  # replies: below
    assert [(e.author, len(e.children)) for e in soissons.discussion] == [
        ("M. Vedis Sébastien", 0), ("Mme De Castro Anabela", 1), ("Mme Khodja Samira", 0)]
    assert soissons.discussion[1].children[0].author == "Mme Giraldi Maïta"


@pytest.mark.parametrize("structure, title", [
    ("CE Soissons", "Actualités de la cité éducative de Soissons"),
    ("Cité éducative de Soissons", "Actualités de la cité éducative de Soissons"),
    ("cite educative d'Arras", "Actualités de la cité éducative d'Arras"),
    ("CE Arras", "Actualités de la cité éducative d'Arras"),
    ("CE  Dunkerque/Grande-Synthe", "Actualités de la cité éducative de Dunkerque/Grande-Synthe"),
    ("Cité éducative du Grand Soissons", "Actualités de la cité éducative du Grand Soissons"),
    ("CE sud de Lille", "Actualités de la cité éducative sud de Lille"),
    ("IREV", "Actualités — IREV"),
    ("Ville de Lille", "Actualités — Ville de Lille"),
    ("", "Autres actualités locales"),
])
def test_local_news_title(structure, title):
    assert local_news_title(structure) == title


def test_experience_exchanges_questions_decisions(cr4, config):
    view = cr4_view(cr4, config)
    (shared,) = view.experiences
    assert (shared.title, shared.url, shared.presenter) == (
        "L'école des sports", ECOLE_DES_SPORTS, "M. Labre Nicolas (CE Arras)")
    assert [e.author for e in shared.discussion] == ["M. Lefort Amaury"]
    assert [s.title for s in view.exchanges] == [AGENDA[0], AGENDA[2]]  # point 2 had only the partage
    first = view.exchanges[0]
    assert [e.author for e in first.entries] == ["Mme Giraldi Maïta"]
    assert [(e.author, [c.author for c in e.children]) for e in first.discussion] == [
        ("Mme Jehl Sophie", ["Mme Khodja Samira", "Mme De Castro Anabela"]), ("M. Lefort Amaury", [])]
    assert [e.author for e in view.questions] == ["Mme Rosa Charlotte"]
    assert [e.author for e in view.decisions] == [""]


def test_actions_by_person_with_carried_over_ones(cr4, config):
    groups = cr4_view(cr4, config).actions
    assert [g.owner for g in groups] == ["Mme Giraldi Maïta", "M. Poilvé Quentin", "Sans responsable"]
    maita = groups[0].actions
    assert [(a.number, a.due_text, a.carried_over, a.origin_text) for a in maita] == [
        (7, "vendredi 20 mai 2022", False, ""), (3, "", True, "reportée du CR n°3")]
    assert [a.number for g in groups for a in g.actions] == [7, 3, 8, 9]  # n°2 and n°10 are done


def test_next_meetings_registration_and_calendar(cr4, config):
    view = cr4_view(cr4, config)
    assert [(m.when_text, m.mode_text, m.register_text) for m in view.next_meetings] == [
        ("jeudi 9 juin 2022, 14h–17h", "en distanciel", "répondez « !inscription 5 » dans le salon"),
        ("jeudi 7 juillet 2022 (journée complète)", "en présentiel",
         "répondez « !inscription 6 » dans le salon")]
    assert view.calendar_url == f"http://127.0.0.1:8080/calendar/{FEED_TOKEN}.ics"
    later = cr4_view(cr4, config, now=datetime(2022, 6, 10, tzinfo=UTC))
    assert [m.register_text for m in later.next_meetings] == ["répondez « !inscription 6 » dans le salon"]


def test_repeated_rencontre_and_cancelled_occurrence(db, config):
    with db.session() as session:
        monthly = add_rencontre(session, 1, datetime(2027, 1, 14, 13, 0, tzinfo=UTC),
                                datetime(2027, 1, 14, 15, 0, tzinfo=UTC), title="Mensuelle",
                                recurrence={"freq": "MONTHLY", "interval": 1, "by_weekday_rank": [3, 2]})
        session.add(CancelledOccurrence(rencontre_id=monthly.id,
                                        occurrence_start=datetime(2027, 2, 11, 13, 0, tzinfo=UTC)))
        s = open_seance(session, 1, datetime(2027, 1, 14, 13, 0, tzinfo=UTC), monthly)
        close(s, datetime(2027, 1, 14, 15, 0, tzinfo=UTC))
        view = build_view(session, s.seance, config, None, datetime(2027, 1, 15, tzinfo=UTC), False)
    assert view.header.date_text == "jeudi 14 janvier 2027" and view.header.hours_text == "14h–16h"
    assert [m.when_text for m in view.next_meetings] == [
        "jeudi 11 mars 2027, 14h–16h", "jeudi 8 avril 2027, 14h–16h", "jeudi 13 mai 2027, 14h–16h"]
    assert view.calendar_url == "" and view.register_text.startswith("répondez « !inscription n »")


# --- séances without a rencontre, edits, redactions, offline -----------------------------------


def test_adhoc_seance_uses_its_own_times_and_topics(db, config):
    with db.session() as session:
        s = open_seance(session, 1, datetime(2026, 11, 20, 13, 5, tzinfo=UTC), title="Point d'étape")
        s.attend("@maita:localhost", "@anabela:localhost")
        s.point("Évaluation")
        s.say("@anabela:localhost", "Premier message")
        close(s, datetime(2026, 11, 20, 14, 40, tzinfo=UTC))
        view = build_view(session, s.seance, config, room_state(), datetime(2026, 11, 21, tzinfo=UTC), True)
    assert (view.header.title, view.header.number, view.header.date_text, view.header.hours_text,
            view.header.mode_text) == ("Point d'étape", 1, "vendredi 20 novembre 2026", "14h05–15h40", "")
    assert view.agenda == ("Évaluation",) and view.objectives == ()
    assert [p.name for p in view.present] == ["Anabela De Castro"]  # no profile: display name
    assert view.next_meetings == () and view.register_text == ""
    md_text = render_markdown(view)
    assert "## Météo du jour" not in md_text and "## Excusé·e·s" not in md_text


def test_edited_and_redacted_items(db, config):
    """The capture keeps an edited item's latest text and deletes a redacted one."""
    with db.session() as session:
        s = open_seance(session, 2, datetime(2026, 11, 20, 13, 0, tzinfo=UTC))
        s.point("Point")
        root = s.say("@anabela:localhost", "Texte corrigé")
        reply = s.say("@maita:localhost", "Réponse au message retiré", reply_to=root)
        gone = s.say("@quentin:localhost", "Message retiré")
        orphan = s.say("@maita:localhost", "Réponse orpheline", reply_to=gone)
        root.edited_at = s.tick()
        session.delete(gone)
        session.flush()
        view = build_view(session, s.seance, config, room_state(), datetime(2026, 11, 21, tzinfo=UTC), True)
    (section,) = view.exchanges
    assert [(e.text, [c.text for c in e.children]) for e in section.discussion] == [
        ("Texte corrigé", [reply.text]), (orphan.text, [])]
    assert "Message retiré" not in render_markdown(view)


def test_deep_reply_chains_are_flattened(db, config):
    with db.session() as session:
        s = open_seance(session, 2, datetime(2026, 11, 20, 13, 0, tzinfo=UTC))
        parent = s.say("@anabela:localhost", "niveau 0")
        for level in range(1, 8):
            parent = s.say("@maita:localhost", f"niveau {level}", reply_to=parent)
        view = build_view(session, s.seance, config, None, datetime(2026, 11, 21, tzinfo=UTC), True)
    (top,) = view.exchanges[0].discussion
    assert view.exchanges[0].title == "Discussion générale"
    assert top.children[0].text == "niveau 1"
    assert [e.text for e in top.children[0].children] == [f"niveau {n}" for n in range(2, 8)]
    assert all(e.children == () for e in top.children[0].children)


def test_offline_without_room_state(cr4, config):
    session, seance = cr4
    session.delete(session.get(Profile, "@florian:localhost"))
    session.flush()
    view = build_view(session, seance, config, None, PUBLISHED, False)
    # Offline, the opener is the only facilitator known; Florian has no profile left.
    assert [p.name for p in view.facilitators] == ["Mme Giraldi Maïta"]
    assert "@florian:localhost" in [p.name for p in view.present]
    session.rollback()


def test_name_sort_key_ignores_civility_accents_and_case():
    names = ["M. Vedis Sébastien", "mme écart Zoé", "Mme De Castro Anabela", "Dr Bernard"]
    assert sorted(names, key=name_sort_key) == ["Dr Bernard", "Mme De Castro Anabela", "mme écart Zoé",
                                                "M. Vedis Sébastien"]


# --- every format from the same séance ------------------------------------------------------------


def test_docx_has_the_same_headings_and_lines(cr4, config):
    view = cr4_view(cr4, config)
    document = docx.Document(io.BytesIO(render_docx(view)))
    paragraphs = [(p.style.name, p.text) for p in document.paragraphs]
    assert paragraphs[0] == ("Title", "Réseau régional des CPO — Compte rendu n°4")
    assert [t for style, t in paragraphs if style == "Heading 1"] == SECTIONS
    md_h3 = [line[4:] for line in render_markdown(view).splitlines() if line.startswith("### ")]
    assert [t for style, t in paragraphs if style == "Heading 2"] == md_h3
    texts = [t for _, t in paragraphs]
    assert "Mme De Castro Anabela (Cheffe de projet cité éducative ; CE Beauvais)" in texts
    assert f"M. Chapron Guillaume (Chef de projet cité éducative ; CE Douai) — motif{NBSP}: congés" in texts
    reply = f"Mme Giraldi Maïta{NBSP}: Bonne idée, on pourrait partager ces outils sur La Grande Équipe."
    assert ("List Bullet 2", reply) in paragraphs
    assert ("n°3 — Diffuser la synthèse du séminaire CPO de décembre 2021 (reportée du CR n°3)"
            in texts)
    assert f"Calendrier du réseau{NBSP}: http://127.0.0.1:8080/calendar/{FEED_TOKEN}.ics" in texts
    links = {r.target_ref for r in document.part.rels.values() if r.reltype == RELATIONSHIP_TYPE.HYPERLINK}
    assert ECOLE_DES_SPORTS in links


def test_markdown_and_html_have_the_sections_in_order(cr4, config):
    view = cr4_view(cr4, config)
    md_text = render_markdown(view)
    assert [line[3:] for line in md_text.splitlines() if line.startswith("## ")] == SECTIONS
    html = render_html(view)
    headings = [html_module.unescape(h) for h in re.findall(r"<h2>(.*?)</h2>", html)]
    assert headings == SECTIONS
    room = markdown_to_html(md_text)
    assert [html_module.unescape(h) for h in re.findall(r"<h2>(.*?)</h2>", room)] == SECTIONS


# --- escaping, from the database through the builder -----------------------------------------------

HOSTILE = (
    "<script>alert(1)</script>",
    "{{ 7*7 }}",
    "{% raw %}",
    "**gras** _souligné_ `code`",
    "[lien](javascript:alert(1))",
    "| a | b |\n|---|---|\n| c | d |",
    "# titre",
    "> citation",
    "1. liste",
    "<img src=x onerror=alert(1)>",
    "&lt;b&gt; & AT&T",
    "x" * 5_000 + " fin",
)
HOSTILE_LINES = [line for text in HOSTILE for line in text.splitlines()]


def hostile_seance(session) -> Seance:
    """A séance where every user-typed field holds hostile text."""
    people = {f"@h{i}:localhost": (text, text, text, text) for i, text in enumerate(HOSTILE)}
    add_profiles(session, people)
    rencontre = add_rencontre(session, 1, START, END, title=HOSTILE[1], objective="\n".join(HOSTILE),
                              agenda=list(HOSTILE), place=HOSTILE[0], mode="{{ 7*7 }}")
    add_rencontre(session, 2, START + timedelta(days=30), None, title=HOSTILE[0])
    for user, (text, *_rest) in list(people.items())[:3]:
        session.add(Registration(rencontre_id=rencontre.id, user_id=user, status=RsvpStatus.EXCUSED,
                                 reason=text, updated_at=START))
    s = open_seance(session, 1, START, rencontre, title=HOSTILE[2])
    s.attend(*list(people)[3:])
    for user, (text, *_rest) in list(people.items())[3:]:
        s.point(text)
        news = s.item(ItemKind.LOCAL_NEWS, user, text, structure=text, url="javascript:alert(1)")
        s.say(user, text, reply_to=news)
        for kind in (ItemKind.METEO, ItemKind.NATIONAL_NEWS, ItemKind.INFO, ItemKind.DISCUSSION,
                     ItemKind.QUESTION, ItemKind.DECISION):
            s.item(kind, user, text, mood=3 if kind == ItemKind.METEO else None)
        s.item(ItemKind.SHARED_EXPERIENCE, user, text, title=text, url=text, structure=text)
        s.item(ItemKind.ACTION, user, text, owner=text, action_number=s.events)
        s.item(ItemKind.ACTION, user, text, owner=user, action_number=s.events)
        s.item(ItemKind.RESOURCE, user, text, url=f"https://exemple.fr/{s.events}?q=<b>")
    close(s, END)
    return s.seance


@pytest.fixture
def hostile(db, config):
    with db.session() as session:
        seance = hostile_seance(session)
        yield build_view(session, seance, config, None, PUBLISHED, False)


def _text_of(html: str) -> str:
    return html_module.unescape(re.sub(r"<[^>]+>", "", html))


def test_hostile_text_is_inert_in_markdown_and_room_html(hostile):
    md_text = render_markdown(hostile)
    assert "49" not in md_text and "<script" not in md_text and "<img" not in md_text
    assert not re.search(r"(?<!\\)\]\(", md_text)  # no live Markdown link
    assert [line for line in md_text.splitlines() if line.startswith("# ")] == [
        "# \\{\\{ 7\\*7 \\}\\} — Compte rendu n°1"]
    room = markdown_to_html(md_text)
    for tag in ("<script", "<img", "<table", "<code", "<blockquote", "<em>"):
        assert tag not in room
    assert all(href.startswith("https://exemple.fr/") for href in re.findall(r'href="([^"]*)"', room))
    text = _text_of(room)
    for line in HOSTILE_LINES:
        assert line in text


def test_hostile_text_is_inert_in_html(hostile):
    html = render_html(hostile)
    body = html.split("<body>", 1)[1]
    assert "<script" not in html and "<img" not in html and "<table" not in html
    assert all(href.startswith("https://exemple.fr/") for href in re.findall(r'href="([^"]*)"', html))
    assert "49" not in body
    text = _text_of(body)
    for line in HOSTILE_LINES:
        assert line in text


def test_hostile_text_is_literal_in_docx(hostile):
    document = docx.Document(io.BytesIO(render_docx(hostile)))
    text = "\n".join(p.text for p in document.paragraphs)
    assert "49" not in text
    for line in HOSTILE_LINES:
        assert line in text
    links = [r.target_ref for r in document.part.rels.values() if r.reltype == RELATIONSHIP_TYPE.HYPERLINK]
    assert links and all(link.startswith("https://exemple.fr/") for link in links)
