"""What the service does for shop pages: /widget.js, the storefront scope, CORS."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

KEYS = {"shop-key": ["storefront"], "read-key": ["read"], "admin-key": ["admin"]}
SHOP = "https://shop.example"


@pytest.fixture
def keyed(client_with: Callable[..., TestClient]) -> TestClient:
    return client_with(api_keys=KEYS, cors_origins=[SHOP])


def _as(key: str) -> dict[str, str]:
    return {"X-API-Key": key}


def test_widget_script_is_public_javascript(keyed: TestClient) -> None:
    r = keyed.get("/widget.js")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/javascript; charset=utf-8"
    assert "window.Cartwise = { render: render" in r.text
    assert "IntersectionObserver" in r.text and "keepalive" in r.text
    assert len(r.content) < 16_000  # a few KB, no bundle
    assert "/widget.js" not in keyed.get("/openapi.json").json()["paths"]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/users/u3/recommendations", None),
        ("GET", "/items/p4/similar", None),
        ("GET", "/items/p4/complements", None),
        ("POST", "/sessions/recommendations", {"events": [{"item_id": "p4"}]}),
    ],
)
def test_a_storefront_key_gets_the_widget_lists(
    keyed: TestClient, method: str, path: str, body: object
) -> None:
    r = keyed.request(method, path, json=body, headers=_as("shop-key"))
    assert r.status_code == 200, r.text
    answer = r.json()
    first = answer["items"][0]["item_id"]
    event = {"recommendation_id": answer["recommendation_id"], "item_id": first, "kind": "click"}
    sent = keyed.post("/feedback", json={"events": [event]}, headers=_as("shop-key"))
    assert sent.json() == {"stored": 1, "duplicates": 0, "implied_impressions": 1}


@pytest.mark.parametrize(
    ("method", "path", "needs"),
    [
        ("GET", "/users", "'read'"),
        ("GET", "/users/u3", "'read'"),
        ("GET", "/users/u3/events", "'read'"),
        ("GET", "/items/p1", "'read'"),
        ("GET", "/feedback/metrics", "'read'"),
        ("GET", "/stats", "'read'"),
        ("POST", "/search", "'read'"),
        ("PUT", "/items", "'write'"),
        ("POST", "/events", "'write'"),
        ("DELETE", "/users/u3", "'admin'"),
    ],
)
def test_a_storefront_key_gets_nothing_else(
    keyed: TestClient, method: str, path: str, needs: str
) -> None:
    r = keyed.request(method, path, headers=_as("shop-key"))
    assert r.status_code == 403
    assert r.json()["error"]["message"] == f"this API key lacks the {needs} scope this route needs"


def test_a_read_key_may_not_send_feedback(keyed: TestClient) -> None:
    r = keyed.post("/feedback", json={"events": []}, headers=_as("read-key"))
    assert r.status_code == 403
    assert r.json()["error"]["message"] == (
        "this API key lacks the 'write' or 'storefront' scope this route needs"
    )


def test_cors_lets_the_listed_shop_call_with_its_key(keyed: TestClient) -> None:
    preflight = keyed.options(
        "/feedback",
        headers={
            "Origin": SHOP,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,x-api-key",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == SHOP
    assert "x-api-key" in preflight.headers["access-control-allow-headers"].lower()
    denied = keyed.get("/users/u3/recommendations", headers={"Origin": SHOP})
    assert denied.status_code == 401  # the page can read why: the error carries the header
    assert denied.headers["access-control-allow-origin"] == SHOP
    other = keyed.get("/users/u3/recommendations", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers


def test_no_cors_unless_origins_are_configured(client: TestClient) -> None:
    r = client.get("/users/u3/recommendations", headers={"Origin": SHOP})
    assert r.status_code == 200
    assert "access-control-allow-origin" not in r.headers
