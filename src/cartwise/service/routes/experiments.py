"""A/B tests: list and read their online reports (read scope); create and stop (admin)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query
from fastapi.responses import JSONResponse

from cartwise.data.experiments import (
    Experiment,
    Variant,
    create_experiment,
    list_experiments,
    stop_experiment,
)
from cartwise.evaluation.online_report import experiment_report
from cartwise.service.experiment_schemas import ExperimentIn, ExperimentReportOut, ExperimentsOut
from cartwise.service.routes.common import EngineDep, router
from cartwise.service.schemas import ErrorOut
from cartwise.serving.engine import Engine

reader = router("read", "experiments")
admin = router("admin", "experiments")

ExperimentId = Annotated[str, Path(min_length=1, max_length=64, description="experiment id")]
CONFLICT: dict[int | str, dict[str, object]] = {
    409: {"model": ErrorOut, "description": "the id is taken, a running experiment covers the "
          "scenario, or the experiment was stopped already"}
}  # fmt: skip
KParam = Annotated[int, Query(ge=1, le=100, description="positions counted by ctr@k")]


def _report(engine: Engine, experiment_id: str, k: int) -> ExperimentReportOut:
    return ExperimentReportOut.model_validate(experiment_report(engine.store, experiment_id, k))


@reader.get("/experiments", response_model=ExperimentsOut)
def experiments(
    engine: EngineDep,
    k: KParam = 10,
    running: Annotated[bool, Query(description="only the running ones")] = False,
) -> ExperimentsOut:
    """Experiments, running first, each with impressions, CTR@k, add-to-cart and purchase
    rates and revenue per 1,000 impressions per variant and scenario, with intervals and the
    test against the control."""
    found = list_experiments(engine.store, running_only=running)
    found.sort(key=lambda e: e.status != "running")
    return ExperimentsOut(experiments=[_report(engine, e.id, k) for e in found])


@reader.get("/experiments/{experiment_id}", response_model=ExperimentReportOut)
def experiment(
    experiment_id: ExperimentId, engine: EngineDep, k: KParam = 10
) -> ExperimentReportOut:
    """One experiment's report (404 when unknown)."""
    return _report(engine, experiment_id, k)


@admin.post("/experiments", response_model=ExperimentReportOut, status_code=201, responses=CONFLICT)
def create(body: ExperimentIn, engine: EngineDep) -> JSONResponse:
    """Start an A/B test: shoppers (by id) and anonymous sessions (by ``session_id``) are
    split by a salted hash over the variants' weights; 422 for a bad definition or unknown
    model version, 409 when the id is taken or a running experiment covers a scenario."""
    exp = Experiment(
        id=body.id,
        description=body.description,
        salt=body.salt or "",
        variants=[
            Variant(v.name, v.model_version, v.weight, dict(v.settings)) for v in body.variants
        ],
        scenarios=list(body.scenarios) if body.scenarios is not None else None,
        planned_impressions=body.planned_impressions,
        alpha=body.alpha,
    )
    create_experiment(engine.store, exp, versions=engine.versions.list())
    engine.routing.changed()
    report = _report(engine, body.id, 10)
    return JSONResponse(report.model_dump(mode="json"), status_code=201)


@admin.post(
    "/experiments/{experiment_id}/stop", response_model=ExperimentReportOut, responses=CONFLICT
)
def stop(experiment_id: ExperimentId, engine: EngineDep) -> ExperimentReportOut:
    """Stop an experiment: its shoppers go back to the active version; its report stays
    readable (409 when it was stopped already)."""
    stop_experiment(engine.store, experiment_id)
    engine.routing.changed()
    return _report(engine, experiment_id, 10)
