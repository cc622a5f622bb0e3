"""The minutes built from a hand-written record: no database, only plain frozen data.

`bot.minutes.build.build` turns a `SeanceRecord` (what `bot.minutes.load` reads) into
the view-model; here the record is written by hand, as a test of the pure step, and
the builder's module is checked not to reach for the database.
"""

from __future__ import annotations

import ast
import dataclasses
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.domain.dates import When
from bot.domain.meteo import MeteoSummary
from bot.minutes import build as build_module
from bot.minutes.build import Version, build
from bot.minutes.charts import SeancePoint
from bot.minutes.record import (
    AttendanceRecord,
    CarriedAction,
    ItemRecord,
    NextRencontre,
    PersonRecord,
    RencontreRecord,
    SeanceRecord,
    TopicRecord,
)
from bot.minutes.render import render_markdown
from bot.minutes.summary import section_sizes

ROOT = Path(__file__).resolve().parent.parent
PARIS = ZoneInfo("Europe/Paris")
OPENED = datetime(2022, 6, 9, 12, 2, tzinfo=UTC)      # 14h02 in Paris
CLOSED = datetime(2022, 6, 9, 15, 5, tzinfo=UTC)
NOW = datetime(2022, 6, 10, 8, 0, tzinfo=UTC)

MAITA, QUENTIN, ANABELA, NICOLAS, GUILLAUME = (
    "@maita:localhost", "@quentin:localhost", "@anabela:localhost", "@nicolas:localhost",
    "@guillaume:localhost")
PEOPLE = (
    PersonRecord(MAITA, "Mme Giraldi Maïta", "Chargée de mission ; IREV", "IREV"),
    PersonRecord(QUENTIN, "M. Poilvé Quentin", "Chef de projet ; CE Soissons", "CE Soissons"),
    PersonRecord(ANABELA, "Mme De Castro Anabela", "Cheffe de projet ; CE Beauvais", "CE Beauvais"),
    PersonRecord(NICOLAS, "M. Labre Nicolas", "", "CE Arras"),
    PersonRecord(GUILLAUME, "M. Chapron Guillaume", "Chef de projet ; CE Douai", "CE Douai"),
)


def item(number: int, kind: str, sender: str, text: str, minute: int, **fields) -> ItemRecord:
    created = fields.pop("created_at", OPENED.replace(minute=minute))
    return ItemRecord(id=number, event_id=f"$e{number}", kind=kind, sender=sender,
                      created_at=created, text=text, **fields)


ITEMS = (
    item(1, "meteo", QUENTIN, "Bonne dynamique", 5, mood=5),
    item(2, "meteo", ANABELA, "Beaucoup de dossiers", 6, mood=4),
    item(3, "actu_locale", QUENTIN, "Fête de quartier le 18 juin", 10, structure="CE Soissons"),
    item(4, "discussion", ANABELA, "Bravo, on viendra !", 11, parent_event_id="$e3", topic_id=1),
    item(5, "info", MAITA, "Le COPIL est reporté", 20, topic_id=1),
    item(6, "action", NICOLAS, "Envoyer la plaquette", 30, owner=ANABELA, action_number=7,
         due_date=date(2022, 6, 30)),
    item(7, "decision", MAITA, "Prochaine séance en présentiel", 40),
    item(8, "ressource", NICOLAS, "La plaquette de l'école des sports", 41,
         url="https://arras.example/plaquette.pdf"),
)
CARRIED = (
    CarriedAction(item(20, "action", MAITA, "Relancer la DDETS", 0, owner="Équipe IREV",
                       action_number=3, created_at=datetime(2022, 5, 11, 9, 0, tzinfo=UTC)), 4),
    CarriedAction(item(21, "action", MAITA, "Réserver la salle", 0, owner=MAITA, action_number=4,
                       created_at=datetime(2022, 5, 11, 9, 5, tzinfo=UTC),
                       done_at=datetime(2022, 6, 9, 13, 0, tzinfo=UTC)), 4),   # done during n°5
)
HISTORY = (SeancePoint(4, "11/05/2022", {4: 2}, 3, 1, 2),
           SeancePoint(5, "09/06/2022", {5: 1, 4: 1}, 3, 1, 2, current=True))


