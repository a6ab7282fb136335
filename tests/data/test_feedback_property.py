"""Online metrics stay sane under any sequence of feedback posts (a property test)."""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cartwise.data.feedback import (
    FeedbackRecord,
    ensure_tables,
    log_served,
    online_metrics,
    record_feedback,
)
from cartwise.data.store import Store

ITEMS = ["a", "b", "c"]
KINDS = ["impression", "click", "purchase"]
posts = st.lists(
    st.lists(
        st.tuples(st.integers(0, 2), st.sampled_from(ITEMS), st.sampled_from(KINDS)),
        min_size=1,
        max_size=6,
    ),
    min_size=1,
    max_size=8,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(batches=posts)
def test_ctr_never_exceeds_one_and_repeats_never_count(
    new_store_url: Callable[[], str], batches: list[list[tuple[int, str, str]]]
) -> None:
    store = Store.open(new_store_url())  # on SQLite and on PostgreSQL
    ensure_tables(store)
    recs = [log_served(store, "user", "u1", "v1", ITEMS) for _ in range(3)]
    distinct: set[tuple[int, str, str]] = set()
    for batch in batches:
        records = [FeedbackRecord(recs[r], item, kind) for r, item, kind in batch]
        record_feedback(store, records)
        distinct |= set(batch)
        for row in online_metrics(store):
            ctr = row["ctr"]
            assert ctr is None or 0.0 <= float(ctr) <= 1.0  # type: ignore[arg-type]
            assert row["clicks"] <= row["impressions"]  # type: ignore[operator]
    clicks = {(r, i) for r, i, k in distinct if k == "click"}
    (row,) = online_metrics(store)
    assert row["clicks"] == len(clicks)  # each distinct click once, however often it was posted
    store.close()
