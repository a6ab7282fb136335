"""Next-basket split on a hand-made shop: orders are runs of events with the same time (or the
same basket label), the last order is the test, the one before the validation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cartwise.data.dataset import Dataset
from cartwise.data.split import basket_starts, last_item_context, next_basket
from cartwise.errors import DataError

DAY = 86_400.0

# (shopper, item, day of the order)
ORDERS = [
    ("ann", "tea", 1), ("ann", "mug", 1),                     # order 1
    ("ann", "tea", 5), ("ann", "jam", 5),                     # order 2
    ("ann", "mug", 9), ("ann", "jam", 9), ("ann", "cup", 9),  # order 3
    ("bob", "pen", 2), ("bob", "ink", 3),                     # two orders: training only
    ("cid", "pen", 1), ("cid", "pad", 2), ("cid", "pad", 4), ("cid", "ink", 4),
    ("cid", "pen", 7),
]  # fmt: skip


def shop() -> Dataset:
    frame = pd.DataFrame(ORDERS, columns=["user_id", "item_id", "day"])
    frame["timestamp"] = frame.pop("day") * DAY
    return Dataset.from_frame(frame, name="shop")


def names(data: Dataset, arrays: list[np.ndarray]) -> list[list[str]]:
    return [sorted(data.items.decode(a)) for a in arrays]


def test_baskets_are_runs_of_one_time_or_one_label() -> None:
    times = np.array([1.0, 1.0, 5.0, 5.0, 9.0, 9.0, 9.0])
    assert basket_starts(times).tolist() == [0, 2, 4]
    labels = np.array(["A", "A", "B", "C", "C", "C", "C"])
    assert basket_starts(times, labels).tolist() == [0, 2, 3]
    assert basket_starts(np.zeros(0)).tolist() == []


def test_last_order_is_the_test_and_the_one_before_the_validation() -> None:
    data = shop()
    split = next_basket(data)
    assert data.users.decode(split.test.users) == ["ann", "cid"]  # bob has 2 orders
    assert names(data, split.valid.inputs) == [["mug", "tea"], ["pad", "pen"]]
    assert names(data, split.valid.targets) == [["jam", "tea"], ["ink", "pad"]]
    assert names(data, split.test.inputs) == [
        ["jam", "mug", "tea", "tea"],
        ["ink", "pad", "pad", "pen"],
    ]
    # the test targets keep items bought before (ann's mug and jam, cid's pen): buying again
    # is a hit, so the seen items stay candidates
    assert names(data, split.test.targets) == [["cup", "jam", "mug"], ["pen"]]
    assert not split.valid.exclude_seen and not split.test.exclude_seen
    by_user = dict(zip(data.users.ids, names(data, split.train.sequences[1:]), strict=True))
    assert by_user == {"ann": ["mug", "tea"], "bob": ["ink", "pen"], "cid": ["pad", "pen"]}
    assert split.train.timestamps is not None
    assert [len(t) for t in split.train.timestamps] == [len(s) for s in split.train.sequences]


def test_basket_labels_override_times() -> None:
    data = shop()
    # one label per event of each shopper: ann's first two orders become one basket
    labels = [np.array(list(lab)) for lab in ["", "AAAABBB", "xy", "pqrst"]]
    split = next_basket(data, labels)
    assert data.users.decode(split.test.users) == ["cid"]  # ann has 2 baskets now, cid 5
    assert names(data, split.test.targets) == [["pen"]]
    assert names(data, split.valid.targets) == [["ink"]]


def test_needs_times_and_three_orders() -> None:
    frame = pd.DataFrame(ORDERS, columns=["user_id", "item_id", "day"])
    with pytest.raises(DataError, match="no timestamps or basket labels"):
        next_basket(Dataset.from_frame(frame.drop(columns="day")))
    two = frame[frame["user_id"] == "bob"].rename(columns={"day": "timestamp"})
    with pytest.raises(DataError, match="3 or more baskets"):
        next_basket(Dataset.from_frame(two))


def test_last_item_context_counts_same_order_and_repeat_targets() -> None:
    # leave-last-out targets: ann's cup (same order as her last input, jam; new item) and
    # cid's pen (a later order; bought before, so the protocol filters it as seen)
    context = last_item_context(shop())
    assert context == {"same_basket": 0.5, "repeat": 0.5, "users": 2.0}
