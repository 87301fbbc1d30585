"""The package's layout: imports flow one way, from the CLI down to training.

Each subpackage may import its own modules and those of the layers below it, never those
above or beside it. Imports inside functions count too: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
import doctest
import importlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "mlflow_improvenn"

#: Bottom to top; packages in one tuple are peers and may not import each other.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("training",),
    ("tracking",),
    ("diagnosis",),
    ("runs",),
    ("search",),
    ("recipe", "lessons"),
    ("cli",),
)
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}
#: Modules of the package's root that any layer may use.
SHARED = {"mlflow_improvenn", "mlflow_improvenn._lazy"}


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def subpackage(path: Path) -> str | None:
    parts = path.relative_to(PACKAGE).parts
    return parts[0] if len(parts) > 1 else None


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path) -> set[str]:
    """Every module name ``path`` imports (the package uses absolute imports only)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert not node.level, f"{path.name}:{node.lineno}: use an absolute import"
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_every_subpackage_has_a_layer() -> None:
    found = {subpackage(path) for path in modules()} - {None}
    assert found == set(RANK), "place a new subpackage in LAYERS, below what uses it"


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_flow_downwards(path: Path) -> None:
    own = subpackage(path)
    for name in imported(path):
        if not name.startswith("mlflow_improvenn") or name in SHARED:
            continue
        target = name.split(".")[1]
        if target not in RANK:  # an attribute of the root package, e.g. __version__
            continue
        if own is None:
            assert name.startswith("mlflow_improvenn.cli"), f"the root imports {name}"
            continue
        allowed = target == own or RANK[target] < RANK[own]
        assert allowed, f"{own} must not import {name} (layer {RANK[target]} >= {RANK[own]})"


@pytest.mark.parametrize("path", [p for p in modules() if subpackage(p) == "training"],
                         ids=lambda p: p.name)
def test_training_does_not_use_mlflow(path: Path) -> None:
    assert not any(name.split(".")[0] == "mlflow" for name in imported(path))


def test_subpackages_export_what_they_say() -> None:
    for name in RANK:
        package = importlib.import_module(f"mlflow_improvenn.{name}")
        assert package.__doc__, f"{name}/__init__.py says what the capability is"
        for exported in getattr(package, "__all__", []):
            assert getattr(package, exported) is not None, f"{name}.{exported}"


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_docstring_examples_hold(path: Path) -> None:
    if path.name == "__main__.py":
        return
    module = importlib.import_module(module_name(path))
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
