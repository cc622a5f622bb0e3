"""The one wiring point (``bot/app/wiring.py``): every module of ``commands/`` is discovered
and builds the registry the core is given; nothing registers by being imported; a module
that declares no command stops the start-up, naming it, before any login."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import commands
from bot.app.wiring import build_registry, command_modules
from bot.engine import registry as registry_module
from bot.engine.context import Context
from bot.engine.registry import DuplicateCommandWord, NoCommandDeclared, Registry
from bot.ops.cli import EXIT_COMMANDS
from bot.support.signals import rencontre_changed, seance_closed
from tests.conftest import NOW
from tests.test_cli import write_config

ROOT = Path(__file__).resolve().parent.parent

# A command module as a newcomer might leave it: helpers and a listener, no command.
NO_COMMAND = '''"""Brouillon : rien n'y est encore déclaré comme commande."""

from bot.engine.registry import listen


def aide_interne(ctx, args):
    ctx.reply("jamais appelée")


@listen("message")
def ecoute(ctx, message):
    pass
'''


def extra_module(request, monkeypatch, tmp_path: Path, name: str, source: str) -> None:
    """``commands/<name>.py`` for this test only: a file in a folder the ``commands``
    package searches (its ``__path__``), found by the wiring like the others; the
    imported module is forgotten after the test."""
    folder = tmp_path / "extra_commands"
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.py").write_text(source, encoding="utf-8")
    monkeypatch.setattr(commands, "__path__", [*commands.__path__, str(folder)])

    def forget() -> None:
        sys.modules.pop(f"commands.{name}", None)
        vars(commands).pop(name, None)

    forget()
    request.addfinalizer(forget)


@pytest.mark.parametrize("module", command_modules(), ids=lambda module: module.__name__)
def test_every_command_module_declares_at_least_one_command(module):
    assert Registry().load(module) >= 1


def test_every_file_of_the_commands_folder_is_discovered():
    files = {path.stem for path in Path(commands.__file__).parent.glob("*.py")} - {"__init__"}
    assert {module.__name__.removeprefix("commands.") for module in command_modules()} == files


def test_importing_the_commands_registers_nothing():
    """No registry exists until one is built; each build is a new one."""
    assert not hasattr(registry_module, "REGISTRY") and not hasattr(commands, "REGISTRY")
    first, second = build_registry(), build_registry()
    first.add_listener("message", print)
    assert print not in second.listeners["message"]
    assert first.find("aide") is not second.find("aide")


def test_signal_receivers_are_those_of_the_context_s_registry(make_ctx, registry):
    """The calendar's invites and the draft minutes are connected by the wiring; a
    Context on an empty registry sends a signal to nobody."""
    from commands.calendrier import deliver
    from commands.cr import draft_on_close

    assert registry.receivers_of(rencontre_changed) == [deliver]
    assert registry.receivers_of(seance_closed) == [draft_on_close]
    bare = make_ctx()
    bare = Context(config=bare.config, session=bare.session, room=bare.room, sender=bare.sender,
                   event_id="$bare", now=NOW, registry=Registry())
    seance_closed.send(bare, None)   # the draft minutes would fail on None: nobody runs
    assert bare.outgoing == []


def test_help_keeps_listing_command_modules_after_those_they_use(registry):
    """``bilan`` uses ``cr``, ``rencontres`` uses ``sondage``: as when they were imported
    in turn, the used module's commands come first in ``!aide``."""
    names = [command.name for command in registry.commands]
    assert names.index("cr") < names.index("bilan")
    assert names.index("sondage") < names.index("rencontre")
    assert names.index("actions") == 0


def test_a_module_declaring_no_command_stops_the_build_naming_it(request, monkeypatch, tmp_path):
    extra_module(request, monkeypatch, tmp_path, "brouillon", NO_COMMAND)
    with pytest.raises(NoCommandDeclared, match=r"commands\.brouillon declares no command"):
        build_registry()


TAKEN_WORD = '''"""A second !meteo, under an accented alias that the first one already answers."""

from bot.engine.registry import command


@command("humeur", aliases=("Météo",), usage="humeur", help="une autre météo")
def humeur(ctx, args):
    ctx.reply("?")
'''


def test_a_module_taking_another_commands_word_stops_the_build_naming_both(
        request, monkeypatch, tmp_path):
    extra_module(request, monkeypatch, tmp_path, "humeur", TAKEN_WORD)
    with pytest.raises(DuplicateCommandWord) as refused:
        build_registry()
    message = str(refused.value)
    assert refused.value.word.casefold() in ("météo", "meteo")
    assert "commands.humeur (!humeur)" in message and "commands.items (!meteo)" in message


@pytest.mark.parametrize("command", ["run", "check"])
def test_run_and_check_exit_naming_the_module_before_any_login(tmp_path, command):
    """In a new process whose ``commands`` package has one more file, declaring nothing:
    a clear message and EXIT_COMMANDS. The homeserver is unreachable: had the bot tried
    to log in, ``run`` would wait for it and time out."""
    folder = tmp_path / "extra_commands"
    folder.mkdir()
    (folder / "brouillon.py").write_text(NO_COMMAND, encoding="utf-8")
    config = write_config(tmp_path, tmp_path / "maillage.db")
    script = (f"import commands; commands.__path__.append({str(folder)!r}); "
              f"from bot.ops.cli import main; raise SystemExit(main([{command!r}, '-c', {str(config)!r}]))")
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == EXIT_COMMANDS
    assert "commands error: the command module commands.brouillon declares no command" in result.stderr
    assert "Traceback" not in result.stderr and "login" not in result.stdout + result.stderr
