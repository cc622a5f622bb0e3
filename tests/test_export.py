"""``maillage export``: the minutes of a séance written to a file, offline, from the database."""

from __future__ import annotations

import io
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import docx
import pytest

from bot.minutes.export import ExportError, export_minutes, export_to_file
from bot.storage.db import Database
from bot.storage.models import Publication
from bot.support.config import load_config
from tests.pdfcheck import pdf_text
from tests.test_minutes_build import END, ROOM, START, close, cr4_database, open_seance

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def setup(tmp_path):
    """A config file and its database holding the séances of CR 3 and CR 4."""
    path = tmp_path / "config.toml"
    path.write_text(f"""
[matrix]
homeserver = "http://127.0.0.1:1"
user_id = "@maillage:localhost"
password = "secret-for-tests"

[database]
url = "sqlite:///{tmp_path / 'data' / 'maillage.db'}"
""", encoding="utf-8")
    config = load_config(path)
    database = Database(config.database.url)
    database.upgrade()
    with database.session() as session:
        cr4_database(session)
    database.dispose()
    return path, config


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bot.ops.cli", "export", *args], cwd=ROOT, check=False,
                          capture_output=True, text=True, timeout=60)


def test_cli_writes_each_format(setup, tmp_path):
    path, _config = setup
    for fmt in ("md", "html", "docx", "pdf"):
        output = tmp_path / f"cr4.{fmt}"
        result = cli("-c", str(path), "--room", ROOM, "--rencontre", "4", "--format", fmt, "-o", str(output))
        assert result.returncode == 0, result.stderr
        assert str(output) in result.stdout
    markdown = (tmp_path / "cr4.md").read_text(encoding="utf-8")
    assert markdown.startswith("# Réseau régional des CPO — Compte rendu n°4\n")
    assert "- Mme De Castro Anabela (Cheffe de projet cité éducative ; CE Beauvais)" in markdown
    assert "Projet" not in markdown  # the séance is closed
    assert "### Actualités de la cité éducative de Soissons" in markdown
    html = (tmp_path / "cr4.html").read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and "<h2>Météo du jour</h2>" in html
    document = docx.Document(io.BytesIO((tmp_path / "cr4.docx").read_bytes()))
    assert document.paragraphs[0].text == "Réseau régional des CPO — Compte rendu n°4"
    pdf = pdf_text((tmp_path / "cr4.pdf").read_bytes())
    assert "Réseau régional des CPO — Compte rendu n°4" in pdf and "Météo du jour" in pdf


def test_cli_refuses_an_alias_and_an_unknown_rencontre(setup, tmp_path):
    path, _config = setup
    output = tmp_path / "x.md"
    alias = cli("-c", str(path), "--room", "#cpo:localhost", "--rencontre", "4", "-o", str(output))
    assert alias.returncode == 1 and "aliases cannot be resolved offline" in alias.stderr
    unknown = cli("-c", str(path), "--room", ROOM, "--rencontre", "42", "-o", str(output))
    assert unknown.returncode == 1 and "no séance for rencontre #42" in unknown.stderr
    assert not output.exists()
    both = cli("-c", str(path), "--room", ROOM, "--rencontre", "4", "--seance", "4", "-o", str(output))
    assert both.returncode == 2 and "not allowed with" in both.stderr
    assert "room id" in cli("--help").stdout


def test_seance_number_and_format_from_the_suffix(setup, tmp_path):
    _path, config = setup
    by_rencontre = export_minutes(config, ROOM, "md", rencontre=4)
    assert export_minutes(config, ROOM, "md", seance=4) == by_rencontre
    assert b"Compte rendu n\xc2\xb03" in export_minutes(config, ROOM, "md", seance=3)
    written = export_to_file(config, ROOM, None, tmp_path / "cr.docx", seance=4)
    assert written.read_bytes()[:2] == b"PK"  # a zip: the Word document
    assert export_to_file(config, ROOM, None, tmp_path / "cr.txt", seance=4).read_bytes() == by_rencontre


def test_adhoc_and_open_seances(setup):
    _path, config = setup
    database = Database(config.database.url)
    with database.session() as session:
        s = open_seance(session, 5, START + timedelta(days=1), title="Séance improvisée")
        s.attend("@maita:localhost", "@anabela:localhost")
        s.say("@anabela:localhost", "Un échange hors rencontre")
    markdown = export_minutes(config, ROOM, "md", seance=5).decode()
    assert "# Séance improvisée — Compte rendu n°5" in markdown
    assert "**Projet — document provisoire**" in markdown  # still open
    assert "Mme De Castro Anabela\u00a0: Un échange hors rencontre" in markdown
    with database.session() as session:
        close(s, END + timedelta(days=1))
        session.add(s.seance)
    assert "Projet" not in export_minutes(config, ROOM, "md", seance=5).decode()
    database.dispose()


def test_the_export_carries_the_latest_published_version(setup):
    _path, config = setup
    database = Database(config.database.url)
    with database.session() as session:
        for version in (1, 2):
            session.add(Publication(seance_id=2, version=version, published_at=END + timedelta(days=version),
                                    markdown="", html="", docx=b""))
    markdown = export_minutes(config, ROOM, "md", rencontre=4).decode()
    assert "*Version 2, mise à jour du vendredi 13 mai 2022*" in markdown
    database.dispose()


def test_offline_names_come_from_profiles(setup):
    _path, config = setup
    markdown = export_minutes(config, ROOM, "md", rencontre=4).decode()
    # No room state offline: the opener is the facilitator known; Florian is listed as present.
    animation = markdown.split("## Animation")[1].split("##")[0]
    assert "Mme Giraldi Maïta" in animation and "Desquin" not in animation
    assert "- M. Desquin Florian (Chargé de mission stagiaire ; IREV)" in markdown


def test_missing_or_outdated_database(tmp_path, setup):
    _path, config = setup
    from dataclasses import replace

    from bot.support.config import DatabaseConfig

    missing = replace(config, database=DatabaseConfig(url=f"sqlite:///{tmp_path / 'nope.db'}"))
    with pytest.raises(ExportError, match="no database at"):
        export_minutes(missing, ROOM, "md", rencontre=4)
    assert not (tmp_path / "nope.db").exists()
    empty_path = tmp_path / "empty.db"
    Database(f"sqlite:///{empty_path}").engine.connect().close()
    empty = replace(config, database=DatabaseConfig(url=f"sqlite:///{empty_path}"))
    with pytest.raises(ExportError, match="maillage db upgrade"):
        export_minutes(empty, ROOM, "md", rencontre=4)
