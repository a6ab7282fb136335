"""Online metrics per day, scenario and variant, and catalog coverage, against hand counts; on
SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import update

from cartwise.data import tables as t
from cartwise.data.feedback import FeedbackRecord, log_served, record_feedback
from cartwise.data.schema import Item
from cartwise.data.store import Store
from cartwise.data.timeline import DAY, catalog_coverage, online_timeline

NOW = 1_750_000_000.0 - 1_750_000_000.0 % DAY + 12 * 3600  # noon UTC of a day
TODAY = NOW - 12 * 3600  # that day's first second


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = Store.open(store_url)
    s.upsert_items([Item(id=f"i{n}", title=f"Item {n}") for n in range(10)])
    yield s
    s.close()


def _served(
    store: Store,
    days_ago: int,
    items: list[str],
    scenario: str = "user",
    variant: tuple[str, str] | None = None,
) -> str:
    rid = log_served(store, scenario, "u1", "v1", items, variant)
    with store.engine.begin() as conn:
        conn.execute(
            update(t.served)
            .where(t.served.c.recommendation_id == rid)
            .values(ts=NOW - days_ago * DAY)
        )
    return rid


def _feedback(store: Store, rid: str, item: str, *kinds: str) -> None:
    record_feedback(store, [FeedbackRecord(rid, item, k) for k in kinds])


def test_counts_and_rates_per_day_scenario_and_variant(store: Store) -> None:
    yesterday = _served(store, 1, ["i1", "i2"])
    _feedback(store, yesterday, "i1", "impression", "click", "purchase")
    _feedback(store, yesterday, "i2", "impression")
    today = _served(store, 0, ["i1", "i2", "i3"])
    _feedback(store, today, "i3", "impression", "click", "add_to_cart")
    _served(store, 0, ["i4"], scenario="search")  # served, never seen
    a = _served(store, 0, ["i5", "i6"], variant=("exp1", "a"))
    _feedback(store, a, "i5", "impression")
    _feedback(store, a, "i6", "impression", "click")
    _served(store, 45, ["i7"])  # outside the 30-day window

    rows = online_timeline(store, days=30, now=NOW)
    assert [(r["start"], r["scenario"], r["experiment_id"], r["variant"]) for r in rows] == [
        (TODAY - DAY, "user", None, None),
        (TODAY, "search", None, None),
        (TODAY, "user", None, None),
        (TODAY, "user", "exp1", "a"),
    ]
    old, search, now, variant = rows
    assert (old["served"], old["impressions"], old["clicks"], old["purchases"]) == (1, 2, 1, 1)
    assert old["ctr"] == 0.5 and old["conversion"] == 0.5
    assert (now["impressions"], now["clicks"], now["add_to_cart"], now["purchases"]) == (1, 1, 1, 0)
    assert now["ctr"] == 1.0 and now["conversion"] == 0.0
    assert search["served"] == 1 and search["impressions"] == 0
    assert search["ctr"] is None and search["conversion"] is None
    assert variant["ctr"] == 0.5 and variant["model_version"] == "v1"


def test_feedback_counts_on_the_day_of_the_answer_it_is_about(store: Store) -> None:
    rid = _served(store, 2, ["i1"])
    _feedback(store, rid, "i1", "impression", "click")  # posted "now", two days later
    (row,) = online_timeline(store, days=30, now=NOW)
    assert row["start"] == TODAY - 2 * DAY and row["clicks"] == 1


def test_hour_buckets(store: Store) -> None:
    _served(store, 0, ["i1"])
    rid = log_served(store, "user", "u1", "v1", ["i2"])
    with store.engine.begin() as conn:
        conn.execute(
            update(t.served).where(t.served.c.recommendation_id == rid).values(ts=NOW + 3700)
        )
    rows = online_timeline(store, days=1, bucket_seconds=3600, now=NOW + 3700)
    assert [r["start"] for r in rows] == [NOW, NOW + 3600]


def test_coverage_counts_distinct_items_of_the_window_still_in_the_catalog(store: Store) -> None:
    _served(store, 0, ["i1", "i2", "i3"])
    _served(store, 3, ["i2", "i3", "i4", "gone"])  # an item since deleted does not count
    _served(store, 40, ["i8", "i9"])  # outside the window
    got = catalog_coverage(store, days=30, now=NOW)
    assert got == {
        "days": 30,
        "answers": 2,
        "items_recommended": 4,
        "catalog_items": 10,
        "share": 0.4,
    }
    assert catalog_coverage(store, days=60, now=NOW)["items_recommended"] == 6


def test_empty_store(store_url: str) -> None:
    empty = Store.open(store_url)
    try:
        assert online_timeline(empty, now=NOW) == []
        assert catalog_coverage(empty, now=NOW)["share"] is None
    finally:
        empty.close()
