"""Start-up stays light: the running bot imports Alembic only when a migration is
pending, and the minutes/DOCX/ICS stacks and dateparser on first use (issue 11: the
start-up to "logged in" is compared with a bare matrix-nio bot, bench/catchup.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from alembic.script import ScriptDirectory

from bot.storage.db import MIGRATIONS_DIR, Database, head_revision, known_revisions

ROOT = Path(__file__).resolve().parent.parent
LAZY = ("alembic", "docx", "lxml", "dateparser", "matplotlib", "weasyprint", "icalendar")


# Imported by the worker thread while the bot logs in (bot.app.runtime), never before.
DATABASE_STACK = ("sqlalchemy", "sqlmodel", "bot.storage", "bot.engine.core", "commands", "bot.services",
                  "bot.app.wiring")


def imported_after(code: str, modules: tuple[str, ...] = LAZY) -> list[str]:
    """The ``modules`` a fresh interpreter has imported after running ``code``."""
    probe = f"{code}\nimport sys\nprint(' '.join(m for m in {modules!r} if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True,
                            text=True, check=True)
    return result.stdout.split()


def test_the_running_bot_imports_no_heavy_stack():
    assert imported_after("import bot.ops.cli, bot.app.runtime, bot.engine.core") == []


def test_logging_in_imports_nothing_of_the_database_stack(tmp_path):
    """``maillage run`` up to the login: the command line and the runtime with its
    Matrix client; SQLAlchemy, the models and the commands load meanwhile in a thread."""
    raw = {"matrix": {"homeserver": "http://127.0.0.1:1", "user_id": "@maillage:localhost",
                      "password": "secret-for-tests", "store_path": str(tmp_path / "store")}}
    code = ("import bot.ops.cli, bot.app.runtime\nfrom bot.support.config import parse_config\n"
            f"bot.app.runtime.Runtime(parse_config({raw!r}, env={{}}))")
    assert imported_after(code, DATABASE_STACK) == []


def test_an_up_to_date_database_is_checked_without_alembic(tmp_path):
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    Database(url).upgrade()
    code = (f"from bot.storage.db import Database\nbefore, after = Database({url!r}).upgrade()\n"
            "assert before == after, (before, after)")
    assert imported_after(code) == []
    assert "alembic" in imported_after(f"from bot.storage.db import Database\n"
                                       f"Database('sqlite:///{tmp_path / 'new.db'}').upgrade()")


def test_the_head_read_from_the_files_is_alembics():
    scripts = ScriptDirectory(str(MIGRATIONS_DIR))
    assert head_revision() == scripts.get_current_head()
    assert known_revisions() == {s.revision: s.down_revision for s in scripts.walk_revisions()}
