"""The layers of ``bot/`` as the folder tree shows them, checked on the source (AST).

From the top: operations (CLI, demo) → the application (runtime, wiring) → the chat
commands → background services → minutes and calendar → the domain → the engine
(core, context, registry, event records) → storage → support (config, text, templates).
A module may import its own package and any layer below its own, never one above.
The Matrix adapter (``bot/matrix/``) sits aside: it uses only ``bot.support``, only the
application and the operations use it, and it is the only product code importing nio
(the tests' scripted clients and the benchmark's bare echo bot import nio on purpose).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Highest first; packages on one line share a rank and may not import each other.
LAYERS: list[tuple[str, ...]] = [
    ("bot.ops",),
    ("bot.app",),
    ("commands",),
    ("bot.services",),
    ("bot.minutes", "bot.calendar"),
    ("bot.domain",),
    ("bot.engine",),
    ("bot.storage",),
    ("bot.support",),
]
MATRIX = "bot.matrix"
MATRIX_USERS = ("bot.ops", "bot.app")
MATRIX_MAY_USE = ("bot.support",)

# Crossings still to remove; each entry is "importer -> imported" (modules).
KNOWN_CROSSINGS: set[str] = set()


def package_of(module: str) -> str | None:
    """The layer package a dotted module name belongs to (``None`` for third parties)."""
    for layer in LAYERS:
        for package in layer:
            if module == package or module.startswith(package + "."):
                return package
    if module == MATRIX or module.startswith(MATRIX + "."):
        return MATRIX
    return None


def rank(package: str) -> int:
    return next(i for i, layer in enumerate(LAYERS) if package in layer)


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def product_modules() -> list[Path]:
    return sorted(p for folder in ("bot", "commands") for p in (ROOT / folder).rglob("*.py")
                  if "migrations/versions" not in p.as_posix())


def imports_of(path: Path) -> set[str]:
    """Every module named by an import anywhere in the file (lazy imports included;
    relative imports resolved against the file's package)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = absolute(path, node.module, node.level)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def absolute(path: Path, module: str | None, level: int) -> str:
    """``from ..x import y`` in ``bot/a/b.py`` names ``bot.x``."""
    if level == 0:
        return module or ""
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    base = package[:len(package) - (level - 1)]
    return ".".join(base + ([module] if module else []))


DYNAMIC_IMPORTS = {"import_module", "__import__"}
WIRING = "bot.app.wiring"


def dynamic_importers() -> list[str]:
    """Modules naming ``import_module``/``__import__``: an import the AST walk cannot see."""
    return sorted(module_name(p) for p in product_modules()
                  if any(isinstance(node, (ast.Name, ast.Attribute))
                         and getattr(node, "id", getattr(node, "attr", None)) in DYNAMIC_IMPORTS
                         for node in ast.walk(ast.parse(p.read_text(), str(p)))))


def crossing(importer: str, imported: str) -> bool:
    """Does this import go against the layers?"""
    own, other = package_of(importer), package_of(imported)
    if own is None or other is None or own == other:
        return False
    if other == MATRIX:
        return own not in MATRIX_USERS
    if own == MATRIX:
        return other not in MATRIX_MAY_USE
    return rank(other) <= rank(own)


def all_crossings() -> set[str]:
    found = set()
    for path in product_modules():
        importer = module_name(path)
        for imported in imports_of(path):
            if crossing(importer, imported) and _is_module(imported):
                found.add(f"{importer} -> {imported}")
    return found


def _is_module(name: str) -> bool:
    """``from bot.x import name``: keep the module itself, not each imported name."""
    path = ROOT / Path(*name.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def test_every_product_module_is_in_a_layer():
    """A module outside the named packages (a file dropped at the top of ``bot/``) fails."""
    stray = [module_name(p) for p in product_modules()
             if package_of(module_name(p)) is None and module_name(p) not in ("bot", "commands")]
    assert stray == []


def test_imports_only_point_down():
    assert all_crossings() == KNOWN_CROSSINGS


def test_only_the_wiring_imports_by_name():
    """The wiring discovers the command modules by name; anywhere else an import by name
    would hide a crossing from this test."""
    assert dynamic_importers() == [WIRING]


def test_relative_imports_are_resolved():
    assert absolute(ROOT / "bot/domain/capture.py", "engine.context", 2) == "bot.engine.context"
    assert absolute(ROOT / "bot/domain/__init__.py", "capture", 1) == "bot.domain.capture"
    assert absolute(ROOT / "bot/domain/capture.py", None, 1) == "bot.domain"


def test_only_the_matrix_adapter_imports_nio():
    users = [module_name(p) for p in product_modules()
             if any(name == "nio" or name.startswith("nio.") for name in imports_of(p))]
    assert users and all(package_of(user) == MATRIX for user in users), users


@pytest.mark.parametrize("importer, imported, crosses", [
    ("bot.domain.capture", "bot.engine.context", False),      # down
    ("bot.engine.core", "bot.domain.seance", True),           # up
    ("bot.minutes.build", "bot.calendar.invites", True),      # sideways between peers
    ("commands.cr", "bot.matrix.client", True),               # only app/ops use the adapter
    ("bot.matrix.client", "bot.storage.db", True),            # the adapter uses support only
    ("bot.app.runtime", "bot.matrix.client", False),
    ("bot.domain.capture", "sqlmodel", False),                # third parties are not layers
])
def test_the_rule_itself(importer, imported, crosses):
    assert crossing(importer, imported) is crosses
