"""Commands talk to the domain, not to SQL; the Context they get is frozen.

Checked on the source (AST) of every module in ``commands/``: no SQLModel or SQLAlchemy
import, no ``.session`` (the domain's name of the transaction) nor ``.outgoing`` (a
command records what it sends through the Context's methods), no row built from a
``bot.storage.models`` class nor any attribute set (``poll.status = …``: a change is a
domain function), and the
transaction (``ctx.tx``) only ever handed to a function, never used directly
(``ctx.tx.add(...)``, ``ctx.tx.exec(...)``). What a command reads or writes is a named
function of ``bot.domain`` or ``bot.calendar``. Nor does a command catch a user error
(``UserError``, ``UsageError``): the engine alone turns it into the reply.
"""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest

from bot.engine.context import Context
from tests.conftest import MEMBER, NOW, ROOM

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = ROOT / "commands"
SQL_PACKAGES = ("sqlmodel", "sqlalchemy")
MODELS = "bot.storage.models"
USER_ERRORS = {"UserError", "UsageError"}

# Modules still talking to SQL (owned by the minutes work of issue 10); each must still
# break the rule — remove it from here once it does not.
REMAINING: set[str] = set()


def _parents(tree: ast.AST) -> dict[ast.AST, ast.AST]:
    return {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}


def _model_names(tree: ast.AST) -> set[str]:
    """Names the module imports from ``bot.storage.models``."""
    return {alias.asname or alias.name for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module == MODELS for alias in node.names}


def violations(source: str) -> list[str]:
    """What, in a commands module's source, talks to the database itself."""
    tree = ast.parse(source)
    parents, models, found = _parents(tree), _model_names(tree), []
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Import):
            found += [f"{line}: import {a.name}" for a in node.names
                      if a.name.split(".")[0] in SQL_PACKAGES]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in SQL_PACKAGES:
            found.append(f"{line}: from {node.module} import …")
        elif isinstance(node, ast.Attribute) and node.attr in ("session", "outgoing"):
            found.append(f"{line}: .{node.attr}")
        elif (isinstance(node, ast.Attribute) and node.attr == "tx"
              and not _handed_over(node, parents)):
            found.append(f"{line}: .tx used directly")
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
              and node.func.id in models):
            found.append(f"{line}: builds a {node.func.id} row")
        elif isinstance(node, ast.ExceptHandler) and _catches_user_error(node):
            found.append(f"{line}: catches a user error")
        elif isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            found += [f"{line}: sets .{t.attr}" for target in targets
                      for t in ast.walk(target) if isinstance(t, ast.Attribute)]
    return found


def _catches_user_error(handler: ast.ExceptHandler) -> bool:
    """``except UserError``, ``except (ValueError, errors.UsageError)``…"""
    caught = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any(getattr(name, "id", getattr(name, "attr", None)) in USER_ERRORS for name in caught)


def _handed_over(node: ast.Attribute, parents: dict[ast.AST, ast.AST]) -> bool:
    """``f(ctx.tx, …)`` or ``f(session=ctx.tx)``: given to a function, nothing else."""
    parent = parents.get(node)
    if isinstance(parent, ast.keyword):
        parent = parents.get(parent)
        return isinstance(parent, ast.Call)
    return isinstance(parent, ast.Call) and node in parent.args


def modules() -> list[Path]:
    return sorted(COMMANDS.glob("*.py"))


@pytest.mark.parametrize("path", modules(), ids=lambda p: p.name)
def test_commands_call_the_domain_not_sql(path):
    found = violations(path.read_text())
    if path.name in REMAINING:
        assert found, f"{path.name} no longer talks to SQL: remove it from REMAINING"
    else:
        assert found == []


@pytest.mark.parametrize("source, caught", [
    ("from sqlmodel import select", True),
    ("import sqlalchemy.orm", True),
    ("def f(ctx):\n    ctx.session.add(x)", True),
    ("def f(ctx):\n    return domain.by_number(ctx.session, ctx.room_id, 4)", True),
    ("def f(ctx):\n    ctx.outgoing.append(x)", True),
    ("def f(ctx):\n    return ctx.tx.get(Room, 1)", True),
    ("def f(ctx):\n    s = ctx.tx", True),
    ("from bot.storage.models import Topic\nTopic(title='x')", True),
    ("from bot.storage.models import RsvpStatus\nx = RsvpStatus.REGISTERED", False),
    ("def f(item, now):\n    item.done_at = now", True),
    ("def f(room):\n    room.a, room.b = None, 1", True),
    ("def f(topic):\n    topic.position += 1", True),
    ("def f(ctx):\n    return domain.by_number(ctx.tx, ctx.room_id, 4)", False),
    ("def f(ctx):\n    return domain.find(session=ctx.tx)", False),
    ("try:\n    f()\nexcept UserError:\n    pass", True),
    ("try:\n    f()\nexcept (KeyError, registry.UsageError) as e:\n    pass", True),
    ("try:\n    f()\nexcept KeyError:\n    pass", False),
])
def test_the_rule_itself(source, caught):
    assert bool(violations(source)) is caught


def _is_receiver(function: ast.FunctionDef) -> bool:
    return any(isinstance(d, ast.Call) and getattr(d.func, "id", None) == "receives"
               for d in function.decorator_list)


@pytest.mark.parametrize("path", modules(), ids=lambda p: p.name)
def test_signal_receivers_only_hand_the_work_on(path):
    """A ``@receives`` function stays where the wiring collects marks, but its work lives
    below (``bot.minutes.draft``, ``bot.calendar.invites``): two statements at most."""
    tree = ast.parse(path.read_text())
    for function in ast.walk(tree):
        if isinstance(function, ast.FunctionDef) and _is_receiver(function):
            body = function.body[1:] if ast.get_docstring(function) else function.body
            assert len(body) <= 2, f"{path.name}: {function.name} does the work itself"


def test_the_context_is_frozen(config, db, room, registry):
    with db.session() as session:
        ctx = Context(config=config, session=session, room=room, sender=MEMBER, event_id="$e",
                      now=NOW, registry=registry)
        with pytest.raises(dataclasses.FrozenInstanceError):
            ctx.now = NOW   # type: ignore[misc]
        later = dataclasses.replace(ctx, event_id="$later")
        later.reply("vu")
        ctx.send("aussi")
        # a derived context records into the same list: nothing it sends is lost
        assert ctx.replies == later.replies == ["vu", "aussi"]
        assert (ctx.tx, ctx.prefix, ctx.room_id) == (session, config.bot.command_prefix, ROOM)
