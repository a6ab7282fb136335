"""Pieces the route modules share: the engine from app state, filter parameters, answers."""

from __future__ import annotations

import math
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from cartwise.data.feedback import ServedLog, log_served
from cartwise.ranking.diversity import Diversity
from cartwise.ranking.explain import Explanation
from cartwise.ranking.filters import Filters
from cartwise.ranking.results import Served
from cartwise.service.auth import Scope, require
from cartwise.service.http import StrictJSONRoute
from cartwise.service.schemas import (
    MAX_ID,
    ErrorOut,
    EvidenceOut,
    ExplanationOut,
    RecommendationsOut,
    Recommended,
)
from cartwise.serving.engine import Engine

#: Documented error answers of every route.
ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorOut, "description": text}
    for code, text in (
        (401, "missing or unknown API key"),
        (403, "the key lacks the scope, or a remote client with no keys configured"),
        (404, "unknown item or user"),
        (413, "request body too large"),
        (422, "invalid request; every bad field is listed"),
        (503, "no model is trained yet, or the store is unavailable"),
    )
}


def router(scope: Scope | None, tag: str, *, also: tuple[Scope, ...] = ()) -> APIRouter:
    """A router whose routes need `scope` or one of `also` (None: open) and parse JSON
    strictly."""
    deps = [Depends(require(scope, *also))] if scope else []
    return APIRouter(route_class=StrictJSONRoute, dependencies=deps, tags=[tag], responses=ERRORS)


async def engine_of(request: Request) -> Engine:
    """The app's engine (dependencies that never block are ``async``: FastAPI runs a plain
    ``def`` dependency on the thread pool, a thread hop per dependency and request)."""
    engine: Engine = request.app.state.engine
    return engine


EngineDep = Annotated[Engine, Depends(engine_of)]
K = Annotated[int, Query(ge=1, le=100, description="how many items")]
UserId = Annotated[str, Path(min_length=1, max_length=MAX_ID, description="shopper id")]
ItemId = Annotated[str, Path(min_length=1, max_length=MAX_ID, description="item id")]
Log = Annotated[
    bool,
    Query(
        alias="log",
        description="record the answer as shown (feedback, online metrics); false for previews "
        "such as the dashboard's",
    ),
]


async def filter_params(
    category: Annotated[str | None, Query(max_length=256, description="any level")] = None,
    min_price: Annotated[float | None, Query(ge=0, allow_inf_nan=False)] = None,
    max_price: Annotated[float | None, Query(ge=0, allow_inf_nan=False)] = None,
    type: Annotated[str | None, Query(max_length=64, description="attributes.type")] = None,
    all_variants: Annotated[
        bool, Query(description="every variant of a product (default: one per group)")
    ] = False,
) -> Filters:
    """Business-rule filters from query parameters."""
    return Filters(category, min_price, max_price, type, all_variants)


async def diversity_params(
    diversity: Literal["none", "mmr", "category_cap"] = "none",
    mmr_lambda: Annotated[float, Query(ge=0, le=1, allow_inf_nan=False)] = 0.7,
    max_per_category: Annotated[int, Query(ge=1, le=100)] = 2,
) -> Diversity:
    """Diversity settings from query parameters."""
    return Diversity(diversity, mmr_lambda, max_per_category)


FiltersDep = Annotated[Filters, Depends(filter_params)]
DiversityDep = Annotated[Diversity, Depends(diversity_params)]


def finite(value: float) -> float:
    """JSON has no infinities: clamp them (and NaN becomes 0)."""
    if math.isnan(value):
        return 0.0
    return value if math.isfinite(value) else math.copysign(1e308, value)


async def served_log_of(request: Request) -> ServedLog:
    """The app's log of served answers."""
    log: ServedLog = request.app.state.served_log
    return log


ServedLogDep = Annotated[ServedLog, Depends(served_log_of)]


def answer(
    engine: Engine,
    scenario: str,
    user_id: str | None,
    served: Served,
    log: ServedLog | None = None,
    *,
    logged: bool = True,
) -> RecommendationsOut:
    """Log `served` (for feedback; through `log` when given, not at all unless `logged`) and
    turn it into the declared response model (built without validating again: every part was
    made from validated records)."""
    rec_id = _logged(engine, scenario, user_id, served, log) if logged else None
    return RecommendationsOut.model_construct(
        recommendation_id=rec_id,
        scenario=scenario,
        model_version=served.version,
        experiment=served.variant[0] if served.variant else None,
        variant=served.variant[1] if served.variant else None,
        user_id=user_id,
        items=_recommended(served),
        message=served.message,
    )


def answer_response(
    engine: Engine,
    scenario: str,
    user_id: str | None,
    served: Served,
    log: ServedLog | None = None,
    *,
    logged: bool = True,
) -> Response:
    """:func:`answer` serialised by its model: the response the route declares.

    Returning a Response skips FastAPI's response-model pass (dump, validate again, encode),
    which would validate every item record a second time.
    """
    body = answer(engine, scenario, user_id, served, log, logged=logged).model_dump_json()
    return Response(body, media_type="application/json")


def _logged(
    engine: Engine, scenario: str, user_id: str | None, served: Served, log: ServedLog | None
) -> str:
    ids = [r.item.id for r in served.items]
    if log is not None:
        return log.log(scenario, user_id, served.version, ids, served.variant)
    return log_served(engine.store, scenario, user_id, served.version, ids, served.variant)


def _recommended(served: Served) -> list[Recommended]:
    return [
        Recommended.model_construct(
            item_id=r.item.id,
            score=finite(r.score),
            reason=r.reason,
            item=r.item,
            details={k: finite(float(v)) for k, v in r.details.items()},
            explanation=_explanation(r.explanation) if r.explanation is not None else None,
        )
        for r in served.items
    ]


def _explanation(found: Explanation) -> ExplanationOut:
    return ExplanationOut.model_construct(
        sentence=found.reason,
        source=found.source,
        evidence=[
            EvidenceOut.model_construct(kind=e.kind, text=e.text, weight=finite(e.weight))
            for e in found.evidence
        ],
    )


Explain = Annotated[
    bool, Query(description="each item with its evidence and a sentence phrased from it")
]
