"""The model-version and store-report endpoints as functions that build their calls (see
:mod:`.endpoints`): a version's details, rollback, prune, and the evaluation report jobs."""

from __future__ import annotations

from cartwise.client.call import Call, Route, model, text
from cartwise.service.schemas import ActivatedOut, PrunedOut, ReportJobOut, VersionOut

VERSION = Route("GET", "/models/{version}")
ROLLBACK = Route("POST", "/models/rollback", idempotent=False)
PRUNE = Route("POST", "/models/prune")
START_REPORT = Route("POST", "/reports", idempotent=False)
REPORT_STATUS = Route("GET", "/reports")
LATEST_REPORT = Route("GET", "/reports/latest")


def model_version(version: str) -> Call[VersionOut]:
    """One saved version with its offline and online metrics (``GET /models/{version}``)."""
    return VERSION.call(model(VersionOut), ids={"version": version})


def rollback() -> Call[ActivatedOut]:
    """Activate the version active before the current one (``POST /models/rollback``, admin
    key; not retried: a second rollback would go one step further)."""
    return ROLLBACK.call(model(ActivatedOut))


def prune(keep: int) -> Call[PrunedOut]:
    """Delete all but the `keep` newest versions, never the active one or the rollback target
    (``POST /models/prune``, admin key)."""
    return PRUNE.call(model(PrunedOut), params={"keep": keep})


def start_report() -> Call[ReportJobOut]:
    """Start the store evaluation of the active version in the background (``POST
    /reports``, admin key; 202 with the job, or the one already running)."""
    return START_REPORT.call(model(ReportJobOut), ok=frozenset({200, 202}))


def report_status() -> Call[ReportJobOut]:
    """The latest store evaluation job (``GET /reports``)."""
    return REPORT_STATUS.call(model(ReportJobOut))


def latest_report() -> Call[str]:
    """The latest store evaluation report as HTML (``GET /reports/latest``)."""
    return LATEST_REPORT.call(text)
