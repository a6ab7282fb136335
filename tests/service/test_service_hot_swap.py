"""Activating a new model version while requests flow fails no request."""

from __future__ import annotations

import threading

from fastapi.testclient import TestClient

from cartwise.serving.engine import Engine


def test_requests_keep_succeeding_across_activations(client: TestClient, engine: Engine) -> None:
    first = engine.active_version()
    statuses: list[int] = []
    versions: set[str] = set()
    stop = threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            r = client.get("/users/u1/recommendations", params={"k": 3})
            statuses.append(r.status_code)
            if r.status_code == 200:
                versions.add(r.json()["model_version"])

    worker = threading.Thread(target=hammer)
    worker.start()
    trained: list[str] = []

    def let_requests_through() -> None:
        seen_before = len(statuses)
        while len(statuses) < seen_before + 3 and worker.is_alive():
            stop.wait(0.01)

    try:
        let_requests_through()
        for name in ("popularity", "itemknn", "popularity"):
            trained.append(engine.train(name, rng=0))  # trains, saves and activates
            let_requests_through()
    finally:
        stop.set()
        worker.join(timeout=30)
    assert statuses and set(statuses) == {200}
    assert first in versions and trained[-1] in versions
    final = client.get("/users/u1/recommendations").json()["model_version"]
    assert final == trained[-1]


def test_previous_version_answers_while_the_new_one_loads(engine: Engine) -> None:
    old = engine.view().version
    new = engine.train("popularity", rng=0)
    engine.ctx.active._lock.acquire()  # as if another thread were loading `new` right now
    try:
        assert engine.view().version == old
        assert engine.recommend_user("u1", 2).version == old
    finally:
        engine.ctx.active._lock.release()
    assert engine.view().version == new
