"""Recommendation scenarios: for a shopper, for an anonymous session, similar items, bought
together. Every answer carries a ``recommendation_id`` to send feedback against.

The routes are ``async`` and run their blocking work (store reads, scoring, the served log) in
one thread-pool call: for a plain ``def`` route FastAPI also validates the response on the
thread pool, a second thread hop per request. They return the documented
:class:`RecommendationsOut`, serialised by its model (:func:`answer_response`). With
``log=false`` the answer is not recorded as shown (previews, the dashboard).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Query, Response
from starlette.concurrency import run_in_threadpool

from cartwise.data.feedback import ServedLog
from cartwise.ranking.diversity import Diversity
from cartwise.ranking.filters import Filters
from cartwise.ranking.results import Served
from cartwise.service.routes.common import (
    DiversityDep,
    EngineDep,
    Explain,
    FiltersDep,
    ItemId,
    K,
    Log,
    ServedLogDep,
    UserId,
    answer_response,
    router,
)
from cartwise.service.schemas import RecommendationsOut, SessionIn
from cartwise.serving.engine import Engine

# the storefront widget asks for these lists from the shop's pages
reader = router("read", "recommendations", also=("storefront",))


@reader.get("/users/{user_id}/recommendations", response_model=RecommendationsOut)
async def for_user(
    user_id: UserId,
    engine: EngineDep,
    log: ServedLogDep,
    filters: FiltersDep,
    diversity: DiversityDep,
    k: K = 10,
    exclude_purchased: bool = True,
    logged: Log = True,
    explain: Explain = False,
) -> Response:
    """Top-k for a shopper from their latest events (a shopper never seen gets the cold-start
    ranking). Unavailable items are never returned; purchased ones are left out by default;
    one item per variant group unless ``all_variants``. With ``explain=true`` each item has
    its evidence and a sentence (phrased by the configured language model within
    ``CARTWISE_EXPLAIN_BUDGET_MS``, else by template)."""
    return await _answered(
        engine,
        log if logged else None,
        "user",
        user_id,
        lambda: engine.recommend_user(
            user_id,
            k,
            exclude_purchased=exclude_purchased,
            filters=filters,
            diversity=diversity,
            explain=explain,
        ),  # fmt: skip
    )


@reader.post("/sessions/recommendations", response_model=RecommendationsOut)
async def for_session(body: SessionIn, engine: EngineDep, log: ServedLogDep) -> Response:
    """Top-k for an anonymous shopper from the events of the current session (not stored)."""
    filters = Filters(body.category, body.min_price, body.max_price, body.type, body.all_variants)

    def work() -> Served:
        return engine.recommend_session(
            [(e.item_id, e.kind.value) for e in body.events],
            body.k,
            exclude_purchased=body.exclude_purchased,
            filters=filters,
            diversity=Diversity(body.diversity),
            explain=body.explain,
            session_id=body.session_id,
        )

    return await _answered(engine, log if body.log else None, "session", None, work)


@reader.get("/items/{item_id}/similar", response_model=RecommendationsOut)
async def similar(
    item_id: ItemId,
    engine: EngineDep,
    log: ServedLogDep,
    filters: FiltersDep,
    k: K = 10,
    logged: Log = True,
    explain: Explain = False,
) -> Response:
    """Items like this one (404 for an unknown item)."""
    return await _answered(
        engine,
        log if logged else None,
        "similar",
        None,
        lambda: engine.similar(item_id, k, filters=filters, explain=explain),
    )


@reader.get("/items/{item_id}/complements", response_model=RecommendationsOut)
async def complements(
    item_id: ItemId,
    engine: EngineDep,
    log: ServedLogDep,
    filters: FiltersDep,
    k: K = 10,
    window_days: Annotated[float, Query(gt=0, le=3650, allow_inf_nan=False)] = 30.0,
    min_support: Annotated[int, Query(ge=1, le=1_000_000)] = 2,
    logged: Log = True,
) -> Response:
    """Bought together: items shoppers bought with or within `window_days` after this one,
    ranked by a cautious lift; completed with items declared to fit it (``compatible_with``),
    then with accessories closest to it in text (404 for an unknown item)."""
    return await _answered(
        engine,
        log if logged else None,
        "complements",
        None,
        lambda: engine.complements(
            item_id, k, window_days=window_days, min_support=min_support, filters=filters
        ),
    )


async def _answered(
    engine: Engine,
    log: ServedLog | None,
    scenario: str,
    user_id: str | None,
    serve: Callable[[], Served],
) -> Response:
    """``answer_response(...)`` of ``serve()`` in one thread-pool call; not logged when `log`
    is None."""
    return await run_in_threadpool(
        lambda: answer_response(engine, scenario, user_id, serve(), log, logged=log is not None)
    )
