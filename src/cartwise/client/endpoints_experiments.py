"""The A/B test endpoints as functions that build their calls (see :mod:`.endpoints`): list and
read experiments with their online reports; create and stop them (admin key)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cartwise.client.call import Call, Route, drop_none, model, record
from cartwise.service.experiment_schemas import (
    ExperimentIn,
    ExperimentReportOut,
    ExperimentsOut,
    VariantIn,
)

EXPERIMENTS = Route("GET", "/experiments")
EXPERIMENT = Route("GET", "/experiments/{experiment_id}")
CREATE_EXPERIMENT = Route("POST", "/experiments", idempotent=False)
STOP_EXPERIMENT = Route("POST", "/experiments/{experiment_id}/stop", idempotent=False)

VariantRecord = VariantIn | Mapping[str, Any]


def experiments(*, running: bool = False, k: int | None = None) -> Call[ExperimentsOut]:
    """Experiments (running first) with impressions, CTR@k, add-to-cart and purchase rates and
    revenue per 1,000 impressions per variant and scenario, intervals and verdicts (``GET
    /experiments``)."""
    return EXPERIMENTS.call(model(ExperimentsOut), params=drop_none(running=running, k=k))


def experiment(experiment_id: str, *, k: int | None = None) -> Call[ExperimentReportOut]:
    """One experiment's report (``GET /experiments/{experiment_id}``)."""
    return EXPERIMENT.call(
        model(ExperimentReportOut), ids={"experiment_id": experiment_id}, params=drop_none(k=k)
    )


def create_experiment(
    experiment_id: str,
    variants: Sequence[VariantRecord],
    *,
    description: str = "",
    scenarios: Sequence[str] | None = None,
    planned_impressions: int = 10_000,
    alpha: float = 0.05,
    salt: str | None = None,
) -> Call[ExperimentReportOut]:
    """Start an A/B test; the first variant is the control (``POST /experiments``, admin key;
    201; not retried: a repeat answers 409, the id being taken)."""
    body = ExperimentIn.model_validate(
        {
            "id": experiment_id,
            "variants": [record(v) for v in variants],
            "description": description,
            "scenarios": scenarios,
            "planned_impressions": planned_impressions,
            "alpha": alpha,
            "salt": salt,
        }  # fmt: skip
    )
    return CREATE_EXPERIMENT.call(
        model(ExperimentReportOut), body=body.model_dump(mode="json"), ok=frozenset({201})
    )


def stop_experiment(experiment_id: str) -> Call[ExperimentReportOut]:
    """Stop an experiment; its report stays readable (``POST
    /experiments/{experiment_id}/stop``, admin key)."""
    return STOP_EXPERIMENT.call(model(ExperimentReportOut), ids={"experiment_id": experiment_id})
