"""One request to the service, described before it is sent: route, path, query, body, and how
the answer is read into the service's own response model (tolerantly of fields a newer service
added: :mod:`.tolerant`).

The sync and async clients send the same :class:`Call` objects, so each endpoint is written
once (:mod:`cartwise.client.endpoints`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypedDict, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ValidationError

from cartwise.client.errors import ApiError, error_from_response
from cartwise.client.tolerant import known_fields

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)
Params = dict[str, str | int | float | bool]


class Filters(TypedDict, total=False):
    """Business-rule filters every list endpoint takes (as keyword arguments)."""

    category: str
    """Only items under this category (any level of the path)."""
    min_price: float
    max_price: float
    type: str
    """Only items whose ``attributes.type`` is this (``product``, ``article``...)."""
    all_variants: bool
    """Every variant of a product (default: one per group)."""


@dataclass(frozen=True)
class Route:
    """A route of the service: method, path template, and whether repeating it is harmless
    (a retry after a lost answer changes nothing: reads, upserts by id, events and feedback,
    which the service stores once per ``event_id`` / (recommendation_id, item_id, kind))."""

    method: str
    path: str
    idempotent: bool = True

    def call(
        self,
        parse: Callable[[httpx.Response], T],
        *,
        ids: Mapping[str, str] | None = None,
        params: Params | None = None,
        body: Any = None,
        ok: frozenset[int] = frozenset({200}),
    ) -> Call[T]:
        """A call of this route; `ids` fill the path template (URL-quoted)."""
        path = self.path.format(**{k: quote(v, safe="") for k, v in (ids or {}).items()})
        return Call(self, path, parse, params, body, ok)


@dataclass(frozen=True)
class Call(Generic[T]):
    """A request ready to send, and the reader of its answer (for statuses in `ok`)."""

    route: Route
    path: str
    parse: Callable[[httpx.Response], T]
    params: Params | None = None
    body: Any = None
    ok: frozenset[int] = field(default_factory=lambda: frozenset({200}))

    def request(self) -> dict[str, Any]:
        """Keyword arguments of ``httpx.Client.request`` for this call. The body is encoded
        here, NaN included, so that the service rejects it with the 422 that names the field
        (httpx's own encoder would raise a bare ValueError before sending)."""
        args: dict[str, Any] = {"method": self.route.method, "url": self.path}
        if self.params:
            args["params"] = self.params
        if self.body is not None:
            args["content"] = json.dumps(self.body).encode()
            args["headers"] = {"Content-Type": "application/json"}
        return args

    def read(self, response: httpx.Response) -> T:
        """The answer as the route's model; an answer that is not (a proxy's page, say) is an
        :class:`~.errors.ApiError`: the one its error status maps to, else ``InvalidAnswer``."""
        try:
            return self.parse(response)
        except (ValueError, ValidationError) as exc:
            if response.is_error:  # e.g. a proxy's 503 page where /ready's body was expected
                raise error_from_response(response) from exc
            raise ApiError(
                response.status_code,
                "InvalidAnswer",
                f"{self.route.method} {self.path} answered what this client cannot read "
                f"({type(exc).__name__}: {str(exc)[:300]}); is the URL the Cartwise service?",
            ) from exc


def drop_none(**values: Any) -> Params:
    """Query parameters, leaving out those that are None."""
    return {k: v for k, v in values.items() if v is not None}


def record(value: BaseModel | Mapping[str, Any]) -> Any:
    """A record (pydantic model or mapping) as JSON-ready data; the service validates it."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    return dict(value)


def model(cls: type[M]) -> Callable[[httpx.Response], M]:
    """A reader of answers whose body is the JSON of `cls`."""

    def parse(response: httpx.Response) -> M:
        return cls.model_validate(known_fields(cls, json.loads(response.content)))

    return parse


def text(response: httpx.Response) -> str:
    """The answer's body as text."""
    return response.text
