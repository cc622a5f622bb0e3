"""Rendering of the compte-rendu (bot.minutes.render) from a view-model.

The fixture is modelled on *Compte rendu 4* of the regional CPO network
(shared/reference/003_…): same kind of participants, local news per cité
éducative, experience sharing, next meetings.

Golden files: tests/golden/cr4.md and tests/golden/cr4.html are compared
exactly. After a deliberate change of the templates, regenerate them with

    UPDATE_GOLDEN=1 python -m pytest tests/test_minutes_render.py

then read the diff (git diff tests/golden) before committing it.
"""

from __future__ import annotations

import dataclasses
import html as html_module
import io
import os
import re
from pathlib import Path

import docx
import pytest
from docx.opc.constants import RELATIONSHIP_TYPE
from jinja2.exceptions import SecurityError, UndefinedError

from bot.minutes.docx import render_docx
from bot.minutes.render import HEADINGS, render_html, render_markdown
from bot.minutes.view import (
    ActionGroup,
    ActionLine,
    Entry,
    Experience,
    Header,
    Meteo,
    MeteoAnswer,
    MinutesView,
    NextMeeting,
    Person,
    Resource,
    Section,
)
from bot.support.richtext import parse_formatted
from bot.support.templating import template_env
from bot.support.text import markdown_to_html as markdown_to_room_html
from bot.support.text import md, md_link

GOLDEN = Path(__file__).parent / "golden"
NBSP = "\u00a0"

LAGRANDEEQUIPE = "https://acteurs.lagrandeequipe.fr/group/617"
ECOLE_DES_SPORTS = "https://cite-educative-arras.example/ecole-des-sports/plaquette.pdf"


