"""Serving speed: a real uvicorn server on loopback, driven from a second process.

Usage: python benchmarks/serving.py [--seconds 5] [--levels 1,8,32] [--catalogs demo,synthetic-100k]
                                    [--model auto] [--work DIR] [--workers 1]
                                    [--cache both|on|off] [--cache-size 10000] [--shoppers 2000]
                                    [--results DIR]

For each catalog (the demo store, and a synthetic 100,000-item catalog) a model is trained
(``auto``: SASRec when it is registered, else EASE on the demo store and ItemKNN on the large
catalog, where EASE's dense item × item matrix does not fit; ``ranker``: the second-stage ranker
over briefly trained base models), the server is started as
``uvicorn cartwise.service.app:app_from_env``, and a separate load process keeps `level`
keep-alive HTTP/1.1 connections busy for `--seconds` per point, after a one-second warm-up (and
only once `/ready` reports the search index built, which the server does in the background):
``GET /health`` (the framework's ceiling) and ``GET /users/{id}/recommendations?k=10`` for
random known shoppers. Latency is measured per request by the load process (send → full body).

Each catalog is served twice by default (``--cache both``): with the answer cache
(``CARTWISE_ANSWER_CACHE_SIZE``, on by default in the service) and with it off (size 0), the
cost of computing every answer. With the cache, a shopper asked for again gets the kept answer,
re-checked on fresh rows; the shoppers are drawn at random from 2,000 (``--shoppers``: fewer
give more repeats), with no events written
meanwhile, so the share of answers served from the cache grows from point to point (each point
records it: ``answer_cache_hit_share``, from the server's ``/metrics``; with one worker only).

Writes ``benchmarks/results/serving-<catalog>-<model>.json`` (``…-w<N>.json`` with ``--workers N``
above 1; ``…-nocache.json`` with the cache off) with, per point, throughput,
p50/p95/p99 in milliseconds, the load average when the point started and the server's CPU time
per answer (user + system, all its processes: the figure other jobs on a shared machine move
least). ``--results DIR`` writes them elsewhere (trial runs). Targets: p99 ≤ 25 ms at the
sustained rate and recommendation throughput ≥ 50 % of the /health ceiling.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import require_committed, write_result  # noqa: E402

P99_TARGET_MS = 25.0
RATIO_TARGET = 0.5


# -- load process -------------------------------------------------------------------------------
async def _worker(
    port: int, paths: list[str], deadline: float, seed: int, out: list[float], errors: list[int]
) -> None:
    rng = random.Random(seed)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < deadline:
            request = f"GET {rng.choice(paths)} HTTP/1.1\r\nHost: bench\r\n\r\n".encode()
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            await reader.readexactly(length)
            out.append(time.perf_counter() - started)
            if not head.startswith(b"HTTP/1.1 200"):
                errors.append(int(head[9:12]))
    finally:
        writer.close()


def server_cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of the server process and its children (uvicorn workers)."""
    import psutil

    root = psutil.Process(pid)
    total = 0.0
    for proc in [root, *root.children(recursive=True)]:
        try:
            times = proc.cpu_times()
        except psutil.Error:  # a worker that just exited
            continue
        total += times.user + times.system
    return total


async def _drive(
    port: int, paths: list[str], level: int, seconds: float, server_pid: int | None = None
) -> dict[str, Any]:
    warm: list[float] = []
    await asyncio.gather(
        *(_worker(port, paths, time.perf_counter() + 1.0, i, warm, []) for i in range(level))
    )
    latencies: list[float] = []
    errors: list[int] = []
    load = [round(x, 2) for x in os.getloadavg()]
    cpu_before = server_cpu_seconds(server_pid) if server_pid else None
    started = time.perf_counter()
    deadline = started + seconds
    await asyncio.gather(
        *(_worker(port, paths, deadline, 100 + i, latencies, errors) for i in range(level))
    )
    elapsed = time.perf_counter() - started
    ms = np.asarray(latencies) * 1000.0
    point: dict[str, Any] = {
        "concurrency": level,
        "requests": len(latencies),
        "errors": len(errors),
        "rps": round(len(latencies) / elapsed, 1),
        "p50_ms": round(float(np.percentile(ms, 50)), 2),
        "p95_ms": round(float(np.percentile(ms, 95)), 2),
        "p99_ms": round(float(np.percentile(ms, 99)), 2),
        "load_average": load,
    }
    if server_pid and cpu_before is not None and latencies:
        # CPU the server spent per answer: unlike latency, barely moved by other jobs' load
        used = server_cpu_seconds(server_pid) - cpu_before
        point["server_cpu_ms_per_request"] = round(1000.0 * used / len(latencies), 3)
    return point


