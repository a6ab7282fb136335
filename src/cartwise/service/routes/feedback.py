"""Feedback on served answers, and the online metrics it yields."""

from __future__ import annotations

from cartwise.data.feedback import FeedbackRecord, online_metrics, record_feedback
from cartwise.service.routes.common import EngineDep, router
from cartwise.service.schemas import FeedbackIn, FeedbackOut, OnlineOut, OnlineRow

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