def cr4_view(draft: bool = False) -> MinutesView:
    """A view-model shaped like *Compte rendu 4* (11 May 2022)."""
    return MinutesView(
        header=Header(
            network_name="Cités éducatives des Hauts-de-France",
            title="Réseau régional des CPO",
            number=4,
            date_text="mercredi 11 mai 2022",
            hours_text="10h–12h30",
            mode_text="en distanciel",
            draft=draft,
        ),
        objectives=(
            (
                "Proposer un espace régional d'échanges et de partage de ressources entre les "
                "professionnel·le·s en charge de la coordination opérationnelle des cités "
                "éducatives."
            ),
        ),
        agenda=(
            (
                "Tour d'écran des participant·e·s, des actualités locales et des "
                "questionnements du moment"
            ),
            "Présentation et partage d'expérience par la cité éducative d'Arras",
            "Mise en perspective des prochaines séances",
        ),
        present=(
            Person("Mme De Castro Anabela", "Cheffe de projet cité éducative ; CE Beauvais"),
            Person(
                "Mme Jehl Sophie",
                "Cheffe de projet opérationnel ; CE Hautmont, Louvroil, Neuf-Mesnil",
            ),
            Person("Mme Khodja Samira", "Coordinatrice cité éducative ; CE sud de Lille"),
            Person("M. Labre Nicolas", "Responsable de service, chef de projet ; CE Arras"),
            Person("M. Lefort Amaury", "Coordinateur CE ; CE Montataire"),
            Person("Mme Messaoudene Hacina", "Coordinatrice éducation nationale ; CE Maubeuge"),
            Person("M. Poilvé Quentin", "Chef de projet cité éducative ; CE Soissons"),
            Person(
                "Mme Rivet Elodie",
                "Cheffe de projet cité éducative ; CE Dunkerque/Grande-Synthe",
            ),
            Person("Mme Rosa Charlotte", "Chargée de mission ; CE Dunkerque"),
            Person("M. Vedis Sébastien", "Coordinateur cité éducative ; CE Valenciennes/Anzin"),
        ),
        excused=(
            Person("M. Chapron Guillaume", "Chef de projet cité éducative ; CE Douai", "congés"),
            Person("Mme Dégremont Delphine", "Coordinatrice cité éducative ; CE Calais"),
            Person("Mme Perret Stéphanie", "Coordinatrice cité éducative ; CE Avion"),
        ),
        facilitators=(
            Person("Mme Giraldi Maïta", "Chargée de mission cohésion sociale ; IREV"),
            Person("M. Desquin Florian", "Chargé de mission stagiaire ; IREV"),
        ),
        meteo=Meteo(
            synthesis=(
                "5 participant·e·s sur 10 ont répondu ; humeurs de 3/5 à 5/5 (moyenne 4,2/5), "
                "en hausse par rapport à la séance précédente (3,6/5)."
            ),
            answers=(
                MeteoAnswer(
                    "Mme De Castro Anabela",
                    "☀️ 5/5",
                    "Belle dynamique autour de la préparation de la fête de quartier du 2 juillet.",
                ),
                MeteoAnswer(
                    "M. Poilvé Quentin",
                    "🌤️ 4/5",
                    "Première année bouclée : environ 40 actions menées, copil le 23 juin.",
                ),
                MeteoAnswer(
                    "M. Vedis Sébastien",
                    "🌤️ 4/5",
                    "Clôture du plan d'action culturelle, beaucoup de monde à mobiliser.",
                ),
                MeteoAnswer(
                    "Mme Jehl Sophie",
                    "⛅ 3/5",
                    "Le travail à trois communes demande beaucoup de coordination.\n"
                    "Mais l'équipe est motivée.",
                ),
                MeteoAnswer("M. Labre Nicolas", "☀️ 5/5"),
            ),
        ),
        national_news=(
            Entry(
                "Rencontre nationale des cités éducatives du 9 mars 2022 : les replays et "
                "les documents ressources sont en ligne.",
                url="https://anctv.anct.gouv.fr/Rencontre-nationale-des-Cites-educatives/"
                "8076ba2957.html",
            ),
        ),
        regional_news=(
            Entry(
                "Un espace collaboratif dédié au partage de ressources du réseau CPO est "
                "ouvert sur la plateforme de La Grande Équipe.",
                author="Mme Giraldi Maïta",
                url=LAGRANDEEQUIPE,
            ),
        ),
        local_news=(
            Section(
                "Actualités de la cité éducative de Soissons",
                entries=(
                    Entry(
                        "Organisation le 23 juin d'un comité de copilotage. À l'ordre du "
                        "jour : bilan de la 1re année scolaire (état des lieux et "
                        "d'avancement des projets).",
                    ),
                    Entry(
                        "Ce copil est également l'occasion de valider l'ajout de nouveaux "
                        "projets au plan d'action, issus de l'appel à projets.",
                    ),
                ),
                discussion=(
                    Entry(
                        "Chez nous, le bilan est fait à partir du protocole de suivi et "
                        "d'évaluation, avec des indicateurs agrégés.",
                        author="M. Vedis Sébastien",
                    ),
                    Entry(
                        "Nous mettons en avant les outils de communication déployés en année 1.",
                        author="Mme De Castro Anabela",
                        children=(
                            Entry(
                                "Bonne idée, on pourrait partager ces outils sur La Grande Équipe.",
                                author="Mme Giraldi Maïta",
                            ),
                        ),
                    ),
                    Entry(
                        "Pour chaque thématique prioritaire : focale sur les convergences et "
                        "alliances des actions.",
                        author="Mme Khodja Samira",
                    ),
                ),
            ),
            Section(
                "Actualités de la cité éducative de Valenciennes-Anzin",
                entries=(
                    Entry(
                        "Mise en place d'un comité partenarial thématique « parentalité » : "
                        "75 participant·e·s dont 15 parents, vote via un QR code pour leur "
                        "action favorite.",
                    ),
                    Entry(
                        "Clôture du plan d'action culturelle de la CE :",
                        children=(
                            Entry(
                                "Exposition « Bye bye grise mine » au musée des Beaux-Arts "
                                "de Valenciennes, avec des réinterprétations d'œuvres par "
                                "des élèves de la cité."
                            ),
                            Entry(
                                "Concours d'éloquence et prévention du harcèlement scolaire "
                                "(cinéma, dessin)."
                            ),
                        ),
                    ),
                ),
            ),
            Section(
                "Actualités de la cité éducative d'Arras",
                entries=(
                    Entry(
                        "La cité éducative d'Arras entre dans la phase finale de sa "
                        "labellisation. Actions menées en année 1 : 38, en année 2 : 49.\n"
                        "24 juin : comité stratégique sur l'évaluation et la fonction de "
                        "support de la CE.",
                    ),
                ),
            ),
        ),
        experiences=(
            Experience(
                "L'école des sports",
                description=(
                    "De nombreux enfants sont éloignés de l'activité physique et sportive. "
                    "L'école des sports offre aux 3-25 ans de la cité éducative une "
                    "multitude d'activités sportives sur de courtes périodes, pour les "
                    "guider vers les clubs arrageois.\n"
                    "Quatre dispositifs : éveil sportif (3-5 ans), école multisports "
                    "(6-11 ans), urban sport (12-15 ans), campus sport (16-25 ans)."
                ),
                url=ECOLE_DES_SPORTS,
                presenter="M. Labre Nicolas (CE Arras)",
            ),
        ),
        exchanges=(
            Section(
                "Tour d'écran des participant·e·s, des actualités locales et des "
                "questionnements du moment",
                entries=(
                    Entry(
                        "Une diversité de modalités d'animation et de présentation lors des COPIL.",
                        author="Mme Giraldi Maïta",
                    ),
                ),
                discussion=(
                    Entry(
                        "Quels leviers activer pour la mobilisation des parents ?",
                        author="Mme Jehl Sophie",
                        children=(
                            Entry(
                                "S'appuyer sur le milieu associatif et sur les actions "
                                "écoles-familles-quartier préexistantes.",
                                author="Mme Khodja Samira",
                            ),
                            Entry(  # typed with formatting in Element (body + formatted_body)
                                "Investir les **fêtes d'écoles** pour faire connaître la cité "
                                "éducative.",
                                author="Mme De Castro Anabela",
                                rich=parse_formatted(
                                    "Investir les <strong>fêtes d'écoles</strong> pour faire "
                                    "connaître la cité éducative."),
                            ),
                        ),
                    ),
                    Entry(
                        "Une cartographie des acteurs aide beaucoup, nous utilisons Gogocarto.",
                        author="M. Lefort Amaury",
                    ),
                ),
            ),
            Section(
                "Mise en perspective des prochaines séances",
                entries=(
                    Entry(
                        "Les séances de juin et juillet seront accompagnées par Jean-Marc "
                        "Berthet, sociologue des politiques éducatives.",
                        author="Mme Giraldi Maïta",
                    ),
                ),
                discussion=(
                    Entry(
                        "Pourrait-on aborder la répartition des tâches entre la troïka et le CPO ?",
                        author="Mme Rivet Elodie",
                    ),
                ),
            ),
        ),
        questions=(
            Entry(
                "Comment développer des coopérations sans tomber dans la logique de guichet ?",
                author="Mme Rosa Charlotte",
            ),
        ),
        decisions=(
            Entry(
                "Les séances du 9 juin et du 7 juillet porteront sur la carte des "
                "compétences des CPO."
            ),
        ),
        actions=(
            ActionGroup(
                "Mme Giraldi Maïta",
                (
                    ActionLine(
                        "Mettre en ligne les ressources sur l'évaluation des cités "
                        "éducatives sur La Grande Équipe",
                        due_text="vendredi 20 mai 2022",
                        number=7,
                    ),
                    ActionLine(
                        "Diffuser la synthèse du séminaire CPO de décembre 2021",
                        carried_over=True,
                        number=3,
                        origin_text="reportée du CR n°3",
                    ),
                ),
            ),
            ActionGroup(
                "M. Poilvé Quentin",
                (
                    ActionLine(
                        "Partager le support de présentation du copil du 23 juin",
                        due_text="jeudi 30 juin 2022",
                        number=8,
                    ),
                ),
            ),
            ActionGroup(
                "Sans responsable",
                (ActionLine("Recenser les outils de cartographie des acteurs", number=9),),
            ),
        ),
        resources=(
            Resource(
                "https://gogocarto.fr/", "Gogocarto, outil de cartographie", "M. Lefort Amaury"
            ),
            Resource(
                "https://www.irev.fr/sites/default/files/atoms/files/"
                "cr_reseau_cpo_ce_06_04_2022.pdf",
                "Compte rendu de la rencontre du 6 avril 2022",
                "Mme Giraldi Maïta",
            ),
        ),
        next_meetings=(
            NextMeeting(
                "jeudi 9 juin 2022, 14h–17h",
                "en distanciel",
                "Sensibilisation aux politiques éducatives, avec Jean-Marc Berthet",
                "répondez « !inscription 5 » dans le salon",
            ),
            NextMeeting(
                "jeudi 7 juillet 2022 (journée complète)",
                "en présentiel",
                "Carte des compétences des CPO, avec Jean-Marc Berthet",
                "répondez « !inscription 6 » dans le salon",
            ),
        ),
        calendar_url="https://maillage.example/calendar/3q2-9xYk.ics",
        register_text="répondez « !inscription n » dans le salon ou réagissez ✅ à l'annonce.",
    )


