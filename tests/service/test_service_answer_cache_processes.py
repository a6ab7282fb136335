"""Two server processes over one store, each with its own answer cache: what one process
writes changes the other's next answer at once (events, item rows, the active model); on SQLite
and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from live_server import LiveServer, start_server

from cartwise.data.store import Store
from cartwise.serving.engine import Engine
from conftest import build_tiny, tiny_items

pytestmark = pytest.mark.slow


@pytest.fixture
def two_servers(
    tmp_path: Path, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[LiveServer, LiveServer, str, Path]]:
    store = Store.open(store_url)
    build_tiny(store)
    Engine(store, tmp_path / "models").train("itemknn", {"k": 100, "shrink": 0.0}, rng=0)
    store.close()
    monkeypatch.setenv("CARTWISE_SEARCH_MODE", "keyword")  # no sentence encoder to load
    db, models = store_url, tmp_path / "models"
    first = start_server(db, models, tmp_path)
    try:
        second = start_server(db, models, tmp_path)
        try:
            yield first, second, db, models
        finally:
            second.stop()
    finally:
        first.stop()


def _ids(server: LiveServer, user: str, k: int = 2) -> list[str]:
    r = httpx.get(f"{server.url}/users/{user}/recommendations", params={"k": k}, timeout=30)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return [i["item_id"] for i in body["items"]]


def test_writes_through_one_process_change_the_others_cached_answers(
    two_servers: tuple[LiveServer, LiveServer, str, Path],
) -> None:
    a, b, db, models = two_servers
    for _ in range(2):  # computed, then from each process's cache
        assert _ids(a, "newbie") == ["p4", "p1"]
        assert _ids(b, "newbie") == ["p4", "p1"]
    event = {
        "event_id": "x1",
        "user_id": "newbie",
        "item_id": "p4",
        "kind": "view",
        "timestamp": "2024-03-01T12:00:00Z",
    }
    assert httpx.post(f"{b.url}/events", json={"events": [event]}).status_code == 200
    assert _ids(a, "newbie") == ["p5", "p6"]  # a never saw the event, only the store did

    p5 = next(i for i in tiny_items() if i.id == "p5").model_dump(mode="json")
    p5["available"] = False
    assert httpx.put(f"{b.url}/items", json={"items": [p5]}).status_code == 200
    assert "p5" not in _ids(a, "newbie")  # a's catalog snapshot is up to 30 s old

    before = httpx.get(f"{a.url}/users/u3/recommendations", params={"k": 3}).json()
    store = Store.open(db)
    try:
        version = Engine(store, models).train("popularity", rng=0)  # a third process's swap
    finally:
        store.close()
    after = httpx.get(f"{a.url}/users/u3/recommendations", params={"k": 3}).json()
    assert after["model_version"] == version != before["model_version"]
