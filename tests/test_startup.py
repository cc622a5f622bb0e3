"""Start-up stays light: the running bot imports Alembic only when a migration is
pending, and the minutes/DOCX stacks and dateparser on first use (issue 11: the
start-up to "logged in" is compared with a bare matrix-nio bot, bench/catchup.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from alembic.script import ScriptDirectory

from bot.storage.db import MIGRATIONS_DIR, Database, head_revision, known_revisions

ROOT = Path(__file__).resolve().parent.parent
LAZY = ("alembic", "docx", "lxml", "dateparser", "matplotlib", "weasyprint")


def imported_after(code: str) -> list[str]:
    """The LAZY modules a fresh interpreter has imported after running ``code``."""
    probe = f"{code}\nimport sys\nprint(' '.join(m for m in {LAZY!r} if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True,
                            text=True, check=True)
    return result.stdout.split()


def test_the_running_bot_imports_no_heavy_stack():
    assert imported_after("import bot.ops.cli, bot.app.runtime, bot.engine.core") == []


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