# --- golden files ------------------------------------------------------------------


def _check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8", newline="\n")
    assert path.exists(), f"{path} is missing: run with UPDATE_GOLDEN=1 to create it"
    assert text == path.read_text(encoding="utf-8"), f"{name} differs from its golden file"


def test_markdown_matches_golden() -> None:
    _check_golden("cr4.md", render_markdown(cr4_view(), template_env()))


def test_html_matches_golden() -> None:
    _check_golden("cr4.html", render_html(cr4_view(), template_env()))


# --- structure -------------------------------------------------------------------------

CR4_HEADINGS = [
    "Objectif de la réunion",
    "Ordre du jour",
    "Présent·e·s",
    "Excusé·e·s",
    "Animation",
    "Météo du jour",
    "Actualité nationale",
    "Actualités du réseau régional",
    "Actualités locales",
    "Présentation et partage d'expériences",
    "Échanges",
    "Questions",
    "Décisions",
    "Actions à suivre",
    "Ressources partagées",
    "Prochaines rencontres",
]


def _md_headings(text: str, level: int = 2) -> list[str]:
    prefix = "#" * level + " "
    return [line[len(prefix) :] for line in text.splitlines() if line.startswith(prefix)]


def _html_headings(text: str, tag: str = "h2") -> list[str]:
    return [
        re.sub(r"<[^>]+>", "", h).replace("&#39;", "'")
        for h in re.findall(rf"<{tag}>(.*?)</{tag}>", text, re.DOTALL)
    ]


