"""Load on a live server: concurrent writers and readers, then a crash mid-load.

Every event the server acknowledged (HTTP 200) must be in the store afterwards — also when the
server process is SIGKILLed in the middle of the load and restarted.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from live_server import LiveServer, start_server
from sqlalchemy import select

from cartwise.data import tables as t
from cartwise.data.store import Store
from cartwise.serving.engine import Engine
from conftest import build_tiny

pytestmark = pytest.mark.slow

CLIENTS = 8
ITEMS = [f"p{i}" for i in range(1, 8)]


@dataclass
class Tally:
    """What the clients saw."""

    acked: set[str] = field(default_factory=set)
    reads: int = 0
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _client(url: str, n: int, stop: threading.Event, tally: Tally, crash_ok: bool) -> None:
    rng = random.Random(n)
    seq = 0
    with httpx.Client(base_url=url, timeout=30.0) as http:
        while not stop.is_set():
            user = f"load-{n}-{rng.randrange(20)}"
            batch = []
            for _ in range(5):
                seq += 1
                batch.append(
                    {
                        "event_id": f"c{n}-{seq}-{time.monotonic_ns()}",
                        "user_id": user,
                        "item_id": rng.choice(ITEMS),
                        "kind": rng.choice(["view", "click", "add_to_cart", "purchase"]),
                        "timestamp": "2024-05-01T12:00:00Z",
                    }
                )
            try:
                r = http.post("/events", json={"events": batch})
                if r.status_code == 200 and r.json()["inserted"] == len(batch):
                    with tally.lock:
                        tally.acked.update(e["event_id"] for e in batch)
                else:
                    tally.failures.append(f"POST /events {r.status_code}: {r.text[:200]}")
                r = http.get(f"/users/{user}/recommendations", params={"k": 5})
                if r.status_code != 200:
                    tally.failures.append(f"GET recommendations {r.status_code}: {r.text[:200]}")
                tally.reads += 1
            except httpx.HTTPError as exc:
                if not crash_ok:
                    tally.failures.append(f"{type(exc).__name__}: {exc}")
                return


def _run_load(url: str, seconds: float, *, crash: LiveServer | None = None) -> Tally:
    tally = Tally()
    stop = threading.Event()
    threads = [
        threading.Thread(target=_client, args=(url, n, stop, tally, crash is not None))
        for n in range(CLIENTS)
    ]
    for th in threads:
        th.start()
    time.sleep(seconds)
    if crash is not None:
        crash.stop(kill=True)  # SIGKILL mid-load: no graceful shutdown
    stop.set()
    for th in threads:
        th.join(timeout=60)
    return tally


def _stored(store: Store, ids: set[str]) -> set[str]:
    found: set[str] = set()
    wanted = sorted(ids)
    with store.engine.connect() as conn:
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            found.update(
                conn.scalars(select(t.events.c.event_id).where(t.events.c.event_id.in_(chunk)))
            )
    return found


@pytest.fixture
def shop(tmp_path: Path, store_url: str) -> Iterator[tuple[str, Path]]:
    """The tiny store (on SQLite and on PostgreSQL) and its model folder."""
    store = Store.open(store_url)
    build_tiny(store)
    Engine(store, tmp_path / "models").train("itemknn", rng=0)
    store.close()
    yield store_url, tmp_path / "models"


def test_every_acknowledged_event_is_stored_even_across_a_crash(
    shop: tuple[str, Path], tmp_path: Path
) -> None:
    db, models = shop
    server = start_server(db, models, tmp_path)
    try:
        steady = _run_load(server.url, 3.0)
    finally:
        server.stop()
    assert steady.failures == []
    assert steady.reads > 0 and len(steady.acked) > 0
    store = Store.open(db)
    assert _stored(store, steady.acked) == steady.acked
    assert store.counts()["events"] == 17 + len(steady.acked)

    port = int(server.url.rsplit(":", 1)[1])
    server = start_server(db, models, tmp_path, port=port)
    crashed = _run_load(server.url, 2.0, crash=server)
    assert crashed.failures == []
    assert len(crashed.acked) > 0
    restarted = start_server(db, models, tmp_path, port=port)
    try:
        assert httpx.get(restarted.url + "/ready").json()["ready"] is True
        lost = (steady.acked | crashed.acked) - _stored(
            Store.open(db), steady.acked | crashed.acked
        )
        assert lost == set()
        r = httpx.get(restarted.url + "/users/load-0-1/recommendations")
        assert r.status_code == 200
    finally:
        restarted.stop()
