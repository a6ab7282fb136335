"""Replicas: two ``cartwise serve`` processes (different ports, as on different machines) over
one store and one model folder give consistent answers. An event posted to one changes the
other's next answer, an item written through one is found by the other's search within the
sync interval, a version activated through one is served by both, a shopper deleted through one
is gone for both; with the models on a ``file://`` URL (each replica with its own download
cache), a version activated through one replica is served by the other with no failed request.
On SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from live_server import LiveServer, start_server

from cartwise.data.store import Store
from cartwise.serving.engine import Engine
from conftest import build_tiny

pytestmark = pytest.mark.slow

SYNC = 0.2  # CARTWISE_SYNC_SECONDS of the replicas
BOUND = 30.0  # generous: the machine running the tests may be loaded


def _replicas(
    tmp_path: Path, store_url: str, models: Path | str
) -> Iterator[tuple[LiveServer, LiveServer, str]]:
    """Train ItemKNN (active) and popularity (saved, not active), then start two replicas,
    each with its own model cache; yields them and the popularity version."""
    store = Store.open(store_url)
    build_tiny(store)
    engine = Engine(store, models, model_cache=tmp_path / "cache-trainer")
    engine.train("itemknn", {"k": 100, "shrink": 0.0}, rng=0)
    spare = engine.train("popularity", rng=0, activate=False)
    store.close()
    servers: list[LiveServer] = []
    try:
        for name in ("a", "b"):
            env = {"CARTWISE_SEARCH_MODE": "keyword", "CARTWISE_SYNC_SECONDS": str(SYNC),
                   "CARTWISE_MODEL_CACHE_DIR": str(tmp_path / f"cache-{name}")}  # fmt: skip
            servers.append(start_server(store_url, models, tmp_path, env=env, cartwise_serve=True))
        yield servers[0], servers[1], spare
    finally:
        for server in servers:
            server.stop()


@pytest.fixture
def on_folder(tmp_path: Path, store_url: str) -> Iterator[tuple[LiveServer, LiveServer, str]]:
    """Replicas sharing a model folder."""
    yield from _replicas(tmp_path, store_url, tmp_path / "models")


@pytest.fixture
def on_url(tmp_path: Path, store_url: str) -> Iterator[tuple[LiveServer, LiveServer, str]]:
    """Replicas sharing a ``file://`` model URL (the remote path: uploads, downloads, polling)."""
    yield from _replicas(tmp_path, store_url, (tmp_path / "shared-models").as_uri())


def _list(server: LiveServer, user: str, k: int = 3) -> dict[str, Any]:
    r = httpx.get(f"{server.url}/users/{user}/recommendations", params={"k": k}, timeout=30)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def _ids(server: LiveServer, user: str, k: int = 3) -> list[str]:
    return [i["item_id"] for i in _list(server, user, k)["items"]]


def _eventually(check: Any) -> bool:
    deadline = time.monotonic() + BOUND
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(SYNC / 2)
    return False


def test_replicas_agree_on_events_items_versions_and_deletions(
    on_folder: tuple[LiveServer, LiveServer, str],
) -> None:
    a, b, spare = on_folder
    assert _ids(a, "newbie") == _ids(b, "newbie")
    event = {"event_id": "x1", "user_id": "newbie", "item_id": "p4", "kind": "view",
             "timestamp": "2024-03-01T12:00:00Z"}  # fmt: skip
    before = _ids(b, "newbie")
    assert httpx.post(f"{a.url}/events", json={"events": [event]}).status_code == 200
    assert _ids(b, "newbie") == _ids(a, "newbie") != before  # b never saw the event

    tablet = {"id": "t1", "title": "Tablet Pro", "category": ["Electronics", "Tablets"]}
    assert httpx.put(f"{a.url}/items", json={"items": [tablet]}).status_code == 200

    def found() -> bool:
        r = httpx.post(f"{b.url}/search", json={"query": "tablet", "log": False}, timeout=30)
        return r.status_code == 200 and "t1" in [i["item_id"] for i in r.json()["items"]]

    assert _eventually(found)  # b's catalog snapshot follows the store's stamp

    r = httpx.post(f"{a.url}/models/{spare}/activate", timeout=30)
    assert r.status_code == 200, r.text
    assert _list(b, "u3")["model_version"] == spare == _list(a, "u3")["model_version"]
    assert httpx.get(f"{b.url}/ready").json()["model_version"] == spare

    stranger = _ids(b, "nobody", k=5)
    assert _ids(b, "u1", k=5) != stranger  # u1 bought p1: it is left out of their list
    assert httpx.delete(f"{a.url}/users/u1", timeout=30).status_code == 200
    assert httpx.get(f"{b.url}/users/u1").status_code == 404
    assert _ids(b, "u1", k=5) == stranger  # no history left anywhere: a stranger's list


def test_a_version_activated_through_one_replica_is_served_by_the_other_without_failures(
    on_url: tuple[LiveServer, LiveServer, str], tmp_path: Path
) -> None:
    a, b, spare = on_url
    old = _list(b, "u3")["model_version"]
    seen: list[str] = []
    failures: list[str] = []
    stop = threading.Event()

    def hammer() -> None:
        with httpx.Client(timeout=30) as http:
            while not stop.is_set():
                try:
                    r = http.get(f"{b.url}/users/u3/recommendations", params={"k": 3})
                except httpx.HTTPError as exc:
                    failures.append(repr(exc))
                    continue
                if r.status_code != 200:
                    failures.append(f"{r.status_code} {r.text}")
                else:
                    seen.append(r.json()["model_version"])

    worker = threading.Thread(target=hammer)
    worker.start()
    try:
        time.sleep(0.5)
        r = httpx.post(f"{a.url}/models/{spare}/activate", timeout=30)
        assert r.status_code == 200, r.text
        assert _eventually(lambda: bool(seen) and seen[-1] == spare)
        time.sleep(0.5)
    finally:
        stop.set()
        worker.join(timeout=60)
    assert failures == []
    switched = seen.index(spare)
    assert set(seen[:switched]) == {old} and set(seen[switched:]) == {spare}  # no flip back
    cached = [p.parent.name for p in (tmp_path / "cache-b").rglob("config.json")]
    assert spare in cached  # b downloaded the version into its own cache
