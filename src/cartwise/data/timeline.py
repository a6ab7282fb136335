"""Online metrics over time, and catalog coverage, from the served log and its feedback.

What the operator's dashboard charts: per time bucket (a day by default), scenario and
experiment variant, the answers served, their impressions, clicks, cart adds and purchases,
CTR (clicks per impression) and conversion (purchases per impression). Feedback is counted in
the bucket of the answer it is about, so a click tomorrow on today's list raises today's CTR,
and a rate never mixes two days' impressions.

Catalog coverage is the share of the catalog's items that appeared in at least one answer
served in the window: a model that shows the same 50 bestsellers to everyone covers little.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import ColumnElement, Connection, Integer, cast, func, select

from cartwise.data.store import Store
from cartwise.data.tables import feedback, items, served

DAY = 86_400.0
_COUNTED = ("impression", "click", "add_to_cart", "purchase")


def _bucket(conn: Connection, seconds: float) -> ColumnElement[Any]:
    """The served row's bucket number: floor(ts / seconds), in each dialect's own words
    (PostgreSQL rounds a cast to integer, SQLite truncates; timestamps are positive)."""
    if conn.dialect.name == "postgresql":
        return cast(func.floor(served.c.ts / seconds), Integer)
    return cast(served.c.ts / seconds, Integer)


def online_timeline(
    store: Store, *, days: float = 30.0, bucket_seconds: float = DAY, now: float | None = None
) -> list[dict[str, Any]]:
    """Per bucket, scenario and variant over the last `days`: served, impressions, clicks,
    add-to-cart, purchases, CTR and conversion (``None`` without impressions).

    Rows are ordered by time, then scenario, experiment and variant; ``start`` is the bucket's
    first second (epoch seconds, UTC). Answers outside an experiment have ``experiment_id`` and
    ``variant`` ``None``; ``model_version`` is the version that answered (the latest seen in the
    bucket when a variant's version changed within it).
    """
    since = (time.time() if now is None else now) - days * DAY
    s, f = served.c, feedback.c
    with store.engine.connect() as conn:
        b = _bucket(conn, bucket_seconds).label("bucket")
        keys = (b, s.scenario, s.experiment_id, s.variant)
        counts = conn.execute(
            select(*keys, func.count(), func.max(s.model_version))
            .where(s.ts >= since)
            .group_by(*keys)
        ).all()
        kinds = conn.execute(
            select(*keys, f.kind, func.count())
            .select_from(feedback.join(served, f.recommendation_id == s.recommendation_id))
            .where(s.ts >= since)
            .group_by(*keys, f.kind)
        ).all()
    got: dict[tuple[Any, ...], dict[str, int]] = {}
    for bucket, scenario, experiment, variant, kind, n in kinds:
        got.setdefault((bucket, scenario, experiment, variant), {})[kind] = int(n)
    rows = []
    for bucket, scenario, experiment, variant, n, version in counts:
        found = got.get((bucket, scenario, experiment, variant), {})
        shown = found.get("impression", 0)
        row: dict[str, Any] = {
            "start": float(bucket) * bucket_seconds,
            "scenario": scenario,
            "experiment_id": experiment,
            "variant": variant,
            "model_version": version,
            "served": int(n),
        }
        row |= {_plural(k): found.get(k, 0) for k in _COUNTED}
        row["ctr"] = row["clicks"] / shown if shown else None
        row["conversion"] = row["purchases"] / shown if shown else None
        rows.append(row)
    rows.sort(key=lambda r: (r["start"], r["scenario"], str(r["experiment_id"]), str(r["variant"])))
    return rows


def _plural(kind: str) -> str:
    return {"impression": "impressions", "click": "clicks", "purchase": "purchases"}.get(kind, kind)


def catalog_coverage(
    store: Store, *, days: float = 30.0, now: float | None = None
) -> dict[str, Any]:
    """How much of the catalog the answers of the last `days` showed: ``items_recommended``
    (distinct items in any served list that are still in the catalog), ``catalog_items`` and
    their ratio ``share`` (``None`` for an empty catalog), and ``answers`` scanned.

    Reads the item lists of the window's answers in one pass (stream, not a list in memory).
    """
    since = (time.time() if now is None else now) - days * DAY
    seen: set[str] = set()
    answers = 0
    with store.engine.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=5_000).execute(
            select(served.c["items"]).where(served.c.ts >= since)
        )
        for (listed,) in result:
            answers += 1
            seen.update(str(i) for i in listed or ())
        catalog = {str(i) for (i,) in conn.execute(select(items.c.id))}
    shown = len(seen & catalog)
    return {
        "days": days,
        "answers": answers,
        "items_recommended": shown,
        "catalog_items": len(catalog),
        "share": shown / len(catalog) if catalog else None,
    }
