"""`cartwise search`: the engine's search from the command line, keyword-only on request."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from cartwise.cli import app
from cartwise.data.schema import Item
from cartwise.data.store import Store


def test_search_command_keyword_only(tmp_path: Path) -> None:
    db = tmp_path / "shop.db"
    store = Store.open(db)
    store.upsert_items(
        [
            Item(id="s1", title="Trail Running Shoe", category=["Sports", "Shoes"], price=90),
            Item(id="m1", title="Yoga Mat", category=["Sports", "Yoga"], price=20),
        ]
    )
    store.close()
    args = ["search", "running shoes", "-k", "3", "--keyword-only"]
    args += ["--store", str(db), "--model-dir", str(tmp_path / "models")]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "Trail Running Shoe" in result.output and "Yoga Mat" not in result.output
    assert "matches 'running', 'shoe'" in result.output
    assert "cosine" not in result.output  # no language model was used
