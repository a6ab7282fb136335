"""Errors → HTTP: every failure is a JSON body ``{"error": {"type", "message", "fields"}}``.

Cartwise errors keep their message; request validation errors list every bad field with the
index of the batch row it is in; anything unexpected is logged with its traceback and answered
with a 500 that carries an incident id, never the traceback.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from cartwise.errors import (
    BatchError,
    CartwiseError,
    ConfigError,
    DataError,
    InputError,
    ModelError,
    NotFoundError,
    ResourceError,
    StoreError,
)

_log = logging.getLogger(__name__)

#: First match in this order gives the status (subclasses before their bases).
STATUS: tuple[tuple[type[CartwiseError], int], ...] = (
    (NotFoundError, 404),
    (InputError, 422),
    (ConfigError, 400),
    (DataError, 409),
    (ModelError, 503),
    (StoreError, 503),
    (ResourceError, 503),
)

_HTTP_TYPES = {
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    413: "PayloadTooLarge",
}


class AuthError(StarletteHTTPException):
    """Missing or wrong API key (401) or a key without the needed scope (403)."""


class PayloadTooLarge(StarletteHTTPException):
    """The request body is larger than the configured limit (413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            413,
            f"request body larger than {limit} bytes; send smaller batches "
            "(or raise CARTWISE_MAX_REQUEST_BYTES)",
        )


def error_body(
    kind: str, message: str, fields: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The JSON error envelope."""
    return {"error": {"type": kind, "message": message, "fields": fields or []}}


def status_of(exc: CartwiseError) -> int:
    """HTTP status for a Cartwise error."""
    return next((code for cls, code in STATUS if isinstance(exc, cls)), 400)


def _fields_of(exc: CartwiseError) -> list[dict[str, Any]]:
    if isinstance(exc, BatchError):
        return [{"index": i, "field": f, "message": m} for i, f, m in exc.problems]
    if isinstance(exc, InputError) and (exc.field or exc.line):
        index = exc.line - 1 if exc.line is not None else None
        return [{"index": index, "field": exc.field, "message": exc.detail}]
    return []


def _validation_fields(exc: RequestValidationError) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for err in exc.errors():
        if err.get("type") == "json_invalid":
            where = err.get("loc", ("body", "?"))[-1]
            why = (err.get("ctx") or {}).get("error", "malformed")
            out.append({"index": None, "field": None, "message": f"invalid JSON at {where}: {why}"})
            continue
        loc = [p for p in err.get("loc", ()) if p not in ("body", "query", "path", "header")]
        index = next((p for p in loc if isinstance(p, int)), None)
        names = [str(p) for p in loc if not isinstance(p, int)]
        # in a batch, the first name is the batch's key ("events"), not the row's field
        field = ".".join(names[1:] if index is not None else names)
        out.append({"index": index, "field": field or None, "message": str(err.get("msg", ""))})
    return out


async def _cartwise(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, CartwiseError)
    body = error_body(type(exc).__name__, str(exc), _fields_of(exc))
    return JSONResponse(body, status_code=status_of(exc))


async def _validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    fields = _validation_fields(exc)
    shown = "; ".join(
        (f"[{f['index']}] " if f["index"] is not None else "")
        + f"{f['field'] or ('row' if f['index'] is not None else 'body')}: "
        f"{f['message']}"
        for f in fields[:5]
    )
    message = f"invalid request ({len(fields)} problem(s)); nothing was stored: {shown}"
    return JSONResponse(error_body("ValidationError", message, fields), status_code=422)


async def _http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    kind = _HTTP_TYPES.get(exc.status_code, "HTTPError")
    message = str(exc.detail)
    if exc.status_code in (404, 405) and message in ("Not Found", "Method Not Allowed"):
        what = "no route" if exc.status_code == 404 else "method not allowed:"
        message = f"{what} {request.method} {request.url.path}; the API is listed at /docs"
    headers = dict(exc.headers or {})
    return JSONResponse(
        error_body(kind, message), status_code=exc.status_code, headers=headers or None
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    incident = uuid.uuid4().hex[:12]
    _log.error(
        "unexpected error %s on %s %s", incident, request.method, request.url.path, exc_info=exc
    )
    message = f"internal error (incident {incident}); the details are in the server log"
    return JSONResponse(error_body("InternalError", message), status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers on `app`."""
    app.add_exception_handler(CartwiseError, _cartwise)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(Exception, _unexpected)
