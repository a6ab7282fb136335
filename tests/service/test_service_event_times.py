"""Bad values in records over HTTP are a 422 naming the field, never a 500 or a silent
coercion, and nothing is stored: event times outside the accepted window and dates that overflow
in UTC (issue 12, defects 2 and 3), numbers or flags sent as text (defect 11, the records' part)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cartwise.data.store import Store


def _event(eid: str, timestamp: str) -> dict[str, Any]:
    return {
        "event_id": eid,
        "user_id": "z1",
        "item_id": "p1",
        "kind": "view",
        "timestamp": timestamp,
    }


def _soon(hours: float) -> str:
    return (datetime.now(UTC) + timedelta(hours=hours)).isoformat()


@pytest.mark.parametrize(
    "stamp",
    [
        "9999-12-31T23:00:00Z",
        "9999-01-01T00:00:00+00:00",
        "0001-01-01T00:00:00Z",
        "1900-01-01T00:00:00Z",
        "1989-12-31T23:59:59Z",
    ],
)
def test_far_future_or_past_event_is_a_422_naming_timestamp(
    client: TestClient, store: Store, stamp: str
) -> None:
    batch = {"events": [_event("ok", "2024-02-01T10:00:00Z"), _event("bad", stamp)]}
    r = client.post("/events", json=batch)
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["fields"][0]["index"] == 1 and err["fields"][0]["field"] == "timestamp"
    assert "field 'timestamp'" in err["message"] and "nothing was stored" in err["message"]
    assert store.counts()["events"] == 17


def test_future_skew_is_a_setting(
    client: TestClient, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert client.post("/events", json={"events": [_event("s1", _soon(2))]}).status_code == 200
    r = client.post("/events", json={"events": [_event("s2", _soon(30))]})
    assert r.status_code == 422 and "CARTWISE_EVENT_FUTURE_SKEW" in r.json()["error"]["message"]
    monkeypatch.setenv("CARTWISE_EVENT_FUTURE_SKEW", "P2D")
    assert client.post("/events", json={"events": [_event("s2", _soon(30))]}).status_code == 200
    monkeypatch.setenv("CARTWISE_EVENT_FUTURE_SKEW", "PT0S")
    assert client.post("/events", json={"events": [_event("s3", _soon(1))]}).status_code == 422
    assert store.counts()["events"] == 17 + 2


def test_time_floor_is_a_setting(
    client: TestClient, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CARTWISE_EVENT_TIME_FLOOR", "2024-06-01T00:00:00Z")
    r = client.post("/events", json={"events": [_event("f1", "2024-02-01T10:00:00Z")]})
    assert r.status_code == 422 and "CARTWISE_EVENT_TIME_FLOOR" in r.json()["error"]["message"]
    monkeypatch.setenv("CARTWISE_EVENT_TIME_FLOOR", "1900-01-01")
    r = client.post("/events", json={"events": [_event("f2", "1950-01-01T00:00:00Z")]})
    assert r.status_code == 200


@pytest.mark.parametrize("stamp", ["9999-12-31T23:00:00-14:00", "0001-01-01T00:00:00+14:00"])
def test_dates_beyond_the_calendar_in_utc_are_a_422(
    client: TestClient, store: Store, stamp: str
) -> None:
    r = client.post(
        "/events", json={"events": [_event("ok", "2024-02-01T10:00:00Z"), _event("x", stamp)]}
    )
    assert r.status_code == 422
    err = r.json()["error"]
    assert [(f["index"], f["field"]) for f in err["fields"]] == [(1, "timestamp")]
    assert "years 1 to 9999" in err["fields"][0]["message"]
    assert store.counts()["events"] == 17


@pytest.mark.parametrize("stamp", ["9999-12-31T23:00:00-14:00", "0001-01-01T00:00:00+14:00"])
@pytest.mark.parametrize("kind", ["items", "users"])
def test_created_at_beyond_the_calendar_is_a_422(
    client: TestClient, store: Store, stamp: str, kind: str
) -> None:
    before = store.counts()
    r = client.put(f"/{kind}", json={kind: [{"id": "n1", "created_at": stamp}]})
    assert r.status_code == 422
    fields = r.json()["error"]["fields"]
    assert [(f["index"], f["field"]) for f in fields] == [(0, "created_at")]
    assert store.counts() == before


@pytest.mark.parametrize(
    ("route", "body", "field"),
    [
        ("/items", {"items": [{"id": "n1", "price": "5"}]}, "price"),
        ("/items", {"items": [{"id": "n1", "price": True}]}, "price"),
        ("/items", {"items": [{"id": "n1", "available": "yes"}]}, "available"),
        ("/items", {"items": [{"id": "n1", "available": 1}]}, "available"),
    ],
)
def test_record_numbers_and_flags_are_not_coerced(
    client: TestClient, store: Store, route: str, body: dict[str, Any], field: str
) -> None:
    """Issue 12, defect 11 (the data records' share): "5" and true are not numbers."""
    before = store.counts()
    r = client.put(route, json=body)
    assert r.status_code == 422
    assert [(f["index"], f["field"]) for f in r.json()["error"]["fields"]] == [(0, field)]
    assert store.counts() == before


@pytest.mark.parametrize("value", ["2", True])
def test_event_value_is_not_coerced(client: TestClient, store: Store, value: object) -> None:
    event = {**_event("v1", "2024-02-01T10:00:00Z"), "kind": "purchase", "value": value}
    r = client.post("/events", json={"events": [event]})
    assert r.status_code == 422
    assert [(f["index"], f["field"]) for f in r.json()["error"]["fields"]] == [(0, "value")]
    ok = {**event, "value": 2}
    assert client.post("/events", json={"events": [ok]}).status_code == 200
    assert store.counts()["events"] == 18