def drive_main(args: argparse.Namespace) -> int:
    """Entry of the load process: print one JSON result line."""
    paths = json.loads(Path(args.paths).read_text())
    result = asyncio.run(_drive(args.port, paths, args.level, args.seconds, args.server_pid))
    print(json.dumps(result))
    return 0


def run_point(
    port: int,
    paths: list[str],
    level: int,
    seconds: float,
    work: Path,
    server_pid: int | None = None,
) -> dict[str, Any]:
    """Drive the server from a second process at one concurrency level."""
    paths_file = work / "paths.json"
    paths_file.write_text(json.dumps(paths))
    cmd = [sys.executable, __file__, "--drive", "--port", str(port), "--paths", str(paths_file)]
    cmd += ["--level", str(level), "--seconds", str(seconds)]
    if server_pid:
        cmd += ["--server-pid", str(server_pid)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=seconds + 120)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# -- catalogs and models ------------------------------------------------------------------------
def build_catalog(name: str, store: Any, seed: int = 7) -> None:
    """Fill `store` with the demo data or a synthetic 100,000-item catalog."""
    if name == "demo":
        from cartwise.data.sources.demo import DemoConfig, build_demo_store

        build_demo_store(store, DemoConfig(seed=seed))
        return
    from cartwise.data.schema import Item

    rng = np.random.default_rng(seed)
    n_items, n_users, n_events = 100_000, 20_000, 400_000
    cats = [f"Category {c:02d}" for c in range(50)]
    items = [
        Item(
            id=f"i{i:06d}",
            title=f"Product {i} {cats[i % 50]}",
            category=["Shop", cats[i % 50]],
            price=float(rng.uniform(1, 500)),
        )
        for i in range(n_items)
    ]
    store.upsert_items(items)
    popularity = 1.0 / np.arange(1, n_items + 1) ** 0.8  # Zipf-like item popularity
    chosen = rng.choice(n_items, size=n_events, p=popularity / popularity.sum())
    users = rng.integers(0, n_users, size=n_events)
    kinds = rng.choice(
        ["view", "click", "add_to_cart", "purchase"], size=n_events, p=[0.7, 0.15, 0.1, 0.05]
    )
    start = 1.7e9
    rows = [
        {
            "event_id": f"e{n}",
            "user_id": f"u{users[n]:05d}",
            "session_id": None,
            "item_id": f"i{chosen[n]:06d}",
            "kind": str(kinds[n]),
            "value": None,
            "query": None,
            "ts": start + n * 10.0,
            "context": None,
        }
        for n in range(n_events)
    ]
    with store.batch() as batch:
        batch.append_event_rows(rows)


def pick_model(catalog: str, requested: str) -> tuple[str, dict[str, Any]]:
    """The model to serve and its settings."""
    from cartwise.models.registry import REGISTRY

    if requested == "ranker":  # serving speed does not depend on quality: brief base models
        return "ranker", {"base": {"sasrec": {"epochs": 3, "max_len": 50}}}
    if requested != "auto":
        return requested, {}
    if "sasrec" in REGISTRY:
        # serving speed does not depend on quality: train briefly
        if catalog == "demo":
            return "sasrec", {"epochs": 3, "max_len": 50}
        return "sasrec", {"epochs": 1, "max_len": 50, "loss": "sampled"}
    return ("ease", {}) if catalog == "demo" else ("itemknn", {"k": 50})


def prepare(catalog: str, model: str, work: Path) -> tuple[Path, Path, str, dict[str, Any]]:
    """Build (or reuse) the store and train the model; returns store, model dir, name, config."""
    from cartwise.data.store import Store
    from cartwise.serving.engine import Engine

    folder = work / catalog
    folder.mkdir(parents=True, exist_ok=True)
    store = Store.open(folder / "shop.db")
    if store.counts()["events"] == 0:
        started = time.perf_counter()
        build_catalog(catalog, store)
        print(f"{catalog}: built {store.counts()} in {time.perf_counter() - started:.0f}s")
    name, config = pick_model(catalog, model)
    engine = Engine(store, folder / "models")
    active = engine.active_version()
    if active is None or not active.startswith(f"{name}-"):
        started = time.perf_counter()
        engine.train(name, config, rng=0)
        print(f"{catalog}: trained {name} in {time.perf_counter() - started:.0f}s")
    store.close()
    return folder / "shop.db", folder / "models", name, config


