"""The FastAPI application: :func:`create_app` builds everything from an Engine and Settings.

No module-level state: two apps over two stores can live in one process. For ``uvicorn
--factory`` use :func:`app_from_env`, which reads the settings from the environment.

Security: with ``api_keys`` configured every route but ``/health``, ``/ready`` and the dashboard's
static files needs a key with the route's scope. With no keys the service answers loopback
clients only (see :mod:`cartwise.service.auth`).
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline

from cartwise import __version__
from cartwise.config import Settings, get_settings
from cartwise.data.feedback import ServedLog, ensure_tables
from cartwise.errors import ConfigError
from cartwise.service.auth import KeyRing
from cartwise.service.errors import install_error_handlers
from cartwise.service.http import BodyLimitMiddleware
from cartwise.service.metrics import Metrics, MetricsMiddleware
from cartwise.service.routes import (
    admin,
    catalog,
    events,
    experiments,
    feedback,
    recommend,
    reports,
    search,
    versions,
    widget,
)
from cartwise.service.routes import privacy as privacy_routes
from cartwise.serving.engine import Engine

_log = logging.getLogger(__name__)

DASHBOARD = Path(__file__).resolve().parent / "dashboard"

DESCRIPTION = """\
Recommendations for an online store: catalog, shoppers and events in; personalised lists,
similar items, bought-together, search and sponsored ranking out. Every answer has a
`recommendation_id` to send feedback (impressions, clicks, add-to-carts, purchases) against;
inside a running A/B test (`/experiments`) it also names the experiment and variant.

Send the API key in the `X-API-Key` header (or `Authorization: Bearer`); keys and their scopes
(`read`, `write`, `admin`; admin implies the others) come from `CARTWISE_API_KEYS`. With no keys
configured the service is open but answers the local machine (loopback) only. `/health`, `/ready`
and the dashboard need no key. Errors are `{"error": {"type", "message", "fields"}}`.

Shop pages: `/widget.js` renders recommendations into a page and reports impressions and clicks;
give it a key with the `storefront` scope only (recommendation lists and feedback), and list the
shop's origins in `CARTWISE_CORS_ORIGINS`.
"""


NO_KEYS = (
    'no API keys configured: set CARTWISE_API_KEYS (e.g. \'{"my-key": ["admin"]}\'), or, to '
    "serve this machine only without keys, CARTWISE_INSECURE_LOCAL=true (cartwise serve "
    "--insecure-local) on a loopback address"
)


def create_app(engine: Engine, settings: Settings) -> FastAPI:
    """The HTTP service around `engine`, configured by `settings`.

    Raises:
        ConfigError: no API keys are configured and ``insecure_local`` was not asked for.
    """
    if not settings.api_keys and not settings.insecure_local:
        raise ConfigError(NO_KEYS)
    ensure_tables(engine.store)
    app = FastAPIOffline(  # /docs and /redoc assets from the package: no CDN
        title="Cartwise",
        version=__version__,
        description=DESCRIPTION,
    )
    app.state.engine = engine
    app.state.settings = settings
    app.state.keys = KeyRing(settings.api_keys)
    app.state.metrics = Metrics()
    app.state.served_log = ServedLog(engine.store)
    install_error_handlers(app)
    for module_router in (
        admin.public,
        admin.reader,
        versions.reader,
        versions.admin,
        reports.reader,
        reports.admin,
        catalog.reader,
        catalog.writer,
        catalog.admin,
        events.writer,
        recommend.reader,
        search.reader,
        feedback.writer,
        feedback.reader,
        experiments.reader,
        experiments.admin,
        privacy_routes.admin,
    ):
        app.include_router(module_router)
    app.include_router(widget.public)  # the storefront widget's script
    app.mount("/dashboard", StaticFiles(directory=DASHBOARD), name="dashboard")

    @app.get("/", include_in_schema=False)
    def dashboard() -> FileResponse:
        return FileResponse(DASHBOARD / "index.html")

    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_request_bytes)
    _allow_browsers(app, settings.cors_origins)
    if app.state.keys.open:
        _log.warning("no API keys configured (insecure_local): only loopback clients answered")
    return app


def _allow_browsers(app: FastAPI, origins: list[str]) -> None:
    """Let pages from `origins` call the service (the storefront widget on the shop's pages).

    Outermost middleware, so that error answers (401, 413) carry the CORS headers too and the
    widget can read why it failed. Cookies are never used: keys go in a header.
    """
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST"],
            allow_headers=["X-API-Key", "Authorization", "Content-Type"],
            max_age=600,
        )


def app_from_env() -> FastAPI:
    """An app over the store and model folder named by the environment (``CARTWISE_*``), with
    the engine's search and ranking stages as the settings choose (:meth:`Engine.from_settings`:
    hybrid search with MiniLM by default when the ``lm`` extra is installed)."""
    settings = get_settings()
    engine = Engine.from_settings(settings)
    threading.Thread(target=_warm_up, args=(engine,), name="cartwise-warm-up", daemon=True).start()
    return create_app(engine, settings)


def _warm_up(engine: Engine) -> None:
    """Build the search index (item text vectors, read from the store's cache or encoded once)
    in the background, so the first search does not pay for it."""
    began = time.perf_counter()
    try:
        engine.build_search_index()
    except Exception:  # the first search retries and reports the error to its caller
        _log.warning("search warm-up failed; the first search will build the index", exc_info=True)
        return
    _log.info("search index ready in %.1f s", time.perf_counter() - began)
