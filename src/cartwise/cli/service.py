"""CLI command for the HTTP service: ``cartwise serve``."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cartwise.cli.common import ModelDirOpt, StoreOpt, console
from cartwise.config import Settings, get_settings, model_root
from cartwise.errors import ConfigError

if TYPE_CHECKING:
    from cartwise.lifecycle.schedule import RetrainScheduler

_log = logging.getLogger(__name__)


RetrainEveryOpt = Annotated[
    str | None,
    typer.Option(
        "--retrain-every",
        help="retrain in a subprocess on this schedule, e.g. 6h, 30m, 1d, when enough new "
        "events arrived (and promptly when the active version contains deleted shoppers) "
        "(env CARTWISE_RETRAIN_EVERY)",
    ),
]
DayOneOpt = Annotated[
    bool,
    typer.Option(
        "--day-one/--no-day-one",
        help="when no model was trained yet, build the pretrained text model (transfer, "
        "zero-shot) over the catalog in a subprocess and serve it once ready",
    ),
]
RetrainMinEventsOpt = Annotated[
    int, typer.Option(min=1, help="a scheduled retrain runs only after this many new events")
]


def serve(
    host: Annotated[
        str | None, typer.Option(help="address to listen on [env CARTWISE_HOST, 127.0.0.1]")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="port to listen on [env CARTWISE_PORT, 8000]")
    ] = None,
    workers: Annotated[int, typer.Option(min=1, help="server processes (one per core)")] = 1,
    insecure_local: Annotated[
        bool,
        typer.Option(
            "--insecure-local",
            help="serve without API keys, to this machine only (a loopback --host) "
            "[env CARTWISE_INSECURE_LOCAL]",
        ),
    ] = False,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "info",
    retrain_every: RetrainEveryOpt = None,
    retrain_min_events: RetrainMinEventsOpt = 1,
    day_one: DayOneOpt = True,
    store: StoreOpt = None,
    models: ModelDirOpt = None,
) -> None:
    """Serve the HTTP API (OpenAPI docs at /docs) and the dashboard (at /).

    API keys (CARTWISE_API_KEYS) are required; without them, --insecure-local serves this
    machine only (loopback address; every other client gets 403). X-Forwarded-For is honoured
    only from the proxies in CARTWISE_FORWARDED_ALLOW_IPS.
    """
    import uvicorn

    given = {"store_url": store, "model_dir": models, "host": host, "port": port,
             "model_url": "" if models is not None else None,
             "insecure_local": insecure_local or None}  # fmt: skip
    updates = {k: v for k, v in given.items() if v is not None}
    settings = get_settings().model_copy(update=updates)
    check_no_key_mode(settings)
    console.print(
        f"serving {settings.store_url} on http://{settings.host}:{settings.port} "
        f"(docs at /docs, dashboard at /)",
        highlight=False,
    )
    # Worker processes build their own app from the environment (app_from_env), so the
    # command-line overrides travel through it.
    os.environ["CARTWISE_STORE_URL"] = settings.store_url
    os.environ["CARTWISE_MODEL_DIR"] = str(settings.model_dir)
    if settings.model_url is not None:
        os.environ["CARTWISE_MODEL_URL"] = settings.model_url
    os.environ["CARTWISE_INSECURE_LOCAL"] = "true" if settings.insecure_local else "false"
    scheduler = retrain_scheduler(settings, retrain_every, retrain_min_events)
    if scheduler is not None:
        scheduler.start()
    first = start_day_one(settings) if day_one else None
    try:
        _run(uvicorn, settings, workers, log_level)
    finally:
        if scheduler is not None:
            scheduler.stop()
        if first is not None and first.poll() is None:
            first.terminate()


def start_day_one(settings: Settings) -> subprocess.Popen[bytes] | None:
    """For a store with a catalog and no model version yet: ``cartwise train --model transfer
    --set fine_tune=false`` in a subprocess (the pretrained text model over the catalog, no
    training on events; the service answers with popularity until it is activated, then the
    replicas pick it up). None when a version exists or the catalog is empty."""
    from cartwise.data.store import Store
    from cartwise.lifecycle import Versions

    if Versions(model_root(settings)).active() is not None:
        return None
    store = Store.open(settings.store_url)
    try:
        items = store.counts()["items"]
    finally:
        store.close()
    if items == 0:
        return None
    console.print(f"no model yet: building the day-one text model over {items} items",
                  highlight=False)  # fmt: skip
    command = [sys.executable, "-m", "cartwise", "train", "--model", "transfer",
               "--set", "fine_tune=false"]  # fmt: skip
    return subprocess.Popen(command)  # noqa: S603 (our own CLI, fixed arguments)


def retrain_scheduler(
    settings: Settings, every: str | None, min_events: int
) -> RetrainScheduler | None:
    """The retrain timer ``--retrain-every`` (or the settings) asks for, None without one; its
    retrains run ``python -m cartwise retrain`` over the environment's store and folder."""
    from cartwise.lifecycle import Versions
    from cartwise.lifecycle.schedule import DELETED, RetrainScheduler, parse_duration

    if every is not None:
        seconds = parse_duration(every)
    elif settings.retrain_every is not None:
        seconds = settings.retrain_every.total_seconds()
    else:
        return None

    def command(reason: str) -> list[str]:
        when = ["--exclude-deleted"] if reason == DELETED else ["--if-new-events", str(min_events)]
        return [sys.executable, "-m", "cartwise", "retrain", *when]

    console.print(f"retraining every {seconds:g} s when {min_events}+ new events arrived",
                  highlight=False)  # fmt: skip
    return RetrainScheduler(Versions(model_root(settings)), command, seconds)


def _run(uvicorn: Any, settings: Settings, workers: int, log_level: str) -> None:
    uvicorn.run(
        "cartwise.service.app:app_from_env",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=workers,
        log_level=log_level,
        proxy_headers=settings.forwarded_allow_ips is not None,
        forwarded_allow_ips=settings.forwarded_allow_ips,
    )


def check_no_key_mode(settings: Settings) -> None:
    """Refuse to serve without API keys unless --insecure-local was given, on loopback only."""
    from cartwise.service.auth import is_loopback  # late: the CLI starts without FastAPI

    if settings.api_keys:
        return
    if not settings.insecure_local:
        raise ConfigError(
            "refusing to serve without API keys: set CARTWISE_API_KEYS (e.g. "
            """'{"my-key": ["admin"]}'), or pass --insecure-local to serve this machine only"""
        )
    if not is_loopback(settings.host):
        raise ConfigError(
            f"refusing to serve {settings.host} without API keys: --insecure-local listens on "
            "a loopback address only (--host 127.0.0.1); set CARTWISE_API_KEYS for remote clients"
        )


def register(command: Callable[..., Any]) -> None:
    """Add this module's commands to the app."""
    command(serve)
