"""CLI command for the HTTP service: ``cartwise serve``."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Annotated, Any

import typer

from cartwise.cli.common import ModelDirOpt, StoreOpt, console
from cartwise.config import get_settings
from cartwise.errors import ConfigError

_log = logging.getLogger(__name__)


def serve(
    host: Annotated[
        str | None, typer.Option(help="address to listen on [env CARTWISE_HOST, 127.0.0.1]")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="port to listen on [env CARTWISE_PORT, 8000]")
    ] = None,
    workers: Annotated[int, typer.Option(min=1, help="server processes (one per core)")] = 1,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "info",
    store: StoreOpt = None,
    models: ModelDirOpt = None,
) -> None:
    """Serve the HTTP API (OpenAPI docs at /docs) and the dashboard (at /).

    Without API keys (CARTWISE_API_KEYS) the service only listens on, and answers, the local
    machine.
    """
    import uvicorn

    from cartwise.service.auth import is_loopback

    updates: dict[str, Any] = {}
    if store is not None:
        updates["store_url"] = store
    if models is not None:
        updates["model_dir"] = models
    if host is not None:
        updates["host"] = host
    if port is not None:
        updates["port"] = port
    settings = get_settings().model_copy(update=updates)
    if not settings.api_keys and not is_loopback(settings.host):
        raise ConfigError(
            f"refusing to listen on {settings.host} without API keys: set CARTWISE_API_KEYS "
            """(e.g. '{"my-key": ["read", "write"]}') or use --host 127.0.0.1"""
        )
    console.print(
        f"serving {settings.store_url} on http://{settings.host}:{settings.port} "
        f"(docs at /docs, dashboard at /)",
        highlight=False,
    )
    # Worker processes build their own app from the environment (app_from_env), so the
    # command-line overrides travel through it.
    os.environ["CARTWISE_STORE_URL"] = settings.store_url
    os.environ["CARTWISE_MODEL_DIR"] = str(settings.model_dir)
    uvicorn.run(
        "cartwise.service.app:app_from_env",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=workers,
        log_level=log_level,
    )


def register(command: Callable[[Callable[..., Any]], Any]) -> None:
    """Add this module's commands to the app."""
    command(serve)
