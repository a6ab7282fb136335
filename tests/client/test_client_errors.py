"""Error answers → typed exceptions, and answers read tolerantly (httpx.MockTransport: every
status the service can give, including those a live server is hard to make give)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from cartwise import errors
from cartwise.client import (
    ApiAuthError,
    ApiConfigError,
    ApiDataError,
    ApiError,
    ApiInputError,
    ApiModelError,
    ApiNotFoundError,
    ApiResourceError,
    ApiServerError,
    ApiStoreError,
    ApiUnavailableError,
    Client,
    RetryPolicy,
)

NO_RETRY = RetryPolicy(attempts=1)


def _answering(status: int, body: Any, **headers: str) -> Client:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    transport = httpx.MockTransport(
        lambda request: httpx.Response(status, content=content, headers=headers)
    )
    return Client("http://cartwise.test", retry=NO_RETRY, transport=transport)


def _error(kind: str, message: str, fields: list[dict[str, Any]] | None = None) -> Any:
    return {"error": {"type": kind, "message": message, "fields": fields or []}}


@pytest.mark.parametrize(
    ("status", "kind", "raised", "also"),
    [
        (400, "ConfigError", ApiConfigError, errors.ConfigError),
        (401, "Unauthorized", ApiAuthError, ApiError),
        (403, "Forbidden", ApiAuthError, ApiError),
        (404, "NotFoundError", ApiNotFoundError, errors.NotFoundError),
        (405, "MethodNotAllowed", ApiError, errors.CartwiseError),
        (409, "DataError", ApiDataError, errors.DataError),
        (413, "PayloadTooLarge", ApiInputError, errors.InputError),
        (422, "ValidationError", ApiInputError, errors.InputError),
        (500, "InternalError", ApiServerError, ApiError),
        (503, "ModelError", ApiModelError, errors.ModelError),
        (503, "NotFittedError", ApiModelError, errors.ModelError),
        (503, "StoreError", ApiStoreError, errors.StoreError),
        (503, "ResourceError", ApiResourceError, errors.ResourceError),
    ],
)
def test_each_status_is_its_exception(
    status: int, kind: str, raised: type[ApiError], also: type[Exception]
) -> None:
    client = _answering(status, _error(kind, f"what went wrong ({status})"))
    with pytest.raises(raised) as caught:
        client.get_item("p1")
    assert type(caught.value) is raised
    assert isinstance(caught.value, also) and isinstance(caught.value, errors.CartwiseError)
    assert (caught.value.status, caught.value.type) == (status, kind)
    assert caught.value.message == f"what went wrong ({status})"
    assert str(caught.value) == f"HTTP {status} {kind}: what went wrong ({status})"


def test_a_422_carries_every_bad_field() -> None:
    fields = [
        {"index": 0, "field": "timestamp", "message": "bad date"},
        {"index": 3, "field": "item_id", "message": "unknown item 'zz'"},
    ]
    client = _answering(422, _error("BatchError", "2 bad row(s)", fields))
    with pytest.raises(ApiInputError) as caught:
        client.post_events([])
    assert [(f.index, f.field, f.message) for f in caught.value.fields] == [
        (0, "timestamp", "bad date"),
        (3, "item_id", "unknown item 'zz'"),
    ]
    # InputError's own attributes point at the first problem, as the engine's would
    assert (caught.value.field, caught.value.line) == ("timestamp", 1)


def test_an_answer_that_is_not_the_error_envelope_keeps_its_text() -> None:
    with pytest.raises(ApiUnavailableError) as caught:
        _answering(503, b"<html>upstream down</html>").health()
    assert type(caught.value) is ApiUnavailableError
    assert (caught.value.type, caught.value.message) == ("HTTPError", "<html>upstream down</html>")
    with pytest.raises(ApiServerError, match="HTTP 502 HTTPError: Bad Gateway"):
        _answering(502, b"").health()


def test_an_ok_answer_the_client_cannot_read_is_an_invalid_answer() -> None:
    with pytest.raises(ApiError) as caught:
        _answering(200, b"<html>a login page</html>").stats()
    assert caught.value.type == "InvalidAnswer" and caught.value.status == 200
    assert "GET /stats answered what this client cannot read" in caught.value.message


def _answer(**extra: Any) -> dict[str, Any]:
    item = {"id": "p1", "title": "Trail Running Shoe", "price": 100.0, **extra}
    return {
        "recommendation_id": "r1",
        "scenario": "similar",
        "model_version": "itemknn-1",
        "user_id": None,
        "items": [{"item_id": "p1", "score": 0.5, "reason": "similar", "item": item, **extra}],
        **extra,
    }


def test_fields_a_newer_service_added_are_ignored() -> None:
    answer = _answering(200, _answer(added_later={"x": 1})).similar("p4", k=1)
    assert answer.recommendation_id == "r1"
    assert answer.items[0].item.title == "Trail Running Shoe"
    assert answer.items[0].item.price == 100.0


def test_requests_carry_the_key_the_path_ids_quoted_and_the_parameters() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=_answer())

    client = Client("http://cartwise.test/", api_key="k-1", transport=httpx.MockTransport(answer))
    client.recommend_user("u 1/é", k=3, category="Phones", all_variants=True, log=False)
    client.search("shoes", k=2, max_price=50.0)
    get, post = seen
    assert get.url.raw_path == b"/users/u%201%2F%C3%A9/recommendations?" + (
        b"k=3&exclude_purchased=true&diversity=none&log=false&category=Phones&all_variants=true"
    )
    assert get.headers["x-api-key"] == "k-1"
    assert get.headers["user-agent"].startswith("cartwise-client/")
    assert json.loads(post.content) == {"query": "shoes", "k": 2, "log": True, "max_price": 50.0}
    assert post.headers["content-type"] == "application/json"


def test_an_error_body_with_fields_a_newer_service_added_is_still_typed() -> None:
    body = _error("NotFoundError", "unknown item 'p9'")
    body["error"]["incident"] = "abc"
    body["trace_id"] = "t-1"
    with pytest.raises(ApiNotFoundError, match="unknown item 'p9'"):
        _answering(404, body).get_item("p9")


def test_readiness_reads_its_503_body_but_a_proxy_page_is_an_error() -> None:
    not_ready = {"ready": False, "model_version": None, "search_index": False}
    assert _answering(503, not_ready).ready().ready is False
    with pytest.raises(ApiUnavailableError) as caught:
        _answering(503, b"<html>maintenance</html>").ready()
    assert caught.value.message == "<html>maintenance</html>"
