"""Popularity: contract plus hand-computed counts, window and decay."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from contract import RecommenderContract

from cartwise.data.dataset import Dataset
from cartwise.errors import ConfigError, DataError
from cartwise.models.base import Query
from cartwise.models.popularity import Popularity

DAY = 86_400


class TestPopularityContract(RecommenderContract):
    model_class = Popularity


def _dataset(with_time: bool = True) -> Dataset:
    # A on days 0, 1, 2; B on days 8, 9; C on day 10 (the last event).
    frame = pd.DataFrame(
        {
            "user_id": ["u1", "u1", "u2", "u2", "u3", "u3"],
            "item_id": ["A", "B", "A", "B", "A", "C"],
            "timestamp": [0, 8 * DAY, 1 * DAY, 9 * DAY, 2 * DAY, 10 * DAY],
        }
    )
    return Dataset.from_frame(frame if with_time else frame.drop(columns="timestamp"))


def _order(model: Popularity, data: Dataset) -> list[str]:
    return data.items.decode(r.item for r in model.recommend(Query.of([]), k=3))


def _weights(model: Popularity, data: Dataset) -> dict[str, float]:
    assert model.counts_ is not None
    return {i: float(model.counts_[data.items.index(i)]) for i in ("A", "B", "C")}


def test_plain_counts() -> None:
    data = _dataset()
    model = Popularity().fit(data)
    assert _weights(model, data) == {"A": 3.0, "B": 2.0, "C": 1.0}
    assert _order(model, data) == ["A", "B", "C"]


def test_window_keeps_recent_events_only() -> None:
    data = _dataset()
    model = Popularity({"window_days": 3}).fit(data)  # days 7..10 count
    assert _weights(model, data) == {"A": 0.0, "B": 2.0, "C": 1.0}
    assert _order(model, data) == ["B", "C", "A"]


def test_half_life_decays_old_events() -> None:
    data = _dataset()
    model = Popularity({"half_life_days": 1}).fit(data)
    w = _weights(model, data)
    assert w["A"] == pytest.approx(0.5**10 + 0.5**9 + 0.5**8)  # 7 / 1024
    assert w["B"] == pytest.approx(0.5**2 + 0.5**1)
    assert w["C"] == pytest.approx(1.0)
    assert _order(model, data) == ["C", "B", "A"]


def test_window_and_decay_combine() -> None:
    data = _dataset()
    model = Popularity({"window_days": 5, "half_life_days": 1}).fit(data)
    w = _weights(model, data)
    assert w == pytest.approx({"A": 0.0, "B": 0.75, "C": 1.0})


def test_scores_ignore_history() -> None:
    data = _dataset()
    model = Popularity().fit(data)
    np.testing.assert_array_equal(model.score(Query.of([1])), model.score(Query.of([2, 3])))


def test_window_without_timestamps_raises() -> None:
    with pytest.raises(DataError, match="no timestamps"):
        Popularity({"half_life_days": 7}).fit(_dataset(with_time=False))


def test_nonpositive_window_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="window_days"):
        Popularity({"window_days": 0})