def record(**changes) -> SeanceRecord:
    """The fifth séance of the CPO network, as the loader would read it."""
    base = SeanceRecord(
        room_id="!cpo:localhost", number=5, title="Séance du 9 juin", opened_at=OPENED,
        closed_at=CLOSED, timezone="Europe/Paris",
        network_name="Cités éducatives des Hauts-de-France",
        rencontre=RencontreRecord("Réseau régional des CPO", "distanciel", "", "Échanger\nAvancer",
                                  ("Tour d'écran", " ", "Perspectives")),
        planned=When(datetime(2022, 6, 9, 14, 0, tzinfo=PARIS), datetime(2022, 6, 9, 17, 0, tzinfo=PARIS),
                     False),
        topics=(TopicRecord(1, "Tour d'écran"),),
        items=ITEMS,
        carried=CARRIED,
        people=PEOPLE,
        attendance=AttendanceRecord(present=(QUENTIN, NICOLAS, ANABELA), excused=(GUILLAUME,),
                                    facilitators=(MAITA,), reasons=((GUILLAUME, "congés"),)),
        meteo=MeteoSummary(2, {1: 0, 2: 0, 3: 0, 4: 1, 5: 1}, 4.5, 4.0, "en hausse"),
        next_rencontres=(NextRencontre(When(datetime(2022, 9, 15, 14, 0, tzinfo=PARIS),
                                            datetime(2022, 9, 15, 16, 0, tzinfo=PARIS), False),
                                       6, "Rentrée du réseau", "presentiel"),),
        first_fiches=(("CE Soissons", (("Chef de projet", "Quentin Poilvé"),)),),
        calendar_url="https://maillage.example/calendar/abc.ics",
        last_version=1,
        unreadable=2,
        history=HISTORY,
    )
    return dataclasses.replace(base, **changes)


def test_the_record_is_frozen_plain_data():
    with pytest.raises(dataclasses.FrozenInstanceError):
        record().number = 6  # type: ignore[misc]


def test_the_records_mappings_are_read_only_copies():
    given = {4: 1, 5: 1}
    summary, point = MeteoSummary(2, given, 4.5, None, None), SeancePoint(5, "09/06/2022", given)
    given[3] = 7                    # the records took a copy
    for mapping in (summary.distribution, point.moods, record().meteo.distribution,
                    record().history[0].moods):
        with pytest.raises(TypeError):
            mapping[1] = 9          # type: ignore[index]
    assert summary.distribution == point.moods == {4: 1, 5: 1}


def test_header_and_people_from_the_record(config):
    view = build(record(), config, NOW, draft=False)
    h = view.header
    assert (h.title, h.number, h.date_text, h.hours_text, h.mode_text) == (
        "Réseau régional des CPO", 5, "jeudi 9 juin 2022", "14h–17h", "en distanciel")
    assert (h.version, h.updated_text, h.draft) == (2, "vendredi 10 juin 2022", False)
    assert h.network_name == "Cités éducatives des Hauts-de-France"
    assert view.objectives == ("Échanger", "Avancer")
    assert view.agenda == ("Tour d'écran", "Perspectives")
    assert [p.name for p in view.present] == ["Mme De Castro Anabela", "M. Labre Nicolas",
                                              "M. Poilvé Quentin"]
    assert [(p.name, p.note) for p in view.excused] == [("M. Chapron Guillaume", "congés")]
    assert [(p.name, p.details) for p in view.facilitators] == [("Mme Giraldi Maïta",
                                                                 "Chargée de mission ; IREV")]


