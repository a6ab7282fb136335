"""API keys and scopes, loopback-only open mode, body limits, strict JSON, error envelopes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cartwise.config import Settings
from cartwise.data.store import Store
from cartwise.errors import ConfigError
from cartwise.service import auth
from cartwise.service.app import create_app
from cartwise.serving.engine import Engine

KEYS = {"r-key": ["read"], "w-key": ["write"], "a-key": ["admin"], "rw-key": ["read", "write"]}
ITEM = {"items": [{"id": "k1", "title": "Key Ring"}]}


@pytest.fixture
def keyed(client_with: Callable[..., TestClient]) -> Iterator[TestClient]:
    with client_with(api_keys=KEYS) as c:
        yield c


def _h(key: str) -> dict[str, str]:
    return {"X-API-Key": key}


def test_missing_or_unknown_key_is_401(keyed: TestClient) -> None:
    r = keyed.get("/items/p1")
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "ApiKey"
    assert r.json()["error"] == {
        "type": "Unauthorized",
        "message": "missing API key: send it in the X-API-Key header",
        "fields": [],
    }
    assert keyed.get("/items/p1", headers=_h("r-key-")).status_code == 401
    assert keyed.get("/items/p1", headers={"Authorization": "Bearer nope"}).status_code == 401


def test_scopes(keyed: TestClient) -> None:
    assert keyed.get("/items/p1", headers=_h("r-key")).status_code == 200
    assert keyed.get("/items/p1", headers={"Authorization": "Bearer r-key"}).status_code == 200
    denied = keyed.get("/items/p1", headers=_h("w-key"))
    assert denied.status_code == 403
    assert denied.json()["error"]["message"] == (
        "this API key lacks the 'read' scope this route needs"
    )
    assert keyed.put("/items", json=ITEM, headers=_h("r-key")).status_code == 403
    assert keyed.put("/items", json=ITEM, headers=_h("w-key")).status_code == 200
    assert keyed.delete("/users/u1", headers=_h("rw-key")).status_code == 403
    # admin implies read and write
    assert keyed.get("/users/u1/recommendations", headers=_h("a-key")).status_code == 200
    assert keyed.delete("/users/u1", headers=_h("a-key")).status_code == 200
    assert keyed.get("/metrics").status_code == 401


def test_health_and_ready_need_no_key(keyed: TestClient) -> None:
    assert keyed.get("/health").json() == {"status": "ok"}
    assert keyed.get("/ready").json()["ready"] is True


def test_keys_are_compared_in_constant_time_against_every_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = auth.hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", spy)
    ring = auth.KeyRing({"one": ["read"], "two": ["write", "read"]})
    assert ring.scopes("one") == frozenset({"read"})
    assert len(calls) == 2  # no early exit on the first match
    assert ring.scopes("three") is None
    assert ring.scopes("") is None


def test_no_keys_without_insecure_local_is_refused(engine: Engine) -> None:
    with pytest.raises(ConfigError, match="no API keys configured"):
        create_app(engine, Settings())


def test_forwarded_headers_do_not_make_a_remote_client_local(engine: Engine) -> None:
    app = create_app(engine, Settings(insecure_local=True))
    with TestClient(app, client=("203.0.113.9", 4000)) as remote:
        spoofed = {"X-Forwarded-For": "127.0.0.1", "X-Real-IP": "127.0.0.1", "Host": "localhost"}
        assert remote.get("/models/x/activate", headers=spoofed).status_code in (403, 405)
        assert remote.post("/models/x/activate", headers=spoofed).status_code == 403


def test_open_mode_answers_loopback_only(engine: Engine) -> None:
    app = create_app(engine, Settings(insecure_local=True))
    with TestClient(app, client=("203.0.113.9", 4000)) as remote:
        r = remote.get("/items/p1")
        assert r.status_code == 403
        assert "only answers the local machine" in r.json()["error"]["message"]
        assert remote.get("/health").status_code == 200
    with TestClient(app, client=("::1", 4000)) as local:
        assert local.get("/items/p1").status_code == 200


def test_body_limit_413(client_with: Callable[..., TestClient], store: Store) -> None:
    with client_with(max_request_bytes=300) as c:
        big = {"items": [{"id": f"x{i}", "title": "x" * 50} for i in range(10)]}
        r = c.put("/items", json=big)
        assert r.status_code == 413
        assert r.json()["error"]["type"] == "PayloadTooLarge"

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted while streaming
            yield b'{"items": ['
            for i in range(10):
                yield b'{"id": "y%d", "title": "%s"},' % (i, b"y" * 50)
            yield b'{"id": "last"}]}'

        streamed = c.put("/items", content=chunks(), headers={"content-type": "application/json"})
        assert streamed.status_code == 413
        assert c.put("/items", json=ITEM).status_code == 200
    assert store.counts()["items"] == 10  # the 9 tiny items + k1; nothing from the big bodies


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_numbers_are_rejected(client: TestClient, number: str) -> None:
    body = '{"items": [{"id": "n", "price": NUMBER}]}'.replace("NUMBER", number)
    r = client.put("/items", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert "finite number" in r.json()["error"]["message"]


def test_a_body_that_is_not_utf8_is_a_422(client: TestClient) -> None:
    r = client.post("/search", content=b"\xff\xfe{", headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert "not UTF-8" in r.json()["error"]["message"]


def test_unexpected_errors_are_500_without_details(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret internals at /srv/x.py line 3")

    monkeypatch.setattr(engine, "recommend_user", broken)
    app = create_app(engine, Settings(insecure_local=True))
    with TestClient(app, client=("127.0.0.1", 1), raise_server_exceptions=False) as c:
        r = c.get("/users/u1/recommendations")
    assert r.status_code == 500
    err = r.json()["error"]
    assert err["type"] == "InternalError"
    assert "incident" in err["message"]
    assert "secret" not in r.text and "Traceback" not in r.text


def test_a_store_that_does_not_answer_is_503_and_not_ready(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    with TestClient(
        create_app(engine, Settings(insecure_local=True)), client=("127.0.0.1", 1)
    ) as c:
        assert c.get("/ready").json()["ready"] is True
        monkeypatch.setattr(engine.store, "reachable", lambda: False)  # e.g. the database is down
        r = c.get("/ready")
        assert r.status_code == 503
        assert r.json()["store"] is False and r.json()["ready"] is False


def test_no_model_yet_is_503_and_not_ready(store: Store, tmp_path: Path) -> None:
    app = create_app(Engine(store, tmp_path / "empty-models"), Settings(insecure_local=True))
    with TestClient(app, client=("127.0.0.1", 1)) as c:
        assert c.get("/ready").status_code == 503
        assert c.get("/ready").json() == {
            "ready": False, "model_version": None, "store": True, "model_loaded": False,
            "search_index": False,
        }  # fmt: skip
        r = c.get("/users/u1/recommendations")
        assert r.status_code == 503
        assert "no trained model" in r.json()["error"]["message"]
        # search works without a model
        assert c.post("/search", json={"query": "phone"}).status_code == 200


def test_unknown_route_is_a_json_404(client: TestClient) -> None:
    r = client.get("/nowhere")
    assert r.status_code == 404
    assert r.json()["error"]["message"] == "no route GET /nowhere; the API is listed at /docs"


def test_metrics_in_prometheus_format(client: TestClient) -> None:
    client.get("/users/u1/recommendations")
    client.get("/users/u2/recommendations")
    client.get("/items/nope")
    text = client.get("/metrics").text
    route = 'method="GET",route="/users/{user_id}/recommendations"'
    assert f'cartwise_http_requests_total{{{route},status="200"}} 2' in text
    assert 'cartwise_http_requests_total{method="GET",route="/items/{item_id}",status="404"} 1' in (
        text
    )
    assert f'cartwise_http_request_duration_seconds_bucket{{{route},le="+Inf"}} 2' in text
    assert f"cartwise_http_request_duration_seconds_count{{{route}}} 2" in text
    assert 'cartwise_model_info{version="itemknn-' in text
    assert "cartwise_model_ready 1" in text


def test_openapi_lists_the_api(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    for path in (
        "/items",
        "/events",
        "/users/{user_id}/recommendations",
        "/sessions/recommendations",
        "/items/{item_id}/similar",
        "/items/{item_id}/complements",
        "/search",
        "/ads/rank",
        "/feedback",
        "/health",
        "/ready",
        "/metrics",
    ):
        assert path in spec["paths"], path
    assert client.get("/docs").status_code == 200
