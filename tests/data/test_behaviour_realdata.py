"""Taobao UserBehavior loads with the counts of its SOURCE.txt, with kinds and times."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cartwise.data.sources import public
from cartwise.data.sources.public import load_dataset

pytestmark = pytest.mark.realdata


def test_taobao_counts_kinds_and_times(datasets_dir: Path) -> None:
    folder = datasets_dir / "taobao-userbehavior"
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent")
    data = load_dataset(folder)
    assert data.name == "taobao-userbehavior"
    assert (data.n_users, data.n_items, data.n_interactions) == (927, 61_168, 94_225)
    assert data.kind_vocab is not None and data.kinds is not None
    counts = np.bincount(np.concatenate(data.kinds), minlength=len(data.kind_vocab))
    by_kind = dict(zip(data.kind_vocab.ids, counts[1:].tolist(), strict=True))
    assert by_kind == {"view": 84_681, "add_to_cart": 5_026, "purchase": 1_955, "favourite": 2_563}
    assert data.timestamps is not None
    assert all(bool((t[1:] >= t[:-1]).all()) for t in data.timestamps)
    lengths = np.array([len(s) for s in data.sequences[1:]])
    assert (lengths.min(), int(np.median(lengths)), lengths.max()) == (4, 75, 539)
    assert data.item_info is not None
    assert data.item_info["category"].iloc[1:].map(len).eq(1).all()
    assert len({c[0] for c in data.item_info["category"].iloc[1:]}) == 3_067
    buyers = data.users.index("1")  # user 1's sequence starts with their first page view
    assert data.kind_vocab.decode(data.kinds[buyers][:1]) == ["view"]


def test_the_default_datasets_folder_is_the_shared_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CARTWISE_DATASETS", raising=False)
    assert public.datasets_dir() == Path(__file__).resolve().parents[3] / "shared" / "datasets"
