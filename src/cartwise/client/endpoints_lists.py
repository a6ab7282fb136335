"""The endpoints that answer lists (recommendations, search, sponsored ranking) and the feedback
on them, as functions that build their :class:`~.call.Call` (see :mod:`.endpoints`).

Every answered list has a ``recommendation_id`` (None with ``log=False``): send impressions,
clicks and purchases against it with :func:`send_feedback`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, Unpack

from cartwise.client.call import Call, Filters, Route, drop_none, model, record
from cartwise.service.schemas import (
    AdCandidate,
    AdsOut,
    CoverageOut,
    FeedbackEvent,
    FeedbackOut,
    OnlineOut,
    RecommendationsOut,
    SessionEvent,
    TimelineOut,
)

FOR_USER = Route("GET", "/users/{user_id}/recommendations")
FOR_SESSION = Route("POST", "/sessions/recommendations")
SIMILAR = Route("GET", "/items/{item_id}/similar")
COMPLEMENTS = Route("GET", "/items/{item_id}/complements")
SEARCH = Route("POST", "/search")
RANK_ADS = Route("POST", "/ads/rank")
FEEDBACK = Route("POST", "/feedback")
FEEDBACK_METRICS = Route("GET", "/feedback/metrics")
FEEDBACK_TIMELINE = Route("GET", "/feedback/timeline")
FEEDBACK_COVERAGE = Route("GET", "/feedback/coverage")

Diversity = Literal["none", "mmr", "category_cap"]
SessionRecord = SessionEvent | Mapping[str, Any]
AdRecord = AdCandidate | Mapping[str, Any]
FeedbackRecord = FeedbackEvent | Mapping[str, Any]

_answer = model(RecommendationsOut)


def recommend_user(
    user_id: str,
    k: int = 10,
    *,
    exclude_purchased: bool = True,
    diversity: Diversity = "none",
    mmr_lambda: float | None = None,
    max_per_category: int | None = None,
    log: bool = True,
    **filters: Unpack[Filters],
) -> Call[RecommendationsOut]:
    """ "For you": top-`k` for a shopper from their latest events; a shopper never seen gets the
    cold-start ranking (``GET /users/{user_id}/recommendations``). `log=False` for previews
    that are not shown to the shopper (no ``recommendation_id`` then)."""
    params = drop_none(
        k=k,
        exclude_purchased=exclude_purchased,
        diversity=diversity,
        mmr_lambda=mmr_lambda,
        max_per_category=max_per_category,
        log=log,
        **filters,
    )
    return FOR_USER.call(_answer, ids={"user_id": user_id}, params=params)


def recommend_session(
    events: Sequence[SessionRecord],
    k: int = 10,
    *,
    exclude_purchased: bool = True,
    diversity: Diversity = "none",
    log: bool = True,
    session_id: str | None = None,
    **filters: Unpack[Filters],
) -> Call[RecommendationsOut]:
    """Top-`k` for an anonymous shopper from this session's events, oldest first (``POST
    /sessions/recommendations``; the events are not stored). `session_id` assigns the session
    a variant of a running experiment."""
    body = {
        "events": [record(e) for e in events],
        "session_id": session_id,
        "k": k,
        "exclude_purchased": exclude_purchased,
        "diversity": diversity,
        "log": log,
        **filters,
    }
    return FOR_SESSION.call(_answer, body=body)


def similar(
    item_id: str, k: int = 10, *, log: bool = True, **filters: Unpack[Filters]
) -> Call[RecommendationsOut]:
    """Items like this one (``GET /items/{item_id}/similar``; 404 for an unknown item)."""
    params = drop_none(k=k, log=log, **filters)
    return SIMILAR.call(_answer, ids={"item_id": item_id}, params=params)


def complements(
    item_id: str,
    k: int = 10,
    *,
    window_days: float | None = None,
    min_support: int | None = None,
    log: bool = True,
    **filters: Unpack[Filters],
) -> Call[RecommendationsOut]:
    """Bought together: what shoppers bought with or soon after this item, completed with
    items declared to fit it (``GET /items/{item_id}/complements``; 404 for an unknown item)."""
    params = drop_none(k=k, window_days=window_days, min_support=min_support, log=log, **filters)
    return COMPLEMENTS.call(_answer, ids={"item_id": item_id}, params=params)


def search(
    query: str,
    k: int = 10,
    *,
    user_id: str | None = None,
    personalization: float | None = None,
    log: bool = True,
    **filters: Unpack[Filters],
) -> Call[RecommendationsOut]:
    """Free-text search, personalised for `user_id` when given (``POST /search``). When
    nothing is related to the query the list is empty and ``message`` says so."""
    body = drop_none(query=query, k=k, user_id=user_id, personalization=personalization, log=log)
    return SEARCH.call(_answer, body={**body, **filters})


def rank_ads(
    user_id: str,
    candidates: Sequence[AdRecord],
    k: int = 3,
    *,
    relevance_floor: float | None = None,
    log: bool = True,
) -> Call[AdsOut]:
    """Rank sponsored candidates for a shopper by engagement probability x bid, among those
    relevant enough (``POST /ads/rank``)."""
    body = drop_none(user_id=user_id, k=k, relevance_floor=relevance_floor, log=log)
    return RANK_ADS.call(
        model(AdsOut), body={**body, "candidates": [record(c) for c in candidates]}
    )


def send_feedback(events: Sequence[FeedbackRecord]) -> Call[FeedbackOut]:
    """Store impressions, clicks, add-to-carts and purchases (with their ``value``) of served
    items, all or nothing (``POST
    /feedback``). The service stores (recommendation_id, item_id, kind) once, so retries are
    harmless: a repeat is counted in ``duplicates``."""
    return FEEDBACK.call(model(FeedbackOut), body={"events": [record(e) for e in events]})


def feedback_metrics() -> Call[OnlineOut]:
    """Answers served, impressions, clicks, purchases and CTR per model version and scenario
    (``GET /feedback/metrics``)."""
    return FEEDBACK_METRICS.call(model(OnlineOut))


def feedback_timeline(
    days: float = 30.0, bucket: Literal["hour", "day", "week"] = "day"
) -> Call[TimelineOut]:
    """Served answers, impressions, clicks, cart adds, purchases, CTR and conversion per time
    bucket, scenario and experiment variant over the last `days` (``GET /feedback/timeline``)."""
    return FEEDBACK_TIMELINE.call(model(TimelineOut), params={"days": days, "bucket": bucket})


def catalog_coverage(days: float = 30.0) -> Call[CoverageOut]:
    """The share of the catalog shown in at least one answer of the last `days` (``GET
    /feedback/coverage``)."""
    return FEEDBACK_COVERAGE.call(model(CoverageOut), params={"days": days})
