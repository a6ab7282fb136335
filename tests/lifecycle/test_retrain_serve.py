"""`cartwise serve --retrain-every`: a real server retrains in a subprocess on schedule and
switches to the new version while requests keep flowing, none failing."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from lifecycle_shop import add_visits, build_shop

from cartwise.data.store import Store
from cartwise.lifecycle import Gate, Versions, train_version

pytestmark = pytest.mark.slow  # a server, a retrain subprocess: tens of seconds


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _serve(db: Path, models: Path, workdir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "CARTWISE_API_KEYS": "{}"}
    cmd = [sys.executable, "-m", "cartwise", "serve", "--insecure-local", "--port", str(port),
           "--store", str(db), "--model-dir", str(models), "--retrain-every", "2s",
           "--log-level", "warning"]  # fmt: skip
    with (workdir / "server.log").open("ab") as log:
        return subprocess.Popen(cmd, env=env, cwd=workdir, stdout=log, stderr=subprocess.STDOUT)


def _wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        try:
            if httpx.get(url + "/health", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("server did not start:\n" + log.read_text())


def test_scheduled_retrain_swaps_versions_with_no_failed_request(tmp_path: Path) -> None:
    db, models = tmp_path / "shop.db", tmp_path / "models"
    store = Store.open(db)
    build_shop(store)
    first = train_version(store, Versions(models), "itemknn", rng=0, gate=Gate()).version
    add_visits(store)  # new events: the scheduled retrain has something to learn
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    server = _serve(db, models, tmp_path, port)
    statuses: list[int] = []
    seen: list[str] = []
    stop = threading.Event()

    def hammer(offset: int) -> None:
        with httpx.Client(base_url=url, timeout=30.0) as client:
            n = offset
            while not stop.is_set():
                r = client.get(f"/users/u{n % 60}/recommendations", params={"k": 5, "log": "false"})
                statuses.append(r.status_code)
                if r.status_code == 200:
                    seen.append(r.json()["model_version"])
                n += 1

    workers = [threading.Thread(target=hammer, args=(k,)) for k in range(2)]
    try:
        _wait_healthy(url, server, tmp_path / "server.log")
        for worker in workers:
            worker.start()
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and not (seen and seen[-1] != first):
            time.sleep(0.2)
        swapped_at = len(statuses)
        while len(statuses) < swapped_at + 20 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        for worker in workers:
            if worker.is_alive():
                worker.join(timeout=60)
        server.terminate()
        server.wait(timeout=60)
    log = (tmp_path / "server.log").read_text()
    active = Versions(models).active()
    assert active is not None and active != first, log
    assert statuses and set(statuses) == {200}, log
    assert seen[0] == first and seen[-1] == active  # served the old version, then the new
    assert Versions(models).info(active)["gate"]["basis"] == "after"
