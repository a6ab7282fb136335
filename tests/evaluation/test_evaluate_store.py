"""`cartwise evaluate --store`: the offline protocol on the store's own events gives exactly the
figures of the file-based protocol on the same events exported to a file."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cartwise.cli import app
from cartwise.data.schema import POSITIVE_KINDS
from cartwise.data.store import Store

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lifecycle"))
from lifecycle_shop import add_visits, build_shop  # noqa: E402

pytestmark = pytest.mark.slow  # fits and tunes a few models four times (~20 s)

runner = CliRunner()
MODELS = ["--models", "pop,itemknn,ease"]


def export_recbole(store: Store, folder: Path) -> Path:
    """The store's positive events as RecBole atomic files (``shop.inter`` in the store's
    order, ``shop.item`` in its catalog order), which ``load_dataset`` reads."""
    folder.mkdir()
    events = store.events_frame(kinds=POSITIVE_KINDS).dropna(subset=["item_id"])
    lines = ["user_id:token\titem_id:token\ttimestamp:float"]
    lines += [f"{u}\t{i}\t{float(t)!r}" for u, i, t in zip(events.user_id, events.item_id,
                                                           events.ts, strict=True)]  # fmt: skip
    (folder / "shop.inter").write_text("\n".join(lines) + "\n")
    items = store.items_frame()
    pairs = zip(items.id, items.title, strict=True)
    rows = ["item_id:token\ttitle:token_seq", *(f"{i}\t{t}" for i, t in pairs)]
    (folder / "shop.item").write_text("\n".join(rows) + "\n")
    return folder / "shop.inter"


def evaluate(*args: str, out: Path) -> dict[str, dict[str, Any]]:
    """Run `cartwise evaluate ARGS`; the validation and test figures per model."""
    result = runner.invoke(app, ["evaluate", *args, *MODELS, "--format", "md", "--out", str(out)])
    assert result.exit_code == 0, result.output
    record = json.loads((out / "results.json").read_text())
    return {run["model"]: {"valid": run["valid"], "test": run["test"]} for run in record["runs"]}


@pytest.mark.parametrize("split", ["temporal", "leave-one-out"])
def test_store_evaluation_equals_the_file_protocol(
    store_url: str, tmp_path: Path, split: str
) -> None:
    store = Store.open(store_url)
    build_shop(store)
    add_visits(store)
    exported = export_recbole(store, tmp_path / "export")
    ours = evaluate("--store", store_url, *(["--split", split] if split != "temporal" else []),
                    out=tmp_path / "store")  # fmt: skip
    theirs = evaluate("--data", str(exported), "--split", split, out=tmp_path / "file")
    assert ours == theirs
    assert set(ours) == {"popularity", "itemknn", "ease"}
    assert all(run["test"]["hr@10"] > 0 for run in ours.values())  # real figures, not zeros
    report = (tmp_path / "store" / "report.md").read_text()
    expected = "Temporal split at" if split == "temporal" else "Leave-one-out"
    assert report.startswith("# Evaluation on the store ") and expected in report


def test_bare_store_flag_reads_the_configured_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "shop.db"
    store = Store.open(db)
    build_shop(store)
    add_visits(store)
    monkeypatch.setenv("CARTWISE_STORE_URL", str(db))
    out = tmp_path / "r"
    result = runner.invoke(app, ["evaluate", "--store", "--models", "pop", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"Evaluation on the store sqlite:///{db}" in (out / "report.md").read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "name what to evaluate: --data FILE"),
        (["--store", "x.db", "--data", "y"], "one of them"),
        (["--store", "{db}", "--split", "random"], "--split 'random'"),
        (["--store", "{db}", "--test-share", "1.5"], "--test-share 1.5"),
        (["--store", "{db}", "--models", "pop,nosuch"], "unknown model 'nosuch'"),
        (["--store", "{empty}"], "has no events to split"),
    ],
)
def test_bad_store_evaluations_fail_with_one_line(
    tmp_path: Path, args: list[str], message: str
) -> None:
    db = tmp_path / "shop.db"
    build_shop(Store.open(db))
    empty = tmp_path / "empty.db"
    Store.open(empty)
    filled = [a.format(db=db, empty=empty) for a in args]
    result = runner.invoke(app, ["evaluate", *filled, "--out", str(tmp_path / "r")])
    assert result.exit_code == 1, result.output
    assert message in result.output and "Traceback" not in result.output
