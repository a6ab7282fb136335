"""The score cache: rows computed once per query and model, new arrays every call, bounded."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from cartwise.models.base import Query
from cartwise.models.popularity import Popularity
from cartwise.serving.states import ScoreCache, query_key


class Counting:
    def __init__(self) -> None:
        self.calls: list[int] = []

    def __call__(self, queries: Sequence[Query]) -> np.ndarray:
        self.calls.append(len(queries))
        return np.stack([np.full(4, float(q.history.sum()), dtype=np.float32) for q in queries])


def test_rows_are_computed_once_per_query_and_model() -> None:
    cache, compute, model = ScoreCache(1 << 20), Counting(), Popularity()
    first = cache.score_many(model, [Query.of([1, 2]), Query.of([3])], compute)
    again = cache.score_many(model, [Query.of([3]), Query.of([1, 2]), Query.of([5])], compute)
    assert compute.calls == [2, 1]  # only [5] was new
    np.testing.assert_array_equal(again[:2], first[::-1])
    assert (cache.hits, cache.misses) == (2, 3)
    other = Popularity()  # another loaded model never shares rows
    cache.score_many(other, [Query.of([3])], compute)
    assert compute.calls == [2, 1, 1]


def test_answers_are_fresh_arrays_the_caller_may_change() -> None:
    cache, compute, model = ScoreCache(1 << 20), Counting(), Popularity()
    row = cache.score_many(model, [Query.of([2])], compute)
    row[0, :] = -1.0
    assert cache.score_many(model, [Query.of([2])], compute)[0].tolist() == [2.0] * 4


def test_the_order_and_user_of_a_history_are_part_of_its_key() -> None:
    assert query_key(Query.of([1, 2])) != query_key(Query.of([2, 1]))
    assert query_key(Query.of([1])) != query_key(Query.of([1], user=3))


def test_memory_stays_under_the_bound_and_zero_turns_it_off() -> None:
    compute, model = Counting(), Popularity()
    small = ScoreCache(3 * 16)  # three rows of 4 float32
    for n in range(10):
        small.score_many(model, [Query.of([n + 1])], compute)
    assert small._rows[model].bytes <= 48 and len(small._rows[model]._rows) == 3
    off = ScoreCache(0)
    off.score_many(model, [Query.of([1])], compute)
    off.score_many(model, [Query.of([1])], compute)
    assert compute.calls[-2:] == [1, 1]
    with pytest.raises(ValueError, match="max_bytes"):
        ScoreCache(-1)
