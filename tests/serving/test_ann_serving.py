"""Serving through the item index: same lists as exact scoring, small catalogs stay exact, a
new version gets a new index."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from cartwise.data.schema import Event, Item
from cartwise.data.store import Store
from cartwise.ranking.ann import AnnPolicy
from cartwise.ranking.filters import Filters
from cartwise.serving.engine import Engine

T0 = datetime(2024, 1, 1, tzinfo=UTC)
ALS = {"embedding_size": 8, "epochs": 5, "num_threads": 1}


@pytest.fixture
def store(tmp_path: Path) -> Store:
    rng = np.random.default_rng(0)
    store = Store.open(tmp_path / "shop.db")
    store.upsert_items(
        Item(id=f"i{n}", title=f"Item {n}", category=["Shop", f"C{n % 4}"], price=1.0 + n)
        for n in range(300)
    )
    store.append_events(
        Event(
            event_id=f"e{u}-{j}",
            user_id=f"u{u}",
            item_id=f"i{int(i)}",
            kind="view",
            timestamp=T0 + timedelta(minutes=10 * j),
        )  # fmt: skip
        for u in range(120)
        for j, i in enumerate(rng.integers(0, 300, size=10))
    )
    return store


def _ids(engine: Engine, user: str, **kwargs: object) -> list[str]:
    return [r.item.id for r in engine.recommend_user(user, 10, **kwargs).items]  # type: ignore[arg-type]


def test_indexed_lists_equal_the_exact_ones(store: Store, tmp_path: Path) -> None:
    exact = Engine(store, tmp_path / "models", answer_cache=0, ann=AnnPolicy(kind="off"))
    exact.train("als", ALS, rng=0, holdout=None)
    indexed = Engine(store, tmp_path / "models", answer_cache=0, ann=AnnPolicy(threshold=1))
    view = indexed.view()
    assert view.ann is not None and view.ann.kind == "hnsw" and view.ann.n_items == 300
    assert exact.view().ann is None
    for user in ("u1", "u7", "u33"):
        for filters in (None, Filters(category="C2"), Filters(min_price=250.0)):
            want = exact.recommend_user(user, 10, filters=filters).items
            got = indexed.recommend_user(user, 10, filters=filters).items
            assert [r.item.id for r in got] == [r.item.id for r in want], (user, filters)
            np.testing.assert_allclose([r.score for r in got], [r.score for r in want], rtol=1e-5)
            assert [r.reason for r in got] == [r.reason for r in want]
    # an unknown shopper (no history) is scored by popularity, as before
    assert _ids(indexed, "nobody") == _ids(exact, "nobody")


def test_small_catalogs_use_exact_scoring_by_default(store: Store, tmp_path: Path) -> None:
    engine = Engine(store, tmp_path / "models", answer_cache=0)
    engine.train("als", ALS, rng=0, holdout=None)
    assert engine.view().ann is None  # 300 items, far under 50,000
    assert len(_ids(engine, "u1")) == 10


def test_a_new_version_gets_its_own_index(store: Store, tmp_path: Path) -> None:
    engine = Engine(store, tmp_path / "models", answer_cache=0, ann=AnnPolicy(threshold=1))
    engine.train("als", ALS, rng=0, holdout=None)
    first = engine.view()
    assert first.ann is not None
    engine.catalog_changed()  # a newer catalog of the same version keeps the index
    store.upsert_items([Item(id="i5", title="Item 5", available=False)])
    engine.catalog_changed()
    assert engine.view().ann is first.ann
    engine.train("bpr", {"embedding_size": 8, "epochs": 5}, rng=1, holdout=None)
    second = engine.view()
    assert second.version != first.version and second.ann is not first.ann
    assert second.ann is not None and second.ann.items.shape[1] == 9  # BPR: factors + bias
    assert np.array_equal(second.ann.items, second.model.item_matrix())  # type: ignore[attr-defined]
    assert "i5" not in _ids(engine, "u1")
