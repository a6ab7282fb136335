"""The protocol on real public data, checked against an independent naive implementation and
against the reference rows of BENCHMARKS.md ("measured here")."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cartwise.data.dataset import Dataset
from cartwise.data.split import leave_last_out
from cartwise.evaluation.protocol import evaluate
from cartwise.models.ease import EASE
from cartwise.models.popularity import Popularity

pytestmark = pytest.mark.realdata


def _naive_popularity(frame: pd.DataFrame, k: int) -> tuple[float, float]:
    """Leave-last-out + popularity, re-implemented with plain loops over external ids.

    Users in time order (ties: file order); the last item is the test target, the rest (with
    the validation item) the input; counts come from the training part only (all but the last
    two items); the rank is the number of unseen catalog items whose count is ≥ the target's.
    """
    frame = frame.assign(row=np.arange(len(frame)))
    frame = frame.sort_values(["user_id", "timestamp", "row"])
    sequences = [list(g["item_id"]) for _, g in frame.groupby("user_id", sort=False)]
    counts: dict[str, int] = {item: 0 for item in frame["item_id"].unique()}
    for seq in sequences:
        for item in seq[:-2] if len(seq) >= 3 else seq:
            counts[item] += 1
    hits, gains, users = 0.0, 0.0, 0
    for seq in sequences:
        if len(seq) < 3:
            continue
        users += 1
        seen, target = set(seq[:-1]), seq[-1]
        if target in seen:
            continue
        rank = sum(1 for item, c in counts.items() if item not in seen and c >= counts[target]) - 1
        if rank < k:
            hits += 1
            gains += 1 / math.log2(rank + 2)
    return hits / users, gains / users


def test_ml100k_popularity_matches_naive(datasets_dir: Path) -> None:
    path = datasets_dir / "ml-100k" / "ml-100k.inter"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    raw = pd.read_csv(path, sep="\t")
    frame = pd.DataFrame(
        {
            "user_id": raw["user_id:token"].astype(str),
            "item_id": raw["item_id:token"].astype(str),
            "timestamp": raw["timestamp:float"],
        }
    )
    split = leave_last_out(Dataset.from_frame(frame, name="ml-100k"))
    result = evaluate(Popularity().fit(split.train), split.test, ks=(10,))
    hr, ndcg = _naive_popularity(frame, 10)
    assert len(split.test) == 943
    assert result["hr@10"] == pytest.approx(hr, abs=1e-12)
    assert result["ndcg@10"] == pytest.approx(ndcg, abs=1e-12)
    assert hr > 0.01  # a real signal, not an empty comparison


@pytest.fixture(scope="module")
def ml1m(datasets_dir: Path) -> Dataset:
    path = datasets_dir / "ml-1m" / "ml-1m.txt"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    frame = pd.read_csv(path, sep=" ", header=None, names=["user_id", "item_id"])
    return Dataset.from_frame(frame, name="ml-1m")  # file order is time order


@pytest.mark.slow
def test_ml1m_popularity_reference(ml1m: Dataset) -> None:
    split = leave_last_out(ml1m)
    result = evaluate(Popularity().fit(split.train), split.test, ks=(10,))
    assert result["hr@10"] == pytest.approx(0.0369, abs=0.002)
    assert result["ndcg@10"] == pytest.approx(0.0180, abs=0.002)


@pytest.mark.slow
def test_ml1m_ease_reference(ml1m: Dataset) -> None:
    split = leave_last_out(ml1m)
    result = evaluate(EASE({"reg": 300}).fit(split.train), split.test, ks=(10,))
    assert result["hr@10"] == pytest.approx(0.1086, abs=0.002)
    assert result["ndcg@10"] == pytest.approx(0.0536, abs=0.002)
