"""Feedback on served answers, and the online metrics it yields."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Query

from cartwise.data.feedback import FeedbackRecord, online_metrics, record_feedback
from cartwise.data.timeline import DAY, catalog_coverage, online_timeline
from cartwise.service.routes.common import EngineDep, router
from cartwise.service.schemas import (
    CoverageOut,
    FeedbackIn,
    FeedbackOut,
    OnlineOut,
    OnlineRow,
    TimelineOut,
    TimelineRow,
)

Days = Annotated[float, Query(gt=0, le=3660, description="how many days back, up to ten years")]
BUCKETS = {"hour": 3_600.0, "day": DAY, "week": 7 * DAY}

# the storefront widget reports impressions and clicks from the shop's pages
writer = router("write", "feedback", also=("storefront",))
reader = router("read", "feedback")


@writer.post("/feedback", response_model=FeedbackOut)
def post_feedback(body: FeedbackIn, engine: EngineDep) -> FeedbackOut:
    """Store impressions, clicks and purchases of served items, all or nothing. Retries are
    harmless: (recommendation_id, item_id, kind) is stored once (``duplicates`` counts the
    repeats); a click or purchase implies the item's impression if it was not posted."""
    records = [
        FeedbackRecord(e.recommendation_id, e.item_id, e.kind, e.timestamp, e.value)
        for e in body.events
    ]
    done = record_feedback(engine.store, records)
    return FeedbackOut(
        stored=done.stored, duplicates=done.duplicates, implied_impressions=done.implied_impressions
    )


@reader.get("/feedback/metrics", response_model=OnlineOut)
def feedback_metrics(engine: EngineDep) -> OnlineOut:
    """Answers served, impressions, clicks, purchases and CTR per model version and scenario."""
    return OnlineOut(rows=[OnlineRow.model_validate(r) for r in online_metrics(engine.store)])


@reader.get("/feedback/timeline", response_model=TimelineOut)
def feedback_timeline(
    engine: EngineDep,
    days: Days = 30.0,
    bucket: Annotated[
        Literal["hour", "day", "week"], Query(description="the width of a time bucket")
    ] = "day",
) -> TimelineOut:
    """Served answers, impressions, clicks, cart adds, purchases, CTR and conversion per time
    bucket, scenario and experiment variant: what the dashboard's charts draw."""
    width = BUCKETS[bucket]
    rows = online_timeline(engine.store, days=days, bucket_seconds=width)
    return TimelineOut(
        days=days, bucket_seconds=width, rows=[TimelineRow.model_validate(r) for r in rows]
    )


@reader.get("/feedback/coverage", response_model=CoverageOut)
def feedback_coverage(engine: EngineDep, days: Days = 30.0) -> CoverageOut:
    """Catalog coverage: the share of the catalog's items shown in at least one answer served
    in the last `days`."""
    return CoverageOut.model_validate(catalog_coverage(engine.store, days=days))
