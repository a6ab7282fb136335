"""`cartwise retrain --incremental`: the active SASRec fine-tuned on the events since its
training, with a new catalog item learnt, recorded as incremental with its parent, through the
gate; and the errors that name the fix."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from lifecycle_shop import T0, add_visits, build_shop
from typer.testing import CliRunner

from cartwise.cli import app
from cartwise.data.schema import Event, EventKind, Item
from cartwise.data.store import Store
from cartwise.errors import ConfigError
from cartwise.lifecycle import Gate, Versions, train_version
from cartwise.lifecycle.incremental import update_holdout, update_version
from cartwise.models.base import Query

SASREC = {
    "embedding_size": 32, "num_blocks": 1, "max_len": 16, "epochs": 30, "patience": None,
    "dropout": 0.1, "autoconfig": False, "num_threads": 1, "bf16": False,
}  # fmt: skip
NEW = "n1"  # a new phone, sold after the cut-off only: shoppers view a0, then buy n1


def _new_item_sales(store: Store, shoppers: int = 40, start_day: float = 30.0) -> None:
    store.upsert_items([Item(id=NEW, title="Case, phone 0, new model", category=["Cases"])])
    store.append_events(
        Event(event_id=f"n-u{u}-{v}-{kind}", user_id=f"u{u}", item_id=item, kind=EventKind(kind),
              timestamp=T0 + timedelta(days=start_day + v, minutes=u + later))
        for u in range(shoppers)
        for v in range(2)
        for kind, item, later in (("view", "a0", 0), ("purchase", NEW, 1))
    )  # fmt: skip


@pytest.fixture
def shop(tmp_path: Path) -> tuple[Store, Versions]:
    store = Store.open(tmp_path / "shop.db")
    build_shop(store)
    versions = Versions(tmp_path / "models")
    train_version(store, versions, "sasrec", SASREC, rng=0)
    return store, versions


@pytest.mark.slow
def test_incremental_update_learns_a_new_item_and_records_its_parent(
    shop: tuple[Store, Versions],
) -> None:
    store, versions = shop
    parent = versions.active()
    assert parent is not None
    old = versions.load(parent)
    assert NEW not in old._vocab
    add_visits(store)
    _new_item_sales(store)
    done = update_version(store, versions, gate=Gate())
    assert done.activated and versions.active() == done.version
    info = versions.info(done.version)
    assert info["incremental"] is True and info["parent"] == parent
    assert info["update"]["items_added"] == 1 and info["update"]["new_events"] > 0
    assert info["gate"]["basis"] == "incremental" and info["gate"]["active"] is not None
    assert info["window"]["first"] == versions.info(parent)["window"]["first"]
    assert info["window"]["last"] > versions.info(parent)["window"]["last"]
    assert info["settings"] == SASREC  # a later full retrain repeats the parent's recipe
    model = versions.load(done.version)
    assert model.n_items == old.n_items + 1
    top = model.recommend(Query(model._vocab.encode(["a0"])), k=10)
    assert NEW in model._vocab.decode([s.item for s in top])


def test_the_holdout_holds_out_only_new_events() -> None:
    import numpy as np
    import pandas as pd

    from cartwise.data.dataset import Dataset

    frame = pd.DataFrame({"user_id": ["a", "a", "a", "b", "b"], "item_id": list("xyzxy"),
                          "timestamp": [1.0, 2.0, 10.0, 1.0, 2.0]})  # fmt: skip
    data = Dataset.from_frame(frame)
    train, valid = update_holdout(data, 5.0, None)
    assert valid is not None and len(valid) == 1  # a's z; b has nothing new
    assert data.items.decode(valid.targets[0]) == ["z"]
    assert [len(s) for s in train.sequences] == [0, 2, 2]
    _, none = update_holdout(data, 20.0, None)
    assert none is None
    assert np.array_equal(train.sequences[2], data.sequences[2])


def test_no_active_version_or_another_model_says_what_to_do(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "shop.db")
    build_shop(store)
    versions = Versions(tmp_path / "models")
    with pytest.raises(ConfigError, match="no active version.*cartwise train --model sasrec"):
        update_version(store, versions, gate=Gate())
    train_version(store, versions, "popularity", rng=0)
    with pytest.raises(ConfigError, match="'popularity'.*cartwise retrain' \\(no --incremental"):
        update_version(store, versions, gate=Gate())


@pytest.mark.slow
def test_cli_retrain_incremental_end_to_end(tmp_path: Path) -> None:
    runner = CliRunner()
    db, models = tmp_path / "shop.db", tmp_path / "models"
    build_shop(Store.open(db))
    where = ["--store", str(db), "--model-dir", str(models)]

    def run(*args: str) -> tuple[int, str]:
        result = runner.invoke(app, [*args, *where], env={"COLUMNS": "240"})
        return result.exit_code, result.output

    code, out = run("retrain", "--incremental")
    assert code != 0 and "no active version" in out and "cartwise train" in out
    sets = [a for k, v in SASREC.items() for a in ("--set", f"{k}={json.dumps(v)}")]
    code, out = run("train", "-m", "sasrec", *sets)
    assert code == 0, out
    parent = Versions(models).active()
    add_visits(Store.open(db))
    _new_item_sales(Store.open(db))
    code, out = run("retrain", "--incremental", "--set", "epochs=5", "--force")
    assert code == 0, out
    assert f"incremental update of {parent}" in out and "1 new items" in out
    active = Versions(models).active()
    assert active != parent and Versions(models).info(active)["parent"] == parent
    code, out = run("retrain", "--incremental", "--set", "embedding_size=8")
    assert (
        code != 0 and "embedding_size" in out and "without --incremental" in out.replace("\n", " ")
    )