def _docx(view: MinutesView) -> docx.document.Document:
    return docx.Document(io.BytesIO(render_docx(view)))


def _docx_headings(document: docx.document.Document, level: int = 1) -> list[str]:
    return [p.text for p in document.paragraphs if p.style.name == f"Heading {level}"]


def test_every_format_has_the_sections_in_the_reference_order() -> None:
    view = cr4_view()
    assert [h for h in HEADINGS.values() if isinstance(h, str)] == CR4_HEADINGS[1:]
    assert _md_headings(render_markdown(view)) == CR4_HEADINGS
    assert _html_headings(render_html(view)) == CR4_HEADINGS
    assert _docx_headings(_docx(view)) == CR4_HEADINGS


def test_subsections_per_structure_and_agenda_item() -> None:
    view = cr4_view()
    expected = [s.title for s in view.local_news] + ["L'école des sports"]
    expected += [s.title for s in view.exchanges]
    assert _md_headings(render_markdown(view), 3) == expected
    assert _html_headings(render_html(view), "h3") == expected
    assert _docx_headings(_docx(view), 2) == expected


def test_header_and_people_lines() -> None:
    md_text = render_markdown(cr4_view())
    assert md_text.startswith("# Réseau régional des CPO — Compte rendu n°4\n")
    assert "Rencontre du mercredi 11 mai 2022, 10h–12h30, en distanciel\n" in md_text
    assert "- Mme De Castro Anabela (Cheffe de projet cité éducative ; CE Beauvais)\n" in md_text
    assert f"(Chef de projet cité éducative ; CE Douai) — motif{NBSP}: congés\n" in md_text
    assert f"\n**Point d'actualité{NBSP}:**\n" in md_text
    assert f"\n**Échanges et partage entre les participant·e·s{NBSP}:**\n" in md_text
    assert "(reportée du CR n°3)" in md_text
    assert "Projet — document provisoire" not in md_text


