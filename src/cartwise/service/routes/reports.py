"""The store evaluation report of the active version ("how good is this model on my shop").

``POST /reports`` (admin) starts ``cartwise evaluate --store`` in a background subprocess —
minutes of training never run inside a request — and answers at once; ``GET /reports`` says
how the latest job is doing; ``GET /reports/latest`` serves the newest finished report (HTML).
Jobs and their reports live in ``<model folder>/reports/`` (:mod:`cartwise.lifecycle.jobs`; with
a model URL, under this machine's cache of it: a replica reports its own jobs).
"""

from __future__ import annotations

import os

from fastapi.responses import FileResponse, JSONResponse

from cartwise.errors import ModelError, NotFoundError
from cartwise.lifecycle.jobs import REPORT, Job, Jobs, report_argv
from cartwise.service.routes.common import EngineDep, router
from cartwise.service.schemas import ReportJobOut
from cartwise.serving.engine import Engine

reader = router("read", "reports")
admin = router("admin", "reports")

LATEST = "/reports/latest"


def jobs_of(engine: Engine) -> Jobs:
    """The report jobs of the engine's model folder."""
    return Jobs(engine.versions.root / "reports")


def _out(job: Job, new: bool = False) -> ReportJobOut:
    return ReportJobOut(
        id=job.id, state=job.state, started=job.started, finished=job.finished,
        exit_code=job.exit_code, about=job.about, log_tail=job.log_tail,
        report=LATEST if job.state == "done" else None, new=new,
    )  # fmt: skip


@admin.post("/reports", response_model=ReportJobOut, status_code=202)
def start_report(engine: EngineDep) -> JSONResponse:
    """Start evaluating the active version's model and settings (and the popularity baseline)
    on the store's events, temporal split, in a background process; 202 with the job. When a
    job is running already, 202 with that job (``new`` false)."""
    active = engine.versions.active()
    if active is None:
        raise ModelError("no active model version to evaluate; train one with 'cartwise train'")
    where = "CARTWISE_MODEL_URL" if engine.versions.remote else "CARTWISE_MODEL_DIR"
    env = {**os.environ, "CARTWISE_STORE_URL": engine.store.url, where: engine.versions.where}
    job, new = jobs_of(engine).start(
        report_argv(engine.versions, active), about={"version": active}, env=env
    )
    return JSONResponse(_out(job, new).model_dump(), status_code=202)


@reader.get("/reports", response_model=ReportJobOut)
def report_status(engine: EngineDep) -> ReportJobOut:
    """The latest store evaluation job: running, done or failed (with its output's end)."""
    job = jobs_of(engine).latest()
    if job is None:
        raise NotFoundError("no store evaluation was started yet; POST /reports starts one")
    return _out(job)


@reader.get(LATEST, response_class=FileResponse)
def latest_report(engine: EngineDep) -> FileResponse:
    """The newest finished store evaluation report (HTML, plots inline)."""
    jobs = jobs_of(engine)
    found = jobs.latest_output(REPORT)
    if found is None:
        current = jobs.latest()
        if current is not None and current.state == "running":
            raise NotFoundError(
                f"the store evaluation started {current.started} is still running; "
                "GET /reports says when it is done"
            )
        raise NotFoundError("no store evaluation report yet; POST /reports starts one")
    return FileResponse(found[1], media_type="text/html")