def test_figures_and_sections_from_the_record(config):
    view = build(record(), config, NOW, draft=False)
    assert view.meteo is not None
    assert view.meteo.synthesis == ("2 participant·e·s sur 4 ont répondu ; humeurs de 4/5 à 5/5 "
                                    "(☀️ 1, 🌤️ 1), moyenne 4,5/5, en hausse par rapport à la "
                                    "séance précédente (4,0/5).")
    assert [(a.person, a.mood) for a in view.meteo.answers] == [("M. Poilvé Quentin", "☀️ 5/5"),
                                                                ("Mme De Castro Anabela", "🌤️ 4/5")]
    [local] = view.local_news
    assert local.title == "Actualités de la cité éducative de Soissons"
    assert local.fiche == (("Chef de projet", "Quentin Poilvé"),)
    assert [(e.text, e.author) for e in local.discussion] == [("Bravo, on viendra !",
                                                               "Mme De Castro Anabela")]
    [exchange] = view.exchanges
    assert (exchange.title, [e.text for e in exchange.entries]) == ("Tour d'écran",
                                                                   ["Le COPIL est reporté"])
    assert [(g.owner, [(a.text, a.due_text, a.origin_text) for a in g.actions]) for g in view.actions] == [
        ("Mme De Castro Anabela", [("Envoyer la plaquette", "jeudi 30 juin 2022", "")]),
        ("Équipe IREV", [("Relancer la DDETS", "", "reportée du CR n°4")]),
    ]
    assert [d.text for d in view.decisions] == ["Prochaine séance en présentiel"]
    assert [(r.url, r.shared_by) for r in view.resources] == [("https://arras.example/plaquette.pdf",
                                                               "M. Labre Nicolas")]
    [meeting] = view.next_meetings
    assert (meeting.title, meeting.mode_text, meeting.register_text) == (
        "Rentrée du réseau", "en présentiel", "répondez « !inscription 6 » dans le salon")
    assert view.calendar_url == "https://maillage.example/calendar/abc.ics"
    assert view.unreadable_note.startswith("⚠️ 2 messages chiffrés n'ont pas pu être déchiffrés")
    assert view.history == HISTORY


def test_a_draft_has_no_history_and_an_open_seance_ends_now(config):
    later = datetime(2022, 6, 9, 12, 30, tzinfo=UTC)   # before the carried action was done
    view = build(record(closed_at=None), config, later, draft=True, version=Version(1))
    assert view.history == () and view.header.draft and view.header.version == 1
    assert [a.text for g in view.actions for a in g.actions] == [
        "Envoyer la plaquette", "Relancer la DDETS", "Réserver la salle"]


def test_without_people_nor_rencontre_the_ids_and_the_seance_own_times_show(config):
    view = build(record(people=(), rencontre=None, planned=None, meteo=None, first_fiches=()),
                 config, NOW, draft=True)
    assert view.header.title == "Séance du 9 juin"
    assert view.header.hours_text == "14h02–17h05"
    assert view.present[0].name == ANABELA   # no profile, no room state: the user id
    assert view.meteo is not None and view.meteo.synthesis == ""
    assert view.local_news[0].fiche == ()


def test_markdown_of_the_record(config):
    view = build(record(), config, NOW, draft=False)
    markdown = render_markdown(view)
    for text in ("Réseau régional des CPO", "Météo du jour", "M. Poilvé Quentin",
                 "Actualités de la cité éducative de Soissons", "Fête de quartier le 18 juin",
                 "reportée du CR n°4", "Rentrée du réseau", "2 messages chiffrés"):
        assert text in markdown, text
    assert ("Météo du jour", "2 réponses") in section_sizes(view)


# --- the build step reads no database ---------------------------------------------------------

FORBIDDEN = ("sqlmodel", "sqlalchemy", "bot.storage.db")


def _imports(path: Path) -> list[tuple[str, tuple[str, ...]]]:
    """(module, names) of every import of the file, lazy ones included."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, ()) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append((node.module, tuple(alias.name for alias in node.names)))
    return found


@pytest.mark.parametrize("module", ["build", "record", "view", "render", "docx", "summary", "pdf", "charts"])
def test_build_and_render_modules_import_no_database(module):
    """The pure steps import neither the ORM nor the database; of the models, the builder
    may only take the item kinds' names (plain strings)."""
    for name, names in _imports(ROOT / "bot" / "minutes" / f"{module}.py"):
        assert not any(name == f or name.startswith(f + ".") for f in FORBIDDEN), (module, name)
        if name == "bot.storage.models":
            assert names == ("ItemKind",), (module, names)


def test_the_builder_takes_no_session():
    source = Path(build_module.__file__).read_text()
    tree = ast.parse(source)
    params = {arg.arg for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)
              for arg in (*node.args.args, *node.args.kwonlyargs)}
    assert "session" not in params and "Session" not in source
