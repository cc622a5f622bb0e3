"""The ``maillage`` command line: a database that cannot be opened is named, without a
traceback, and the exit code is the database one (3), for ``run`` as for ``check``;
``run`` starts without garbage collection and turns it back on once ready."""

from __future__ import annotations

import asyncio
import gc
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from bot.ops import cli
from bot.ops.cli import EXIT_DATABASE

ROOT = Path(__file__).resolve().parent.parent


def write_config(tmp_path: Path, database: Path) -> Path:
    """A valid configuration whose homeserver is never reached: the database comes first."""
    path = tmp_path / "config.toml"
    path.write_text(f"""
[matrix]
homeserver = "http://127.0.0.1:1"
user_id = "@maillage:localhost"
password = "secret-for-tests"
store_path = "{tmp_path / 'store'}"

[database]
url = "sqlite:///{database}"
""", encoding="utf-8")
    return path


@pytest.mark.parametrize("command", ["run", "check", "db upgrade"])
def test_an_uncreatable_database_is_named_without_a_traceback(tmp_path, command):
    # Under a regular file, no folder can be created, not even by root (tests run as root).
    (tmp_path / "afile").write_text("not a folder")
    database = tmp_path / "afile" / "sub" / "maillage.db"
    config = write_config(tmp_path, database)
    words = command.split()
    result = subprocess.run([sys.executable, "-m", "bot.ops.cli", *words[:1], *words[1:], "-c", str(config)],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == EXIT_DATABASE
    assert str(database) in result.stderr and "Not a directory" in result.stderr
    assert "Traceback" not in result.stderr and "sqlalche.me" not in result.stderr


def test_an_unopenable_database_file_gives_sqlite_s_reason(tmp_path):
    database = tmp_path / "maillage.db"
    database.mkdir()   # a folder where the file should be: SQLite cannot open it
    config = write_config(tmp_path, database)
    result = subprocess.run([sys.executable, "-m", "bot.ops.cli", "run", "-c", str(config)],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == EXIT_DATABASE
    assert str(database) in result.stderr and "unable to open database file" in result.stderr
    assert "Traceback" not in result.stderr


async def test_garbage_collection_comes_back_once_the_first_batch_is_handled(monkeypatch):
    runtime = SimpleNamespace(ready=asyncio.Event())
    gc.disable()   # as cmd_run does for the start-up
    try:
        collector = asyncio.create_task(cli._collect_once_ready(runtime))
        await asyncio.sleep(0.05)
        assert not gc.isenabled()
        runtime.ready.set()            # the first sync batch handled
        await asyncio.wait_for(collector, 5)
        assert gc.isenabled()
        gc.disable()
        monkeypatch.setattr(cli, "START_WITHOUT_GC_SECONDS", 0.05)   # never ready
        await asyncio.wait_for(cli._collect_once_ready(SimpleNamespace(ready=asyncio.Event())), 5)
        assert gc.isenabled()
    finally:
        gc.enable()