def shopper_paths(store_path: Path, n: int = 2000) -> list[str]:
    """Recommendation paths for `n` random shoppers who have events."""
    from cartwise.data.store import Store

    users = sorted(Store.open(store_path).users_frame()["id"])
    rng = random.Random(0)
    return [f"/users/{u}/recommendations?k=10" for u in rng.sample(users, min(n, len(users)))]


# -- one catalog --------------------------------------------------------------------------------
def start_server(
    store: Path, models: Path, work: Path, workers: int, cache_size: int
) -> tuple[subprocess.Popen[bytes], int]:
    """Start ``uvicorn cartwise.service.app:app_from_env`` on a free loopback port; wait for it.

    `cache_size` answers are kept per server process (0: the answer cache is off)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    env = {
        **os.environ,
        "CARTWISE_STORE_URL": str(store.resolve()),
        "CARTWISE_MODEL_DIR": str(models.resolve()),
        "CARTWISE_ANSWER_CACHE_SIZE": str(cache_size),
        "CARTWISE_INSECURE_LOCAL": "true",  # no keys: loopback only
    }
    cmd = [sys.executable, "-m", "uvicorn", "cartwise.service.app:app_from_env", "--factory"]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    cmd += ["--workers", str(workers)]
    log = (work / "server.log").open("ab")
    process = subprocess.Popen(cmd, env=env, cwd=work, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 1800
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited; see {work / 'server.log'}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=30) as r:
                # wait for the search index too: the server builds it in the background after
                # it starts (encoding the catalog the first time), which would share the CPU
                # with the measured requests
                if r.status == 200 and json.loads(r.read()).get("search_index", True):
                    return process, port
        except OSError:
            pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError("server did not become ready (model loaded and search index built)")


_LOOKUPS = re.compile(r'^cartwise_answer_cache_lookups_total\{result="(\w+)"\} (\d+)$', re.M)
_ROWS = re.compile(r'^cartwise_score_cache_rows_total\{result="(\w+)"\} (\d+)$', re.M)


def cache_lookups(port: int) -> dict[str, int]:
    """The server's answer-cache counters (hit, miss, stale) and score-cache rows
    (``rows_hit``, ``rows_miss``) from ``/metrics``; with several workers, those of whichever
    worker answered."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as r:
        text = r.read().decode()
    found = {kind: int(n) for kind, n in _LOOKUPS.findall(text)}
    return found | {f"rows_{kind}": int(n) for kind, n in _ROWS.findall(text)}


def cache_shares(done: dict[str, int], cached: bool) -> dict[str, Any]:
    """The answer-cache hit share (when the cache is on) and the score-cache row hit share (a
    row scored before: a shopper's unchanged history, the shared single-item and empty
    histories of the reasons) over one point."""
    out: dict[str, Any] = {}
    if cached:
        answers = {k: v for k, v in done.items() if not k.startswith("rows_")}
        total = sum(answers.values())
        out["answer_cache_lookups"] = answers
        out["answer_cache_hit_share"] = round(answers.get("hit", 0) / total, 3) if total else None
    rows = done.get("rows_hit", 0) + done.get("rows_miss", 0)
    out["score_cache_row_hit_share"] = round(done.get("rows_hit", 0) / rows, 3) if rows else None
    return out