def test_plural_objectives() -> None:
    view = MinutesView(header=Header(title="Réseau"), objectives=("Un", "Deux"))
    assert _md_headings(render_markdown(view)) == ["Objectifs de la réunion"]
    assert _html_headings(render_html(view)) == ["Objectifs de la réunion"]
    assert _docx_headings(_docx(view)) == ["Objectifs de la réunion"]


def test_draft_and_version_are_shown_in_every_format() -> None:
    base = cr4_view(draft=True)
    header = dataclasses.replace(base.header, version=2, updated_text="vendredi 13 mai 2022")
    view = dataclasses.replace(base, header=header)
    version = "Version 2, mise à jour du vendredi 13 mai 2022"
    for text in (render_markdown(view), render_html(view)):
        assert "Projet — document provisoire" in text
        assert version in text
    paragraphs = [p.text for p in _docx(view).paragraphs]
    assert "Projet — document provisoire" in paragraphs
    assert version in paragraphs


def test_markdown_makes_clean_room_html() -> None:
    room = markdown_to_room_html(render_markdown(cr4_view()))
    assert _html_headings(room) == CR4_HEADINGS
    assert f'<a href="{LAGRANDEEQUIPE}">{LAGRANDEEQUIPE}</a>' in room
    assert "<li>Mme Giraldi Maïta&nbsp;: Bonne idée" in room  # reply nested in the thread
    assert "coordination.<br" in room  # a line break inside a météo answer
    used_tags = set(re.findall(r"<([a-z0-9]+)", room))
    assert used_tags == {"h1", "h2", "h3", "p", "ul", "ol", "li", "strong", "a", "br"}


def test_room_html_keeps_only_element_tags_and_web_links() -> None:
    html = markdown_to_room_html(
        "# T\n\n<div onclick=x>d</div> <img src=x> [a](javascript:alert(1)) "
        "[b](https://ok.example) <script>alert(1)</script>\n\n| a | b |\n|---|---|\n| c | d |"
    )
    assert "<script" not in html and "<img" not in html and "<div" not in html
    assert "javascript:" not in html and "onclick" not in html
    assert '<a href="https://ok.example">b</a>' in html


# --- DOCX ------------------------------------------------------------------------------


def test_docx_has_headings_lines_links_and_properties() -> None:
    document = _docx(cr4_view())
    paragraphs = [(p.style.name, p.text) for p in document.paragraphs]
    assert paragraphs[0] == ("Title", "Réseau régional des CPO — Compte rendu n°4")
    assert (
        "List Bullet",
        "Mme De Castro Anabela (Cheffe de projet cité éducative ; CE Beauvais)",
    ) in paragraphs
    reply = f"Mme Giraldi Maïta{NBSP}: Bonne idée, on pourrait partager ces outils sur La Grande Équipe."
    assert ("List Bullet 2", reply) in paragraphs
    assert ("List Bullet", "Mme Giraldi Maïta") in paragraphs  # an action owner
    external = {
        rel.rId: rel.target_ref
        for rel in document.part.rels.values()
        if rel.reltype == RELATIONSHIP_TYPE.HYPERLINK
    }
    assert ECOLE_DES_SPORTS in external.values()
    hyperlinks = document.element.body.findall(".//" + docx.oxml.ns.qn("w:hyperlink"))
    linked = {external[h.get(docx.oxml.ns.qn("r:id"))] for h in hyperlinks}
    assert linked == set(external.values())
    assert document.core_properties.title == "Réseau régional des CPO — Compte rendu n°4"
    assert document.core_properties.author == "Cités éducatives des Hauts-de-France"


