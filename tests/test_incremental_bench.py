"""benchmarks/incremental.py (issue 14): its temporal split leaks nothing, and both arms are
measured on the same shoppers."""

from __future__ import annotations

import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd
import pytest

from cartwise.data.dataset import Dataset
from cartwise.data.split import EvalSet

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
TINY = {
    "embedding_size": 16, "num_blocks": 1, "max_len": 10, "epochs": 2, "patience": None,
    "batch_size": 32, "autoconfig": False, "num_threads": 1, "bf16": False,
}  # fmt: skip
DAY = 86_400.0


def _bench() -> ModuleType:
    if str(BENCHMARKS) not in sys.path:
        sys.path.insert(0, str(BENCHMARKS))
    return __import__("incremental")


@pytest.fixture(scope="module")
def data() -> Dataset:
    """100 shoppers over 100 days, one event a day from a random start; items i0..i29 on
    sale from the start, i30..i39 only from day 80 on (new to a model cut at T1)."""
    rng = np.random.default_rng(3)
    rows = []
    for u in range(100):
        start = int(rng.integers(0, 90))
        for day in range(start, min(100, start + int(rng.integers(3, 30)))):
            top = 40 if day >= 80 else 30
            item = f"i{int(rng.integers(top))}"
            rows.append({"user_id": f"u{u}", "item_id": item, "timestamp": day * DAY + u})
    return Dataset.from_frame(pd.DataFrame(rows), name="tiny")


def _times(evalset: EvalSet) -> np.ndarray:
    assert evalset.input_times is not None
    return np.concatenate(evalset.input_times)


def test_split_has_no_leakage(data: Dataset) -> None:
    bench = _bench()
    w = bench.split(data, 0.75, 0.9)
    assert w.t1 < w.t2
    assert w.base.timestamps is not None and w.train.timestamps is not None
    assert max(t.max() for t in w.base.timestamps if len(t)) < w.t1
    # neither arm trains on anything from T2 on, nor on a validation target
    assert max(t.max() for t in w.train.timestamps if len(t)) < w.t2
    assert _times(w.valid).max() < w.t2 and _times(w.test).max() < w.t2
    # the test targets are items each shopper turned to from T2 on, new to their history
    frame = bench.events_frame(data)
    later = frame[frame["timestamp"] >= w.t2].groupby("user_id")["item_id"].agg(set)
    users = w.train.users.ids
    for user, inputs, targets in zip(w.test.users, w.test.inputs, w.test.targets, strict=True):
        names = set(w.train.items.decode(targets.tolist()))
        assert names <= later[users[user - 1]]
        assert not names & set(w.train.items.decode(inputs.tolist()))
    # the base does not know the items first sold at day 80 (after T1): they are new items
    assert bench.describe(w)["new_items"] > 0


def test_validation_events_come_after_t1_and_are_held_out(data: Dataset) -> None:
    bench = _bench()
    w = bench.split(data, 0.75, 0.9)
    frame = bench.events_frame(data).sort_values("timestamp", kind="stable")
    users = w.train.users.ids
    assert len(w.valid) > 0
    for user, inputs, target in zip(w.valid.users, w.valid.inputs, w.valid.targets, strict=True):
        assert np.array_equal(w.train.sequences[user], inputs)  # the target is not trained on
        mine = frame[frame["user_id"] == users[user - 1]]
        held = mine.iloc[len(inputs)]
        assert w.t1 <= held["timestamp"] < w.t2
        assert [held["item_id"]] == w.train.items.decode(target.tolist())


def test_both_arms_are_measured_on_the_same_shoppers(
    data: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    bench = _bench()
    w = bench.split(data, 0.75, 0.9)
    seen: list[tuple[str, EvalSet]] = []
    trained: list[Dataset] = []
    real_scores, real_update = bench.scores, bench.update

    def scores(model: Any, evalset: EvalSet) -> dict[str, float]:
        seen.append((type(model).__name__, evalset))
        return dict(real_scores(model, evalset))

    def update(parent: Any, train: Dataset, **kw: Any) -> Any:
        trained.append(train)
        assert kw["after"] < w.t1
        return real_update(parent, train, **kw, settings={"epochs": 2})

    monkeypatch.setattr(bench, "scores", scores)
    monkeypatch.setattr(bench, "update", update)
    out = bench.compare(w, 30.0, TINY)
    assert trained == [w.train]
    tests = [e for _, e in seen if e is w.test]
    valids = [e for _, e in seen if e is w.valid]
    assert len(tests) == 2 and len(valids) == 2
    for arm in ("full", "incremental"):
        assert set(out[arm]["test"]) == {"ndcg@10", "hr@10"}
        assert 0.0 <= out[arm]["test"]["ndcg@10"] <= out[arm]["test"]["hr@10"] <= 1.0
    assert out["incremental"]["time_budget_s"] == pytest.approx(30.0 * 0.25)


def test_readme_table_has_a_row_per_arm() -> None:
    if str(BENCHMARKS) not in sys.path:
        sys.path.insert(0, str(BENCHMARKS))
    table = __import__("table")
    arm = {"valid": {"ndcg@10": 0.1}, "test": {"ndcg@10": 0.2, "hr@10": 0.3}, "minutes": 1.5}
    record = {
        "benchmark": "incremental", "dataset": "x", "command": "python benchmarks/incremental.py",
        "metrics": {"base": {"valid": {"ndcg@10": 0.1}, "minutes": 2.0}, "full": arm,
                    "incremental": {**arm, "minutes": 0.5}, "split": {"new_items": 7}},
    }  # fmt: skip
    lines = table.incremental_table([record])
    rows = [line for line in lines if line.startswith("| x |")]
    assert [row.split(" | ")[1] for row in rows] == ["base", "full", "incremental"]
    assert "| 0.2000 | 0.3000 | 0.50 |" in rows[2] and "(7)" in rows[2]
    assert not table.other_table([record])
