"""The service's error answers as exceptions.

Every 4xx/5xx answer of the service is ``{"error": {"type", "message", "fields"}}``; the client
raises an :class:`ApiError` carrying the status, the type, the message and the bad fields. Where
the service's error is one of :mod:`cartwise.errors`, the exception is also an instance of that
class, so code that catches ``cartwise.errors.NotFoundError`` around the engine catches the same
failure over HTTP:

==========  =====================================  ==========================================
status      raised                                 also an instance of
==========  =====================================  ==========================================
400         :class:`ApiConfigError`                :class:`cartwise.errors.ConfigError`
401, 403    :class:`ApiAuthError`                  (nothing: a wrong key is not a data error)
404         :class:`ApiNotFoundError`              :class:`cartwise.errors.NotFoundError`
409         :class:`ApiDataError`                  :class:`cartwise.errors.DataError`
413, 422    :class:`ApiInputError`                 :class:`cartwise.errors.InputError`
503         :class:`ApiModelError`,                :class:`cartwise.errors.ModelError`,
            :class:`ApiStoreError`,                :class:`cartwise.errors.StoreError`,
            :class:`ApiResourceError` by type,     :class:`cartwise.errors.ResourceError`
            else :class:`ApiUnavailableError`
other 5xx   :class:`ApiServerError`
==========  =====================================  ==========================================

A request that got no answer at all (connection refused, timeout, dropped connection) raises
:class:`ApiConnectionError` once the retries are spent.
"""

from __future__ import annotations

import json

import httpx
from pydantic import ValidationError

from cartwise.client.tolerant import known_fields
from cartwise.errors import (
    CartwiseError,
    ConfigError,
    DataError,
    InputError,
    ModelError,
    NotFoundError,
    ResourceError,
    StoreError,
)
from cartwise.service.schemas import ErrorField, ErrorOut


class ApiError(CartwiseError):
    """An error answer of the service.

    Attributes:
        status: the HTTP status (None when no answer came: :class:`ApiConnectionError`).
        type: the service's name for the error (``NotFoundError``, ``ValidationError``, ...).
        message: the service's message, which says how to fix the request.
        fields: the bad inputs (batch row index, field, message), for 422 answers.
    """

    def __init__(
        self, status: int | None, type: str, message: str, fields: list[ErrorField] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.type = type
        self.message = message
        self.fields = list(fields or [])

    def __str__(self) -> str:
        where = f"HTTP {self.status} " if self.status is not None else ""
        return f"{where}{self.type}: {self.message}"


class ApiAuthError(ApiError):
    """401: the key is missing or unknown; 403: the key lacks the route's scope (or the service
    has no keys and the client is not on its machine)."""


class ApiNotFoundError(ApiError, NotFoundError):
    """404: an unknown item, shopper, model version or route."""


class ApiInputError(ApiError, InputError):
    """422: the request is invalid (every bad field is in ``fields``); 413: it is too large."""

    def __init__(
        self, status: int | None, type: str, message: str, fields: list[ErrorField] | None = None
    ) -> None:
        super().__init__(status, type, message, fields)
        first = self.fields[0] if self.fields else None
        # InputError's own attributes, as the engine would have set them
        self.field = first.field if first else None
        self.line = first.index + 1 if first and first.index is not None else None


class ApiConfigError(ApiError, ConfigError):
    """400: the service's configuration cannot answer this request."""


class ApiDataError(ApiError, DataError):
    """409: the store's data cannot serve this request."""


class ApiUnavailableError(ApiError):
    """503: the service cannot answer now (no model yet, store unavailable, overloaded)."""


class ApiModelError(ApiUnavailableError, ModelError):
    """503: no model is trained or loadable."""


class ApiStoreError(ApiUnavailableError, StoreError):
    """503: the store could not be read or written."""


class ApiResourceError(ApiUnavailableError, ResourceError):
    """503: the request would need more memory or time than the service has."""


class ApiServerError(ApiError):
    """500 and other 5xx: a failure inside the service (the message has an incident id)."""


class ApiConnectionError(ApiError):
    """No answer: the connection failed, timed out or was dropped (after the retries)."""


_BY_TYPE: dict[str, type[ApiError]] = {
    "ModelError": ApiModelError,
    "NotFittedError": ApiModelError,
    "StoreError": ApiStoreError,
    "ResourceError": ApiResourceError,
}
_BY_STATUS: dict[int, type[ApiError]] = {
    400: ApiConfigError,
    401: ApiAuthError,
    403: ApiAuthError,
    404: ApiNotFoundError,
    409: ApiDataError,
    413: ApiInputError,
    422: ApiInputError,
    503: ApiUnavailableError,
}


def error_class(status: int, kind: str) -> type[ApiError]:
    """The exception class for an answer with `status` and error type `kind`."""
    if status == 503 and kind in _BY_TYPE:
        return _BY_TYPE[kind]
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    return ApiServerError if status >= 500 else ApiError


def error_from_response(response: httpx.Response) -> ApiError:
    """The exception for an error answer: its JSON error body, or (from a proxy, say) its text."""
    try:
        detail = ErrorOut.model_validate(known_fields(ErrorOut, json.loads(response.content))).error
    except (ValueError, ValidationError):
        text = response.text.strip()[:500] or response.reason_phrase
        return error_class(response.status_code, "HTTPError")(
            response.status_code, "HTTPError", text
        )
    cls = error_class(response.status_code, detail.type)
    return cls(response.status_code, detail.type, detail.message, detail.fields)


def connection_error(exc: httpx.TransportError, attempts: int) -> ApiConnectionError:
    """The exception for a request that got no answer in `attempts` tries."""
    tries = "try" if attempts == 1 else "tries"
    try:
        where = f"{exc.request.method} {exc.request.url}"
    except RuntimeError:  # an error raised before the request was built
        where = "the service"
    message = (
        f"no answer from {where} after {attempts} {tries}: "
        f"{type(exc).__name__}: {exc}; check that the service runs and the URL is right"
    )
    return ApiConnectionError(None, type(exc).__name__, message)
