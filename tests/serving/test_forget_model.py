"""Deletion reaches the model: a pattern only one shopper produced is learnt, the shopper is
deleted, and a retrain on the store no longer knows it: it scores exactly as a model trained
on a store where the shopper never existed, and nothing of theirs is in the new version.
Training reads its events from the store, so this holds by construction; the test checks it
end to end, for ItemKNN and (slow) for the SASRec Transformer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cartwise.data.dataset import Dataset
from cartwise.data.schema import Event, EventKind, Item
from cartwise.data.store import Store
from cartwise.models.base import Query
from cartwise.serving.engine import Engine

T0 = datetime(2024, 5, 1, tzinfo=UTC)
COMMON = [f"c{n}" for n in range(12)]
PLANTED = ["x1", "x2", "x3"]  # a sequence only the planted shopper ever produces
SHOPPER = "planted-shopper-7"
SASREC: dict[str, Any] = {
    "max_len": 10, "embedding_size": 32, "num_blocks": 1, "epochs": 30, "batch_size": 16,
    "learning_rate": 1e-2, "dropout": 0.0, "warmup": 0.0, "num_threads": 1, "patience": None,
}  # fmt: skip


def shop(store: Store, *, planted: bool = True) -> None:
    """40 shoppers walk the cycle c0 → c1 → … → c11 from random starts; the planted shopper
    (unless `planted` is false) walks x1 → x2 → x3 eight times and views a few common items."""
    rng = np.random.default_rng(0)
    store.upsert_items([Item(id=i, title=i) for i in COMMON + PLANTED])
    events: list[tuple[str, str]] = []
    for u in range(40):
        start = int(rng.integers(0, len(COMMON)))
        for step in range(int(rng.integers(6, 10))):
            events.append((f"s{u}", COMMON[(start + step) % len(COMMON)]))
    if planted:
        events += [(SHOPPER, item) for _ in range(8) for item in PLANTED]
        events += [(SHOPPER, item) for item in COMMON[:3]]
    store.append_events(
        Event(event_id=f"e{n}", user_id=user, item_id=item, kind=EventKind.VIEW,
              timestamp=T0 + timedelta(minutes=n))
        for n, (user, item) in enumerate(events)
    )  # fmt: skip


def rank_after(engine: Engine, history: list[str], item: str) -> int:
    """Where `item` comes in the active model's list for a session of `history` (0: first),
    among every item but the history's own."""
    served = engine.recommend_session([(i, "view") for i in history], k=len(COMMON) + 3)
    ranked = [r.item.id for r in served.items if r.item.id not in history]
    return ranked.index(item)


def version_bytes(engine: Engine, version: str) -> bytes:
    folder = Path(engine.versions.root) / version
    return b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())


def all_scores(engine: Engine, version: str) -> np.ndarray:
    """The version's scores for every single-item history and the empty one, by item id."""
    model = engine.versions.load(version)
    assert model.items_ is not None
    ids = sorted(COMMON + PLANTED)
    order = model.items_.encode(ids)
    rows = [model.score(Query.of([])), *(model.score(Query.of([i])) for i in order)]
    return np.stack([row[order] for row in rows])


def forget_retrain_and_compare(
    engine: Engine, name: str, config: dict[str, Any], folder: Path
) -> None:
    """Delete the planted shopper, retrain, and compare with a model trained on a store that
    never had them."""
    deletion = engine.delete_user(SHOPPER)
    assert deletion.receipt.events == 8 * 3 + 3
    assert SHOPPER not in Dataset.from_store(engine.store).users.ids
    version = engine.train(name, config, rng=0, holdout=None)
    assert engine.versions.info(version)["users"] == 40
    assert SHOPPER.encode() not in version_bytes(engine, version)
    control_store = Store.open(folder / "never.db")
    shop(control_store, planted=False)
    control = Engine(control_store, folder / "never-models")
    never = control.train(name, config, rng=0, holdout=None)
    np.testing.assert_allclose(all_scores(engine, version), all_scores(control, never), atol=1e-6)
    control_store.close()


def test_itemknn_forgets_the_planted_pattern(store_url: str, tmp_path: Path) -> None:
    store = Store.open(store_url)
    shop(store)
    engine = Engine(store, tmp_path / "models")
    engine.train("itemknn", {"k": 100, "shrink": 0.0}, rng=0, holdout=None)
    assert rank_after(engine, ["x1", "x2"], "x3") == 0
    before = engine.recommend_session([("x1", "view"), ("x2", "view")], k=3)
    assert before.items[0].score > 0
    forget_retrain_and_compare(engine, "itemknn", {"k": 100, "shrink": 0.0}, tmp_path)
    after = engine.recommend_session([("x1", "view"), ("x2", "view")], k=len(COMMON) + 3)
    assert {r.item.id: r.score for r in after.items}["x3"] == 0  # no shopper ever had it
    assert rank_after(engine, ["x1", "x2"], "x3") >= len(COMMON)  # below every seen item
    store.close()


@pytest.mark.slow
def test_sasrec_forgets_the_planted_pattern(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "shop.db")
    shop(store)
    engine = Engine(store, tmp_path / "models")
    engine.train("sasrec", SASREC, rng=0, holdout=None)
    assert rank_after(engine, ["x1", "x2"], "x3") == 0
    assert rank_after(engine, ["c4", "c5"], "c6") == 0  # the shared pattern too
    forget_retrain_and_compare(engine, "sasrec", SASREC, tmp_path)
    assert rank_after(engine, ["x1", "x2"], "x3") > 0  # the pattern is gone
    assert rank_after(engine, ["c4", "c5"], "c6") == 0  # what others taught stays
    store.close()