# --- empty sections ------------------------------------------------------------------


def test_empty_sections_are_left_out() -> None:
    view = MinutesView(
        header=Header(title="Réseau régional des CPO", number=5, date_text="jeudi 9 juin 2022"),
        present=(Person("Mme De Castro Anabela", "Cheffe de projet cité éducative ; CE Beauvais"),),
        meteo=None,
    )
    md_text = render_markdown(view)
    html = render_html(view)
    assert _md_headings(md_text) == ["Présent·e·s"]
    assert _html_headings(html) == ["Présent·e·s"]
    assert _docx_headings(_docx(view)) == ["Présent·e·s"]
    for text in (md_text, html):
        for label in ("Météo du jour", "Point d'actualité", "Calendrier", "Version", "Lieu"):
            assert label not in text
    assert md_text.endswith("Beauvais)\n")
    assert "\n\n\n" not in md_text


# --- escaping ------------------------------------------------------------------------

HOSTILE = (
    "<script>alert(1)</script>",
    "{{ 7*7 }}",
    "{% raw %}",
    "**gras**",
    "[lien](javascript:alert(1))",
    "| a | b |",
    "# titre",
    "> citation",
    "1. liste",
    "- tiret",
    "`code`",
    "&lt;b&gt; & AT&T",
    "<img src=x onerror=alert(1)>",
    "x" * 10_000,
)


def hostile_view() -> MinutesView:
    """Every user-supplied field of the view-model filled with hostile text."""
    entries = tuple(Entry(t, author=t, url="javascript:alert(1)") for t in HOSTILE)
    people = tuple(Person(t, t, t) for t in HOSTILE)
    return MinutesView(
        header=Header(
            network_name=HOSTILE[0],
            title=HOSTILE[1],
            number=1,
            date_text=HOSTILE[2],
            place_text=HOSTILE[3],
        ),
        objectives=HOSTILE,
        agenda=HOSTILE,
        present=people,
        excused=people,
        meteo=Meteo("# synthèse {{ 7*7 }}", tuple(MeteoAnswer(t, t, t) for t in HOSTILE)),
        local_news=(Section("# titre", entries, entries),),
        experiences=(
            Experience(
                "# titre", "<script>alert(1)</script>\n# titre", "javascript:alert(1)", "{{ 7*7 }}"
            ),
        ),
        exchanges=(
            Section(
                "[lien](javascript:alert(1))",
                entries,
                (Entry("\n".join(HOSTILE), author="M. X", children=entries),),
            ),
        ),
        questions=entries,
        actions=(ActionGroup(HOSTILE[0], tuple(ActionLine(t, t, number=1) for t in HOSTILE)),),
        resources=(Resource("javascript:alert(1)", "[lien](javascript:alert(1))", "{{ 7*7 }}"),),
        next_meetings=(NextMeeting("{{ 7*7 }}", "<b>", "# titre", "**gras**"),),
        calendar_url="javascript:alert(1)",
        register_text="{% raw %}",
    )


def _text_of(html: str) -> str:
    """The text of an HTML fragment, tags removed and entities decoded."""
    return html_module.unescape(re.sub(r"<[^>]+>", "", html))


def test_markdown_escapes_user_text() -> None:
    md_text = render_markdown(hostile_view())
    assert "49" not in md_text
    assert "<script" not in md_text and "<img" not in md_text
    assert not re.search(r"(?<!\\)\]\(", md_text)  # no live link
    assert "\\[lien\\](javascript:alert(1))" in md_text
    assert "&#124; a &#124; b &#124;" in md_text
    # The only headings are the template's; "# titre" is escaped wherever it stands.
    heading_lines = [line for line in md_text.splitlines() if re.match(r"\s*#", line)]
    assert all(re.match(r"#{1,3} ", line) for line in heading_lines)
    assert [line for line in heading_lines if line.startswith("# ")] == [
        "# \\{\\{ 7\\*7 \\}\\} — Compte rendu n°1"
    ]
    assert "### \\# titre" in heading_lines
    assert "- \\# titre" in md_text


