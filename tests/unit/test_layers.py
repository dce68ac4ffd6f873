"""Imports point inward: domain/ depends on nothing but the stdlib and eventsourcing."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUTER = {"api", "adapters", "projections", "sip", "cli", "bench"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_domain_imports_only_stdlib_eventsourcing_and_itself() -> None:
    allowed = set(sys.stdlib_module_names) | {"eventsourcing", "domain", "__future__"}
    offenders = {
        str(path.relative_to(ROOT)): sorted(_imports(path) - allowed)
        for path in (ROOT / "domain").rglob("*.py")
        if _imports(path) - allowed
    }
    assert offenders == {}


def test_projections_do_not_import_the_api_or_cli() -> None:
    for path in (ROOT / "projections").rglob("*.py"):
        assert not _imports(path) & {"api", "cli", "sip"}, path


def test_the_composition_root_sits_above_adapters_and_projections() -> None:
    for layer in ("adapters", "projections", "domain"):
        for path in (ROOT / layer).rglob("*.py"):
            assert "composition" not in _imports(path), path
