"""The engine reads what shoppers did, not only which items: an event-aware model served through
the engine gets each history's kinds and times from the store (known answer: after a purchase of
A comes B, after a view of A comes C)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from cartwise.data.schema import Event, Item
from cartwise.data.store import Store
from cartwise.serving.engine import Engine

PATTERN = {
    "max_len": 16, "embedding_size": 32, "num_blocks": 1, "epochs": 60, "batch_size": 32,
    "learning_rate": 1e-2, "dropout": 0.0, "warmup": 0.0, "num_threads": 1, "patience": None,
    "event_aware": True,
}  # fmt: skip
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _events(n_users: int = 200, episodes: int = 4) -> list[Event]:
    rng = np.random.default_rng(0)
    out = []
    for u in range(n_users):
        t = 0
        for _ in range(episodes):
            bought = bool(rng.integers(2))
            for f in rng.integers(0, 10, size=2):
                out.append((f"u{u}", f"f{f}", "view", t))
                t += 60
            out.append((f"u{u}", "A", "purchase" if bought else "view", t))
            out.append((f"u{u}", "B" if bought else "C", "view", t + 60))
            t += 120
    return [
        Event(event_id=f"e{n}", user_id=u, item_id=i, kind=k, timestamp=T0 + timedelta(seconds=s))
        for n, (u, i, k, s) in enumerate(out)
    ]


@pytest.mark.slow  # one model, 60 epochs (~5 s)
def test_a_purchase_and_a_view_of_the_same_item_lead_to_different_lists(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "shop.db")
    store.upsert_items([Item(id=i) for i in ["A", "B", "C", *(f"f{n}" for n in range(10))]])
    store.append_events(_events())
    engine = Engine(store, tmp_path / "models", answer_cache=0)
    # no validation holdout: its targets (B, C) are always items seen before, which the
    # protocol removes, so it could not choose an epoch here
    engine.train("sasrec", PATTERN, rng=0, holdout=None)
    late = T0 + timedelta(days=30)
    # an episode like the training ones (two views, A viewed, C), then two views and A
    before = [("f1", "view"), ("f2", "view"), ("A", "view"), ("C", "view"), ("f3", "view"),
              ("f4", "view")]  # fmt: skip
    for user, kind, expected in (("buyer", "purchase", "B"), ("viewer", "view", "C")):
        steps = [*before, ("A", kind)]
        store.append_events(
            Event(event_id=f"{user}-{n}", user_id=user, item_id=item, kind=k,
                  timestamp=late + timedelta(seconds=60 * n))
            for n, (item, k) in enumerate(steps)
        )  # fmt: skip
        top = engine.recommend_user(user, 3, exclude_purchased=False).items
        assert top[0].item.id == expected, (user, [r.item.id for r in top])
    # the same history as an anonymous session: kinds from the request, no times
    session = engine.recommend_session([*before, ("A", "purchase")], 3).items
    assert session[0].item.id == "B"