def test_markdown_of_user_text_renders_as_literal_text() -> None:
    """Through a Markdown parser, every hostile text comes out as itself, inert."""
    room = markdown_to_room_html(render_markdown(hostile_view()))
    for tag in ("<script", "<img", "<code", "<blockquote", "<table", "<em>"):
        assert tag not in room
    assert all(href.startswith("https://") for href in re.findall(r'href="([^"]*)"', room))
    assert re.findall(r"<h1>", room) == ["<h1>"]
    assert _html_headings(room, "h3") == ["# titre", "# titre", "[lien](javascript:alert(1))"]
    text = _text_of(room)
    for hostile in HOSTILE:
        assert hostile in text
    assert "49" not in text


def test_html_escapes_user_text() -> None:
    html = render_html(hostile_view())
    body = html.split("<body>")[1]
    assert "<script" not in html and "<img" not in html
    assert "javascript:" not in "".join(re.findall(r'href="([^"]*)"', html))
    assert "{{ 7*7 }}" in body and "49" not in body
    assert "{% raw %}" in body
    text = _text_of(body)
    for hostile in HOSTILE:
        assert hostile in text


def test_docx_keeps_user_text_literal() -> None:
    document = _docx(hostile_view())
    text = "\n".join(p.text for p in document.paragraphs)
    for hostile in HOSTILE:
        assert hostile in text
    assert "49" not in text
    assert not [r for r in document.part.rels.values() if r.reltype == RELATIONSHIP_TYPE.HYPERLINK]


def test_md_filters() -> None:
    assert md("ligne 1\n\n  # ligne 2", 2) == "ligne 1  \n  \\# ligne 2"
    assert md("snake_case et _gras_") == "snake_case et \\_gras\\_"
    assert md("12. décembre\n3) trois\n=== \n+ plus") == (
        "12\\. décembre  \n3\\) trois  \n&#61;==  \n\\+ plus"
    )
    assert (
        md_link("site", "https://exemple.fr/a(b)<c>")
        == "[site](https://exemple.fr/a%28b%29%3Cc%3E)"
    )
    assert md_link("site", "https://exemple.fr/a b") == "site"  # not a URL: spaces
    assert md_link("https://exemple.fr/a_b", "https://exemple.fr/a_b") == "<https://exemple.fr/a_b>"
    assert md_link("lien", "javascript:alert(1)") == "lien"
    assert md_link("", "ftp://exemple.fr") == "ftp://exemple.fr"
    assert md_link("x", "https:///nohost") == "x"


# --- templates ---------------------------------------------------------------------------


def test_override_directory_replaces_a_template_by_name(tmp_path: Path) -> None:
    (tmp_path / "minutes.md.j2").write_text(
        "Personnalisé : {{ view.header.title | md_line }} n°{{ view.header.number }}\n",
        encoding="utf-8",
    )
    env = template_env(tmp_path)
    assert render_markdown(cr4_view(), env) == "Personnalisé : Réseau régional des CPO n°4\n"
    assert render_html(cr4_view(), env) == render_html(cr4_view())  # not overridden


def test_override_templates_are_sandboxed(tmp_path: Path) -> None:
    (tmp_path / "minutes.md.j2").write_text(
        "{{ view.__class__.__init__.__globals__ }}", encoding="utf-8"
    )
    with pytest.raises(SecurityError):
        render_markdown(cr4_view(), template_env(tmp_path))


def test_undefined_fields_fail_loudly(tmp_path: Path) -> None:
    (tmp_path / "minutes.md.j2").write_text("{{ view.header.nope }}", encoding="utf-8")
    with pytest.raises(UndefinedError):
        render_markdown(cr4_view(), template_env(tmp_path))
