"""Health, readiness, Prometheus metrics, store and model status (model versions: versions.py)."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import JSONResponse, PlainTextResponse

from cartwise.service.routes.common import ERRORS, EngineDep, router
from cartwise.service.schemas import HealthOut, ReadyOut, StatsOut

public = router(None, "status")
reader = router("read", "status")


@public.get("/health", response_model=HealthOut)
async def health() -> HealthOut:
    """Liveness: the process answers."""
    return HealthOut(status="ok")


@public.get("/ready", response_model=ReadyOut, responses={503: {"model": ReadyOut}})
def ready(engine: EngineDep) -> ReadyOut | JSONResponse:
    """Readiness, for a load balancer's probe: 200 when the active model is loaded and the
    store answers, else 503 (with the same body, saying which is missing); says whether the
    search index is built yet (the server builds it in the background after it starts)."""
    store = engine.store.reachable()
    loaded = store and engine.ready()  # loading reads the catalog: only with a store
    ok = store and loaded
    body = ReadyOut(
        ready=ok,
        model_version=engine.active_version() if loaded else None,
        store=store,
        model_loaded=loaded,
        search_index=engine.search_ready(),
    )
    return body if ok else JSONResponse(body.model_dump(), status_code=503)


_JSON_ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}


@reader.get(
    "/metrics",
    response_class=PlainTextResponse,
    # errors are JSON even though this route answers text
    responses={code: {**doc, "content": _JSON_ERROR} for code, doc in ERRORS.items()},
)
def metrics(request: Request, engine: EngineDep) -> PlainTextResponse:
    """Request counts and latency histograms per route, and the model version (Prometheus)."""
    text = request.app.state.metrics.render(
        engine.active_version(), engine.ready(), engine.answers, engine.scorer.states
    )
    return PlainTextResponse(text, media_type="text/plain; version=0.0.4")


@reader.get("/stats", response_model=StatsOut)
def stats(engine: EngineDep) -> StatsOut:
    """Store counts, the active model version and its offline metrics (metrics.json)."""
    version = engine.active_version()
    info = engine.versions.info(version) if version else {}
    return StatsOut(store=engine.store.stats(), model_version=version, model_info=info)
