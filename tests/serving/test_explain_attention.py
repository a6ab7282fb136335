"""A SASRec engine explains its recommendations by attention: the evidence names the shopper's
history items the Transformer attended to, with their weights, and nothing else."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from cartwise.data.history import recent_items
from cartwise.data.schema import Event, EventKind, Item
from cartwise.data.store import Store
from cartwise.ranking.explain import Explainer
from cartwise.serving.engine import Engine
from cartwise.text.generator import FakeGenerator

N = 12  # items walked in a cycle: i0 → i1 → … → i11 → i0
TITLES = [f"Cycle Part {chr(ord('A') + i)}" for i in range(N)]
CONFIG = {
    "max_len": 10, "embedding_size": 32, "num_blocks": 1, "epochs": 15, "batch_size": 16,
    "learning_rate": 1e-2, "dropout": 0.0, "warmup": 0.0, "num_threads": 1, "patience": None,
}  # fmt: skip


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    root: Path = tmp_path_factory.mktemp("attention")
    store = Store.open(root / "shop.db")
    store.upsert_items([Item(id=f"i{i}", title=TITLES[i], price=10) for i in range(N)])
    rng = np.random.default_rng(0)
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    events = []
    for u in range(80):
        start, length = int(rng.integers(0, N)), int(rng.integers(6, 12))
        events += [
            Event(
                event_id=f"u{u}-{t}",
                user_id=f"u{u}",
                item_id=f"i{(start + t) % N}",
                kind=EventKind.VIEW,
                timestamp=t0 + timedelta(hours=t),
            )
            for t in range(length)
        ]
    store.append_events(events)
    e = Engine(store, root / "models")
    e.train("sasrec", CONFIG, rng=0)
    return e


def test_evidence_is_the_attended_history_with_weights(engine: Engine) -> None:
    for user in ("u0", "u1", "u2"):
        history = {TITLES[int(i[1:])] for i in _history(engine, user)}
        explained = engine.explain_user(user, 5)
        assert len(explained) == 5
        for _, explanation in explained:
            assert explanation.evidence
            assert {e.title for e in explanation.evidence} <= history
            assert all(e.kind == "history" and 0 < e.weight <= 1 for e in explanation.evidence)
            weights = [e.weight for e in explanation.evidence]
            assert weights == sorted(weights, reverse=True) and sum(weights) <= 1 + 1e-6
            assert explanation.reason.startswith("Because you viewed '")


def test_generated_reasons_stay_grounded_in_the_attention_evidence(engine: Engine) -> None:
    def ground(prompt: str, system: str | None) -> str:
        fact = next(line for line in prompt.splitlines() if line.startswith("Fact: "))
        return "Picked because " + fact.removeprefix("Fact: ") + "."

    engine.explainer = Explainer(FakeGenerator(ground), TITLES)
    try:
        recs = engine.recommend_user("u3", 5, explain=True).items
    finally:
        engine.explainer = None
    history = {TITLES[int(i[1:])] for i in _history(engine, "u3")}
    for rec in recs:
        assert rec.reason.startswith("Picked because you viewed '")
        named = set(re.findall(r"'([^']+)'", rec.reason))
        assert named and named <= history


def _history(engine: Engine, user: str) -> list[str]:
    return [item for item, _, _ in recent_items(engine.store, user, 200)]
