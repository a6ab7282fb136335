"""The code's shape, checked: import direction (import-linter contracts in pyproject.toml), no
import cycle, the database behind data/ only, ranking tests without a database, short
functions, and the dead code the redesign removed staying removed."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "cartwise"
MAX_FUNCTION_LINES = 60


def _modules(under: Path) -> list[Path]:
    return sorted(p for p in under.rglob("*.py") if "__pycache__" not in p.parts)


def test_import_linter_contracts_are_kept() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run(
        [str(lint)], cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={"PYTHONPATH": str(ROOT / "src"), "PATH": str(lint.parent)},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "BROKEN" not in done.stdout


def test_no_import_cycle() -> None:
    sys.path.insert(0, str(ROOT / "src"))
    try:
        graph = grimp.build_graph("cartwise", exclude_type_checking_imports=True)
    finally:
        sys.path.remove(str(ROOT / "src"))
    cycles = []
    for importer in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            if _is_package_of(imported, importer):
                continue  # a module importing its own package's __init__ is not a cycle
            back = graph.find_shortest_chain(importer=imported, imported=importer)
            if back is not None and not _is_package_of(importer, imported):
                cycles.append(f"{importer} -> {imported} -> ... -> {' -> '.join(back[1:])}")
    assert not cycles, "\n".join(cycles[:10])


def _is_package_of(package: str, module: str) -> bool:
    return module.startswith(package + ".")


def test_only_data_touches_the_database_engine() -> None:
    pattern = re.compile(r"\bstore\.engine\b|\.engine\.(connect|begin|dispose|dialect)\b")
    offenders = [
        f"{path.relative_to(ROOT)}:{n}"
        for path in _modules(SRC)
        if "data" not in path.relative_to(SRC).parts[:1]
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert not offenders, offenders


def test_ranking_tests_need_no_database() -> None:
    banned = ("cartwise.data.store", "cartwise.serving", "sqlalchemy", "cartwise.data.sources")
    for path in _modules(ROOT / "tests" / "ranking"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert not node.module.startswith(banned), f"{path.name} imports {node.module}"
            if isinstance(node, ast.Import):
                for alias in node.names:
                    assert not alias.name.startswith(banned), f"{path.name} imports {alias.name}"


def test_no_function_is_longer_than_60_lines() -> None:
    long = []
    for path in _modules(SRC):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                assert node.end_lineno is not None
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({lines})")
    assert not long, long


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("cartwise.serving.engine", "available_models"),
        ("cartwise.service.routes.common", "settings_of"),
        ("cartwise.text.rules", "match_names"),
    ],
)
def test_removed_dead_code_stays_removed(module: str, name: str) -> None:
    imported = __import__(module, fromlist=[name])
    assert not hasattr(imported, name)


def test_the_engine_is_a_thin_facade() -> None:
    from cartwise.serving.engine import Engine

    assert Engine.__mro__[1] is object  # composed, not built from mixins
    for gone in ("cold_scores", "model", "purchased", "history"):
        assert not hasattr(Engine, gone)
    assert not (SRC / "engine.py").exists()
    assert not list(SRC.glob("engine_*.py"))
