"""The answer cache: hits, validation on fresh rows, owner changes, the size bound."""

from __future__ import annotations

from pathlib import Path

import pytest

from cartwise.data.catalog import ItemRows
from cartwise.data.schema import Item
from cartwise.data.store import Store
from cartwise.ranking.results import Recommendation, Served
from cartwise.serving.cache import AnswerCache, Seen, history_digest


@pytest.fixture
def rows(tmp_path: Path) -> ItemRows:
    store = Store.open(tmp_path / "shop.db")
    store.upsert_items([Item(id=f"i{n}", title=f"Item {n}", price=10.0 + n) for n in range(5)])
    return ItemRows(store)


class Counting:
    """A computation that answers with the given ids' fresh rows and counts its calls."""

    def __init__(self, rows: ItemRows, ids: list[str]) -> None:
        self.rows, self.ids, self.calls = rows, ids, 0

    def __call__(self, seen: Seen) -> Served:
        self.calls += 1
        fresh = self.rows.fetch(self.ids)
        seen.update((i, fresh.get(i)) for i in self.ids)
        items = [Recommendation(fresh[i], 1.0, "r") for i in self.ids if i in fresh]
        return Served("v1", items)


def test_a_hit_returns_the_kept_answer_without_computing(rows: ItemRows) -> None:
    cache, view = AnswerCache(10), object()
    compute = Counting(rows, ["i1", "i2"])
    first = cache.answer(view, "k", rows, compute)
    again = cache.answer(view, "k", rows, compute)
    assert again is first and compute.calls == 1
    assert [r.item.id for r in again.items] == ["i1", "i2"]
    assert (cache.hits, cache.misses, cache.stale) == (1, 1, 0)


def test_other_keys_and_other_views_compute_again(rows: ItemRows) -> None:
    cache, view = AnswerCache(10), object()
    compute = Counting(rows, ["i1"])
    cache.answer(view, "k", rows, compute)
    cache.answer(view, "other", rows, compute)
    assert compute.calls == 2
    new_view = object()
    cache.answer(new_view, "k", rows, compute)
    assert compute.calls == 3
    assert len(cache) == 1  # the old view's answers were dropped with it
    cache.answer(view, "k", rows, compute)  # the old view again: nothing of it is kept
    assert compute.calls == 4


def test_a_changed_row_of_any_examined_candidate_refuses_the_hit(rows: ItemRows) -> None:
    cache, view = AnswerCache(10), object()
    compute = Counting(rows, ["i1", "i2", "missing"])
    cache.answer(view, "k", rows, compute)
    # another writer (e.g. another process) makes i2 unavailable
    rows.store.upsert_items([Item(id="i2", title="Item 2", price=12.0, available=False)])
    fresh = cache.answer(view, "k", rows, compute)
    assert compute.calls == 2 and cache.stale == 1
    assert not {r.item.id: r.item for r in fresh.items}["i2"].available
    # a candidate that had no row gets one: the answer is computed again too
    cache.answer(view, "k", rows, compute)
    assert compute.calls == 2
    rows.store.upsert_items([Item(id="missing", title="Now here")])
    cache.answer(view, "k", rows, compute)
    assert compute.calls == 3


def test_the_size_bound_holds_dropping_the_least_recently_used(rows: ItemRows) -> None:
    cache, view = AnswerCache(3), object()
    compute = Counting(rows, ["i0"])
    for key in ("a", "b", "c"):
        cache.answer(view, key, rows, compute)
    cache.answer(view, "a", rows, compute)  # a is now the most recently used
    cache.answer(view, "d", rows, compute)  # drops b
    assert len(cache) == 3 and compute.calls == 4
    cache.answer(view, "a", rows, compute)
    cache.answer(view, "c", rows, compute)
    assert compute.calls == 4
    cache.answer(view, "b", rows, compute)
    assert compute.calls == 5
    for n in range(50):
        cache.answer(view, n, rows, compute)
    assert len(cache) == 3


def test_capacity_zero_turns_caching_off(rows: ItemRows) -> None:
    cache, view = AnswerCache(0), object()
    compute = Counting(rows, ["i1"])
    first = cache.answer(view, "k", rows, compute)
    second = cache.answer(view, "k", rows, compute)
    assert compute.calls == 2 and first is not second and len(cache) == 0
    assert not cache.enabled
    with pytest.raises(ValueError, match="capacity"):
        AnswerCache(-1)


def test_history_digest_tells_histories_apart() -> None:
    base = history_digest([("p1", "view"), ("p2", "click")], {"p9"})
    assert base == history_digest([("p1", "view"), ("p2", "click")], {"p9"})
    assert len(base) == 16
    others = [
        history_digest([("p2", "click"), ("p1", "view")], {"p9"}),  # order counts
        history_digest([("p1", "view"), ("p2", "view")], {"p9"}),  # the kind counts
        history_digest([("p1", "view"), ("p2", "click")], set()),  # exclusions count
        history_digest([("p1", "view"), ("p2", "click"), ("p2", "click")], {"p9"}),
        history_digest([("p1', 'view'), ('p2", "click")], {"p9"}),  # quoting is unambiguous
    ]
    assert base not in others and len(set(others)) == len(others)
    assert history_digest([], ["b", "a"]) == history_digest([], ["a", "b"])
