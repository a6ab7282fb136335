"""The evaluation suite: default model lists, the temporal cut-off, variant labels."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from cartwise.data.dataset import Dataset
from cartwise.errors import ConfigError, DataError
from cartwise.evaluation import suite
from cartwise.evaluation.suite import SplitSpec, default_models, labels, run_models
from cartwise.models.sasrec import SASRecConfig


def test_default_models_include_the_hybrid_and_the_event_aware_sasrec_on_the_store() -> None:
    assert default_models(from_store=False) == "pop,itemknn,ease,als,sasrec"
    on_store = default_models(from_store=True).split(",")
    assert on_store[:6] == ["pop", "itemknn", "ease", "als", "sasrec", "hybrid"]
    assert ("sasrec-events" in on_store) == ("event_aware" in SASRecConfig.model_fields)


def _two_walkers() -> Dataset:
    rows = [(u, f"{u}-i{t}", float(t)) for u in ("u1", "u2") for t in range(1, 11)]
    return Dataset.from_frame(pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"]))


def test_temporal_split_leaves_the_newest_share_of_events_after_the_cut() -> None:
    data = _two_walkers()
    split, about = SplitSpec("temporal", test_share=0.1).apply(data)
    # 20 events at t = 1..10 (two per time): the newest 10 % are the two at t = 10
    assert about == "Temporal split at 1970-01-01 00:00:10 UTC (trained before, tested after)"
    assert [data.items.decode(t) for t in split.test.targets] == [["u1-i10"], ["u2-i10"]]
    assert all(len(h) == 9 for h in split.test.inputs)
    loo, about = SplitSpec("leave-one-out").apply(data)
    assert about == "Leave-one-out" and [len(h) for h in loo.test.inputs] == [9, 9]


def test_split_spec_errors_name_the_option() -> None:
    with pytest.raises(ConfigError, match="--split 'random'"):
        SplitSpec("random")
    with pytest.raises(ConfigError, match="--test-share 0.0"):
        SplitSpec("temporal", test_share=0.0)
    untimed = Dataset.from_frame(pd.DataFrame({"user_id": ["u"] * 3, "item_id": ["a", "b", "c"]}))
    with pytest.raises(DataError, match="no timestamps"):
        SplitSpec("temporal").apply(untimed)


def test_variant_labels_run_a_registered_model_with_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(suite, "variants", lambda: {"knn-5": ("itemknn", {"k": 5})})
    names = labels("pop,knn-5")
    assert names == ["popularity", "knn-5"]
    with pytest.raises(ConfigError, match="unknown model 'knn-6'"):
        labels("knn-6")
    split, _ = SplitSpec("leave-one-out").apply(_two_walkers())
    seen: list[tuple[str, Any]] = []
    runs = run_models(names, split, dataset="", tune=False, on_run=lambda n, r: seen.append((n, r)))
    assert [r.model for r in runs] == names and runs[1].config["k"] == 5
    assert [n for n, r in seen if r is None] == names and np.isfinite(runs[1].test["ndcg@10"])
