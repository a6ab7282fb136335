"""Pieces the route modules share: the engine from app state, filter parameters, answers."""

from __future__ import annotations

import json
import math
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import TypeAdapter

from cartwise.data.feedback import ServedLog, log_served
from cartwise.ranking.diversity import Diversity
from cartwise.ranking.filters import Filters
from cartwise.ranking.results import Served
from cartwise.service.auth import Scope, require
from cartwise.service.http import StrictJSONRoute
from cartwise.service.schemas import ErrorOut, RecommendationsOut, Recommended
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


def router(scope: Scope | None, tag: str) -> APIRouter:
    """A router whose routes need `scope` (None: open) and parse JSON strictly."""
    deps = [Depends(require(scope))] if scope else []
    return APIRouter(route_class=StrictJSONRoute, dependencies=deps, tags=[tag], responses=ERRORS)


async def engine_of(request: Request) -> Engine:
    """The app's engine (dependencies that never block are ``async``: FastAPI runs a plain
    ``def`` dependency on the thread pool, a thread hop per dependency and request)."""
    engine: Engine = request.app.state.engine
    return engine


EngineDep = Annotated[Engine, Depends(engine_of)]
K = Annotated[int, Query(ge=1, le=100, description="how many items")]


async def filter_params(
    category: Annotated[str | None, Query(max_length=256, description="any level")] = None,
    min_price: Annotated[float | None, Query(ge=0, allow_inf_nan=False)] = None,
    max_price: Annotated[float | None, Query(ge=0, allow_inf_nan=False)] = None,
    type: Annotated[str | None, Query(max_length=64, description="attributes.type")] = None,
) -> Filters:
    """Business-rule filters from query parameters."""
    return Filters(category, min_price, max_price, type)


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
) -> RecommendationsOut:
    """Log `served` (for feedback; through `log` when given) and turn it into the response."""
    return RecommendationsOut(
        recommendation_id=_logged(engine, scenario, user_id, served, log),
        scenario=scenario,
        model_version=served.version,
        user_id=user_id,
        items=_recommended(served),
    )


def answer_response(
    engine: Engine,
    scenario: str,
    user_id: str | None,
    served: Served,
    log: ServedLog | None = None,
) -> Response:
    """:func:`answer` as the finished JSON response (the same document).

    The items are serialised once per answer object (:attr:`Served.rendered`): a cached answer
    comes back as the same object, so a repeat costs the served-log row and a few bytes of
    header. Returning a Response also skips FastAPI's response-model pass (dump, validate again,
    encode): ~0.1 ms per answer.
    """
    rec_id = _logged(engine, scenario, user_id, served, log)
    head = {
        "recommendation_id": rec_id,
        "scenario": scenario,
        "model_version": served.version,
        "user_id": user_id,
    }
    text = json.dumps(head, ensure_ascii=False, separators=(",", ":"))
    body = text[:-1].encode() + b',"items":' + rendered_items(served) + b"}"
    return Response(body, media_type="application/json")


_ITEMS = TypeAdapter(list[Recommended])


def rendered_items(served: Served) -> bytes:
    """The JSON list of `served`'s items, as in :class:`RecommendationsOut` (made once)."""
    body = served.rendered.get("json")
    if body is None:
        body = served.rendered["json"] = _ITEMS.dump_json(_recommended(served))
    return body


def _logged(
    engine: Engine, scenario: str, user_id: str | None, served: Served, log: ServedLog | None
) -> str:
    ids = [r.item.id for r in served.items]
    if log is not None:
        return log.log(scenario, user_id, served.version, ids)
    return log_served(engine.store, scenario, user_id, served.version, ids)


def _recommended(served: Served) -> list[Recommended]:
    return [
        Recommended(
            item_id=r.item.id,
            score=finite(r.score),
            reason=r.reason,
            item=r.item,
            details={k: finite(float(v)) for k, v in r.details.items()},
        )
        for r in served.items
    ]