def bench_catalog(catalog: str, args: argparse.Namespace, work: Path, cached: bool) -> Path:
    """Serve one catalog and measure every point; returns the result file."""
    store_path, models, name, config = prepare(catalog, args.model, work)
    cache_size = args.cache_size if cached else 0
    server, port = start_server(store_path, models, work, args.workers, cache_size)
    points: dict[str, list[dict[str, Any]]] = {"health": [], "recommendations": []}
    load_before = [round(x, 2) for x in os.getloadavg()]  # the machine may be shared
    try:
        rec_paths = shopper_paths(store_path, args.shoppers)
        for level in args.levels:
            for scenario, paths in (("health", ["/health"]), ("recommendations", rec_paths)):
                before = cache_lookups(port)
                point = run_point(port, paths, level, args.seconds, work, server.pid)
                if scenario == "recommendations" and args.workers == 1:
                    after = cache_lookups(port)  # warm-up and measured seconds together
                    done = {k: after.get(k, 0) - before.get(k, 0) for k in after}
                    point.update(cache_shares(done, cached))
                points[scenario].append(point)
                print(f"{catalog} {scenario:>15} c={level:<3} {json.dumps(point)}")
    finally:
        load_after = [round(x, 2) for x in os.getloadavg()]
        server.terminate()
        server.wait(timeout=60)
    return write_result(
        "serving",
        catalog,
        name,
        summarize(points),
        config={
            "model_config": config,
            "seconds_per_point": args.seconds,
            "levels": args.levels,
            "server": f"uvicorn, {args.workers} worker(s), loopback",
            "answer_cache_size": cache_size,
            "shoppers": args.shoppers,
            "load": "second process, keep-alive",
            "load_average_before": load_before,
            "load_average_after": load_after,
            "cpu_count": os.cpu_count(),
        },
        seconds=0.0,
        # one worker with the cache keeps the historical file name; the others get their own
        name=f"serving-{catalog}-{name}"
        + (f"-w{args.workers}" if args.workers != 1 else "")
        + ("" if cached else "-nocache"),
        folder=args.results,
    )


def summarize(points: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Peak throughput, the sustained rate (best throughput with p99 within the target), the
    ratio to the /health ceiling and whether the targets are met."""
    recs = points["recommendations"]
    best = max(recs, key=lambda p: p["rps"])
    within = [p for p in recs if p["p99_ms"] <= P99_TARGET_MS]
    sustained = max(within, key=lambda p: p["rps"]) if within else None
    ceiling = max(p["rps"] for p in points["health"])
    return {
        "rps": best["rps"],
        "p50_ms": best["p50_ms"],
        "p95_ms": best["p95_ms"],
        "p99_ms": best["p99_ms"],
        "sustained_rps": sustained["rps"] if sustained else 0.0,
        "sustained_concurrency": sustained["concurrency"] if sustained else None,
        "sustained_p99_ms": sustained["p99_ms"] if sustained else None,
        "server_cpu_ms_per_request": best.get("server_cpu_ms_per_request"),
        "answer_cache_hit_share": best.get("answer_cache_hit_share"),
        "health_ceiling_rps": ceiling,
        "rps_vs_ceiling": round(best["rps"] / ceiling, 3),
        "errors": sum(p["errors"] for p in recs),
        "target_p99_met": sustained is not None,
        "target_ratio_met": best["rps"] / ceiling >= RATIO_TARGET,
        "points": points,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="measured seconds per point")
    parser.add_argument("--levels", default="1,8,32", help="concurrency levels")
    parser.add_argument("--catalogs", default="demo,synthetic-100k")
    parser.add_argument("--model", default="auto")
    parser.add_argument("--work", type=Path, default=None, help="keep stores here (reused)")
    parser.add_argument("--workers", type=int, default=1, help="server processes")
    parser.add_argument(
        "--cache",
        choices=["both", "on", "off"],
        default="both",
        help="answer cache of the server: on (the service's default), off, or both in turn",
    )
    parser.add_argument(
        "--cache-size", type=int, default=10_000, help="answers kept per process when on"
    )
    parser.add_argument(
        "--shoppers", type=int, default=2000, help="random shoppers asked for (fewer: more hits)"
    )
    parser.add_argument(
        "--results", type=Path, default=None, help="write result files here (default: results/)"
    )
    parser.add_argument("--drive", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--paths", help=argparse.SUPPRESS)
    parser.add_argument("--level", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--server-pid", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.drive:
        return drive_main(args)
    if args.results is None:
        require_committed()  # before any time is spent; the commit is the one that ran
    args.levels = [int(x) for x in args.levels.split(",")]
    work = (args.work or Path(tempfile.mkdtemp(prefix="cartwise-serving-"))).resolve()
    work.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("CARTWISE_API_KEYS", "{}")
    modes = {"both": [True, False], "on": [True], "off": [False]}[args.cache]
    for catalog in args.catalogs.split(","):
        for cached in modes:
            path = bench_catalog(catalog, args, work, cached)
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
