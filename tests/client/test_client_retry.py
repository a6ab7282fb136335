"""What is retried, how often and after what wait (httpx.MockTransport scripts the failures);
and the blocking and asyncio clients offering the same methods."""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from cartwise.client import (
    ApiConnectionError,
    ApiModelError,
    ApiStoreError,
    AsyncClient,
    Call,
    Client,
    FeedbackEvent,
    RetryPolicy,
    endpoints,
    endpoints_lists,
)

FAST = RetryPolicy(attempts=3, backoff=0.001, jitter=False)
Step = Callable[[httpx.Request], httpx.Response]
OK_HEALTH = httpx.Response(200, json={"status": "ok"})
DELETED = httpx.Response(200, json={"item_id": "p1"})


def _unavailable(kind: str) -> Step:
    body = {"error": {"type": kind, "message": "later", "fields": []}}
    return lambda request: httpx.Response(503, json=body)


def _raise(exc: type[httpx.TransportError]) -> Step:
    def step(request: httpx.Request) -> httpx.Response:
        raise exc("scripted failure", request=request)

    return step


def _answer(response: httpx.Response) -> Step:
    return lambda request: response


def _scripted(*steps: Step) -> tuple[Client, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return steps[min(len(seen), len(steps)) - 1](request)

    return Client("http://cartwise.test", retry=FAST, transport=httpx.MockTransport(handle)), seen


def test_a_read_is_retried_through_a_passing_store_outage() -> None:
    client, seen = _scripted(_unavailable("StoreError"), _answer(OK_HEALTH))
    assert client.health().status == "ok"
    assert len(seen) == 2


def test_retries_stop_after_the_policy_attempts() -> None:
    client, seen = _scripted(_unavailable("StoreError"))
    with pytest.raises(ApiStoreError):
        client.health()
    assert len(seen) == 3


def test_no_model_is_not_retried() -> None:
    client, seen = _scripted(_unavailable("ModelError"), _answer(OK_HEALTH))
    with pytest.raises(ApiModelError):
        client.health()
    assert len(seen) == 1


def test_feedback_is_retried_after_a_timeout() -> None:
    stored = httpx.Response(200, json={"stored": 0, "duplicates": 1})
    client, seen = _scripted(_raise(httpx.ReadTimeout), _answer(stored))
    event = FeedbackEvent(recommendation_id="r1", item_id="p1", kind="click")
    assert client.send_feedback([event]).duplicates == 1
    assert [r.content for r in seen] == [seen[0].content] * 2  # the same body twice


def test_a_delete_is_retried_only_when_it_was_never_sent() -> None:
    client, seen = _scripted(_raise(httpx.ReadTimeout), _answer(DELETED))
    with pytest.raises(ApiConnectionError, match=r"DELETE .*/items/p1 after 1 try: ReadTimeout"):
        client.delete_item("p1")
    assert len(seen) == 1
    client, seen = _scripted(_raise(httpx.ConnectError), _answer(DELETED))
    assert client.delete_item("p1").item_id == "p1"
    assert len(seen) == 2
    client, seen = _scripted(_unavailable("StoreError"), _answer(DELETED))
    with pytest.raises(ApiStoreError):
        client.delete_item("p1")
    assert len(seen) == 1


def test_waits_double_up_to_the_cap_and_follow_retry_after() -> None:
    policy = RetryPolicy(backoff=0.5, max_backoff=3.0, jitter=False)
    assert [policy.delay(n) for n in (1, 2, 3, 4, 5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert policy.delay(1, "2") == 2.0
    assert policy.delay(1, "120") == 3.0
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=60), usegmt=True)
    assert policy.delay(1, later) == 3.0
    assert policy.delay(1, "soon") == 0.5
    jittered = RetryPolicy(backoff=1.0)
    assert all(0.5 <= jittered.delay(1) <= 1.0 for _ in range(50))
    with pytest.raises(ValueError, match="attempts must be at least 1"):
        RetryPolicy(attempts=0)


def test_the_async_client_retries_too() -> None:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if len(seen) == 1:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(200, json={"status": "ok"})

    async def run() -> str:
        transport = httpx.MockTransport(handle)
        async with AsyncClient("http://cartwise.test", retry=FAST, transport=transport) as c:
            return (await c.health()).status

    assert asyncio.run(run()) == "ok"
    assert len(seen) == 2


def _builders() -> dict[str, Callable[..., Call[object]]]:
    return {
        name: fn
        for module in (endpoints, endpoints_lists)
        for name, fn in vars(module).items()
        if inspect.isfunction(fn)
        and fn.__module__ == module.__name__
        and str(inspect.signature(fn).return_annotation).startswith("Call[")
    }


def test_both_clients_offer_every_endpoint_with_its_signature() -> None:
    builders = _builders()
    assert len(builders) == 28
    for name, build in builders.items():
        for cls in (Client, AsyncClient):
            method = getattr(cls, name)
            assert method.__doc__ == build.__doc__
            params = list(inspect.signature(method).parameters.values())
            assert params[0].name == "self"
            assert params[1:] == list(inspect.signature(build).parameters.values()), name
    assert inspect.iscoroutinefunction(AsyncClient.similar)


def test_bodies_are_json_with_nan_left_for_the_service_to_reject() -> None:
    call = endpoints_lists.rank_ads("u1", [{"item_id": "p1", "bid": float("nan")}])
    request = call.request()
    assert request["method"] == "POST" and request["url"] == "/ads/rank"
    assert b'"bid": NaN' in request["content"]
    assert json.loads(endpoints.health().request().get("content", b"null")) is None
