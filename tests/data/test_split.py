"""Splits: leave-last-out (the literature protocol) and the temporal cut, on hand-made data."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from cartwise.data.dataset import Dataset
from cartwise.data.split import events_before, leave_last_out, next_events, temporal_cut
from cartwise.errors import DataError


def decode(data: Dataset, arrays: list[np.ndarray]) -> list[list[str]]:
    return [data.items.decode(a) for a in arrays]


def lengths_1_2_3_5(with_time: bool = False) -> Dataset:
    rows = [("one", "a"), ("two", "a"), ("two", "b"), ("three", "a"), ("three", "b")]
    rows += [("three", "c")] + [("five", i) for i in "abcde"]
    frame = pd.DataFrame(rows, columns=["user_id", "item_id"])
    if with_time:
        frame["timestamp"] = np.arange(len(frame), dtype=float) * 10
    return Dataset.from_frame(frame, name="toy")


def test_leave_last_out_by_sequence_length() -> None:
    data = lengths_1_2_3_5()
    split = leave_last_out(data)
    assert data.users.decode(split.valid.users) == ["three", "five"]
    assert split.test.users.tolist() == split.valid.users.tolist()
    assert split.train.name == "toy/train"
    assert decode(data, split.train.sequences) == [[], ["a"], ["a", "b"], ["a"], ["a", "b", "c"]]
    assert decode(data, split.valid.inputs) == [["a"], ["a", "b", "c"]]
    assert decode(data, split.valid.targets) == [["b"], ["d"]]
    assert decode(data, split.test.inputs) == [["a", "b"], ["a", "b", "c", "d"]]
    assert data.items.decode(split.test.single_targets()) == ["c", "e"]
    assert split.train.items is data.items
    assert data.n_interactions == 11  # the source dataset is unchanged


def test_leave_last_out_trims_timestamps_with_sequences() -> None:
    split = leave_last_out(lengths_1_2_3_5(with_time=True))
    assert split.train.timestamps is not None
    assert [t.tolist() for t in split.train.timestamps] == [
        [],
        [0.0],
        [10.0, 20.0],
        [30.0],
        [60.0, 70.0, 80.0],
    ]


def test_leave_last_out_needs_a_user_with_three_events() -> None:
    frame = pd.DataFrame({"user_id": ["u", "u", "v"], "item_id": ["a", "b", "a"]})
    with pytest.raises(DataError, match="'short' has no user with 3 or more"):
        leave_last_out(Dataset.from_frame(frame, name="short"))


def timed() -> Dataset:
    rows = [
        ("A", "a", 1), ("A", "b", 2), ("A", "c", 3), ("A", "d", 4),
        ("A", "f", 10), ("A", "e", 11), ("A", "a", 12),  # future: f, e new; a seen
        ("B", "b", 1), ("B", "c", 2), ("B", "c", 6),  # future item already seen
        ("C", "x", 7),  # no past
        ("D", "a", 1), ("D", "b", 2), ("D", "c", 3),  # no future
    ]  # fmt: skip
    return Dataset.from_frame(pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"]))


@pytest.mark.parametrize("at", [5.0, datetime(1970, 1, 1, 0, 0, 5, tzinfo=UTC)])
def test_temporal_cut(at: float | datetime) -> None:
    data = timed()
    split = temporal_cut(data, at)
    assert data.users.decode(split.test.users) == ["A"]
    assert decode(data, split.test.inputs) == [["a", "b", "c", "d"]]
    assert sorted(decode(data, split.test.targets)[0]) == ["e", "f"]
    # training = the past, less each user's last two past events (their validation/test)
    assert decode(data, split.train.sequences) == [[], ["a", "b"], ["b", "c"], [], ["a"]]
    assert data.users.decode(split.valid.users) == ["A", "D"]
    assert decode(data, split.valid.inputs) == [["a", "b"], ["a"]]
    assert decode(data, split.valid.targets) == [["c"], ["b"]]
    assert split.train.timestamps is not None
    assert split.train.timestamps[1].tolist() == [1.0, 2.0]


def test_temporal_cut_errors() -> None:
    untimed = Dataset.from_frame(pd.DataFrame({"user_id": ["u"], "item_id": ["a"]}), name="n")
    with pytest.raises(DataError, match="'n' has no timestamps; use leave_last_out"):
        temporal_cut(untimed, 0.0)
    with pytest.raises(DataError, match="no user has events on both sides"):
        temporal_cut(timed(), 100.0)


def kinded() -> Dataset:
    rows = [
        ("A", "a", "view", 1), ("A", "b", "view", 2), ("A", "b", "purchase", 3),
        ("A", "c", "view", 10), ("A", "d", "purchase", 11),  # after 5: c is next, d next buy
        ("B", "a", "view", 1), ("B", "a", "purchase", 12),  # next event re-buys a seen item
        ("C", "x", "view", 7),  # no past
    ]  # fmt: skip
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "kind", "timestamp"])
    return Dataset.from_frame(frame, name="kinded")


def test_leave_last_out_carries_kinds_and_times_into_the_inputs() -> None:
    data = kinded()
    split = leave_last_out(data)
    assert data.kind_vocab is not None
    assert data.users.decode(split.test.users) == ["A"]
    assert split.test.input_kinds is not None and split.test.input_times is not None
    assert data.kind_vocab.decode(split.test.input_kinds[0]) == ["view"] * 2 + ["purchase", "view"]
    assert split.test.input_times[0].tolist() == [1.0, 2.0, 3.0, 10.0]
    assert split.valid.input_kinds is not None and len(split.valid.input_kinds[0]) == 3
    assert split.train.kinds is not None and split.train.kind_vocab is data.kind_vocab
    assert [len(k) for k in split.train.kinds] == [len(s) for s in split.train.sequences]


def test_next_events_first_event_and_first_purchase_after_the_cut() -> None:
    data = kinded()
    nxt = next_events(data, 5.0)
    assert data.users.decode(nxt.users) == ["A"]  # B's next item was seen, C has no past
    assert decode(data, nxt.targets) == [["c"]]
    assert decode(data, nxt.inputs) == [["a", "b", "b"]]
    assert nxt.input_times is not None and nxt.input_times[0].tolist() == [1.0, 2.0, 3.0]
    buy = data.kind_code("purchase")
    assert buy is not None
    bought = next_events(data, 5.0, kinds=[buy], fresh=False)
    assert data.users.decode(bought.users) == ["A", "B"]
    assert decode(data, bought.targets) == [["d"], ["a"]]
    assert len(next_events(data, 5.0, until=10.5)) == 1
    with pytest.raises(DataError, match="no user has a target event"):
        next_events(data, 5.0, until=6.0)
    assert events_before(data, 5.0).n_interactions == 4


def test_evalset_subset_and_only_kinds() -> None:
    data = kinded()
    evalset = next_events(data, 5.0, fresh=False)
    assert data.users.decode(evalset.subset([1]).users) == ["B"]
    view = data.kind_code("view")
    assert view is not None
    views = evalset.only_kinds([view])
    assert decode(data, views.inputs) == [["a", "b"], ["a"]]
    assert views.input_times is not None and views.input_times[0].tolist() == [1.0, 2.0]
    assert decode(data, views.targets) == decode(data, evalset.targets)
