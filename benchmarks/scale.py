"""Catalogs of a million items: faiss retrieval against exact scoring, through the real service.

Usage: python benchmarks/scale.py [--items 100000] [--events 1000000] [--users 50000]
                                  [--epochs 5] [--work DIR] [--seconds 5] [--levels 1,8]
                                  [--recall-users 1000] [--ann-threshold N] [--results DIR]
                                  [--search-mode keyword|auto]

Builds a synthetic store of `--items` items (50 categories, prices) and `--events` events of
`--users` shoppers with a Zipf-like item popularity (events written through the store's batch
path: ingest events/s), trains ALS (implicit; a dot-product model: score = folded-in user factor
· item factor, D = 64) through the engine (training seconds per epoch), then:

- recall@10 of the faiss index (the one the service builds: HNSW below 2M items) against exact
  scoring of every item, over the query vectors of `--recall-users` random shoppers' histories;
- p50/p99 latency of ``GET /users/{id}/recommendations?k=10`` through a real uvicorn server on
  loopback (:mod:`benchmarks.serving` machinery, answer cache off so every answer is computed),
  with the index, then with exact scoring (``CARTWISE_ANN_INDEX=off``) for comparison;
- the server's peak RSS (VmHWM) with the index, in MB and per million items.

The servers search by keywords (``CARTWISE_SEARCH_MODE=keyword``) unless ``--search-mode auto``.
With semantic search the service encodes every item's text with the sentence encoder once (in
the background after it starts, answering recommendations meanwhile; the vectors are kept in
the store's ``text_vectors`` table, so a restart reads them back): all-MiniLM-L6-v2 measured
3.6 ms per text on this 2-core machine, ~6 minutes per 100,000 items and ~1 hour per million
the first time. This benchmark measures recommendations, and waits until the search index is
built so that its build does not share the CPU with the measured requests: with ``auto`` the
first run's ``server_ready_seconds`` is that one-off encoding (428 s at 100,000 items).

Training: the ALS fit's peak RSS (VmHWM reset after the store is built), and with
``--sasrec-epochs N`` (default 1; 0 skips it), after the serving measurements, SASRec (derived
settings: sampled softmax above 16,384 items) trained for N epochs without activating it, its
seconds and peak RSS in ``train-synthetic-<size>-sasrec.json``.

Writes ``benchmarks/results/ann-synthetic-<size>-faiss.json``, `<size>` being the catalog in
millions (``1m``) when a whole number of millions, else in thousands (``100k``). The store and
model stay in ``--work`` (reused by a later run with the same sizes).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import require_committed, write_result  # noqa: E402

from serving import run_point, shopper_paths, start_server  # noqa: E402

ALS_CONFIG = {"embedding_size": 64, "reg": 0.01, "num_threads": 0}
CHUNK_EVENTS = 1_000_000  # events written per call (one transaction for all of them)


def size_label(items: int) -> str:
    """The catalog size in result names: ``1m`` for 1,000,000 items, ``100k`` for 100,000."""
    if items >= 1_000_000 and items % 1_000_000 == 0:
        return f"{items // 1_000_000}m"
    return f"{items // 1000}k"


def build_store(store: Any, items: int, events: int, users: int, seed: int = 7) -> float:
    """Fill `store`; returns ingest events per second (the events' write only)."""
    from cartwise.data.schema import Item

    rng = np.random.default_rng(seed)
    cats = [f"Category {c:02d}" for c in range(50)]
    store.upsert_items(
        Item(id=f"i{i:07d}", title=f"Product {i}", category=["Shop", cats[i % 50]],
             price=float(rng.uniform(1, 500)))
        for i in range(items)
    )  # fmt: skip
    popularity = 1.0 / np.arange(1, items + 1) ** 0.8
    chosen = rng.choice(items, size=events, p=popularity / popularity.sum())
    who = rng.integers(0, users, size=events)
    kinds = rng.choice(["view", "click", "add_to_cart", "purchase"], size=events,
                       p=[0.7, 0.15, 0.1, 0.05])  # fmt: skip
    writing = 0.0
    with store.batch() as batch:
        for start in range(0, events, CHUNK_EVENTS):  # rows built a chunk at a time: memory
            rows = [
                {"event_id": f"e{n}", "user_id": f"u{who[n]:06d}", "session_id": None,
                 "item_id": f"i{chosen[n]:07d}", "kind": str(kinds[n]), "value": None,
                 "query": None, "ts": 1.7e9 + n * 10.0, "context": None}
                for n in range(start, min(start + CHUNK_EVENTS, events))
            ]  # fmt: skip
            started = time.perf_counter()
            batch.append_event_rows(rows)
            writing += time.perf_counter() - started
    return events / writing


def reset_peak() -> None:
    """Start this process's peak RSS (VmHWM) again from its current RSS (Linux ≥ 4.0)."""
    Path("/proc/self/clear_refs").write_text("5")


def peak_mb(pid: int | str = "self", field: str = "VmHWM") -> float:
    """The peak RSS (VmHWM; `field` VmRSS: the current one) of process `pid` in MB."""
    status = Path(f"/proc/{pid}/status").read_text()
    kb = int(next(ln.split()[1] for ln in status.splitlines() if ln.startswith(field)))
    return round(kb / 1024, 1)


def train_sasrec(engine: Any, args: argparse.Namespace) -> None:
    """Train SASRec (derived settings) for ``--sasrec-epochs`` without activating it; write
    its seconds and peak RSS (see the module docstring)."""
    config = {"epochs": args.sasrec_epochs, "patience": None, "progress": True}
    reset_peak()
    before = peak_mb(field="VmRSS")
    started = time.perf_counter()
    version = engine.train("sasrec", config, rng=0, holdout=None, activate=False)
    seconds = time.perf_counter() - started
    peak = peak_mb()
    saved = engine.versions.meta(version).get("config", {})
    print(f"SASRec: {seconds:.0f}s for {args.sasrec_epochs} epoch(s), peak RSS {peak} MB")
    path = write_result(
        "train", f"synthetic-{size_label(args.items)}", "sasrec",
        {"seconds_per_epoch": round(seconds / args.sasrec_epochs, 1), "train_peak_rss_mb": peak,
         "rss_before_train_mb": before,
         "train_peak_rss_mb_per_1m_items": round(peak * 1e6 / args.items, 1),
         "loss": saved.get("loss"), "num_negatives": saved.get("num_negatives")},
        config={"items": args.items, "events": args.events, "users": args.users,
                "model_config": config, "load_average": [round(x, 2) for x in os.getloadavg()],
                "note": "peak RSS: VmHWM of the benchmark process (store, ALS and its index "
                        "loaded), reset before the fit; rss_before_train_mb: its RSS then"},
        seconds=seconds, folder=args.results,
    )  # fmt: skip
    print(f"wrote {path}")


def recall_at_10(engine: Any, store: Any, n_users: int) -> dict[str, Any]:
    """recall@10 of the view's index against exact scoring over random shoppers' histories."""
    from cartwise.data.history import shopper_events
    from cartwise.serving.scenarios.common import HISTORY_LIMIT, touches_of

    view = engine.view()
    index = view.ann
    if index is None:
        raise SystemExit("no index was built: lower --ann-threshold below the item count")
    users = sorted(store.users_frame()["id"])
    rng = np.random.default_rng(0)
    picked = rng.choice(len(users), size=min(n_users, len(users)), replace=False)
    queries = []
    for u in picked:
        recent, _ = shopper_events(store, users[u], HISTORY_LIMIT, purchases=False)
        touches = touches_of(view, recent)
        if touches:
            queries.append(view.query(touches))
    vectors = view.model.query_vectors(queries)
    hits, ann_ms, exact_ms = 0, 0.0, 0.0
    for q in vectors:
        started = time.perf_counter()
        found, _ = index.search(q, 10)
        ann_ms += time.perf_counter() - started
        started = time.perf_counter()
        exact, _ = index.exact(q, 10)
        exact_ms += time.perf_counter() - started
        hits += len(set(found.tolist()) & set(exact.tolist()))
    n = len(vectors)
    return {
        "recall@10": round(hits / (10 * n), 4),
        "recall_queries": n,
        "index_kind": index.kind,
        "index_build_seconds": round(index.build_seconds, 1),
        "search_ms_in_process": round(1000 * ann_ms / n, 3),
        "exact_ms_in_process": round(1000 * exact_ms / n, 3),
    }


def serve(store_path: Path, models: Path, work: Path, args: argparse.Namespace,
          index: str) -> dict[str, Any]:  # fmt: skip
    """p50/p99 per level through a real server with `index` (CARTWISE_ANN_INDEX); peak RSS."""
    os.environ["CARTWISE_ANN_INDEX"] = index
    os.environ["CARTWISE_SEARCH_MODE"] = args.search_mode
    if args.ann_threshold is not None:
        os.environ["CARTWISE_ANN_THRESHOLD"] = str(args.ann_threshold)
    started = time.perf_counter()
    server, port = start_server(store_path, models, work, 1, 0)
    ready_s = time.perf_counter() - started
    try:
        paths = shopper_paths(store_path, 2000)
        points = [run_point(port, paths, lv, args.seconds, work, server.pid) for lv in args.levels]
        peak = peak_mb(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=60)
    for p in points:
        print(f"{index:>5} c={p['concurrency']} {p}")
    return {"points": points, "peak_rss_mb": peak, "ready_seconds": ready_s}


def parse_args() -> argparse.Namespace:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--epochs", type=int, default=5, help="ALS sweeps")
    parser.add_argument("--work", type=Path, default=None, help="where the store lives (reused)")
    parser.add_argument("--seconds", type=float, default=5.0, help="measured seconds per point")
    parser.add_argument("--levels", default="1,8", help="concurrency levels")
    parser.add_argument("--recall-users", type=int, default=1000)
    parser.add_argument("--ann-threshold", type=int, default=None, help="force the threshold")
    parser.add_argument("--results", type=Path, default=None, help="trial runs: write here")
    parser.add_argument("--sasrec-epochs", type=int, default=1, help="0: no SASRec training")
    parser.add_argument(
        "--search-mode",
        choices=["keyword", "auto"],
        default="keyword",
        help="the servers' search (auto: encode item texts, see above)",
    )
    args = parser.parse_args()
    args.levels = [int(x) for x in args.levels.split(",")]
    return args


def main() -> int:
    args = parse_args()
    if args.results is None:
        require_committed()
    os.environ.setdefault("CARTWISE_API_KEYS", "{}")
    from cartwise.data.store import Store
    from cartwise.ranking.ann import AnnPolicy
    from cartwise.serving.engine import Engine

    work = (args.work or Path(tempfile.mkdtemp(prefix="cartwise-scale-"))).resolve()
    folder = work / f"scale-{args.items}-{args.events}-{args.users}"
    folder.mkdir(parents=True, exist_ok=True)
    store = Store.open(folder / "shop.db")
    events_per_s = None
    if store.counts()["events"] == 0:
        events_per_s = build_store(store, args.items, args.events, args.users)
        print(f"ingested {args.events} events at {events_per_s:.0f}/s")
    policy = AnnPolicy(args.ann_threshold)
    engine = Engine(store, folder / "models", answer_cache=0, ann=policy)
    config = {**ALS_CONFIG, "epochs": args.epochs}
    reset_peak()
    started = time.perf_counter()
    trained = engine.active_version() is None
    if trained:
        engine.train("als", config, rng=0, holdout=None)
    train_s = time.perf_counter() - started
    als_peak = peak_mb() if trained else None
    print(f"trained ALS in {train_s:.1f}s, peak RSS {als_peak} MB")
    quality = recall_at_10(engine, store, args.recall_users)
    print(quality)
    indexed = serve(folder / "shop.db", folder / "models", work, args, "auto")
    exact = serve(folder / "shop.db", folder / "models", work, args, "off")
    best = indexed["points"][0]
    metrics = {
        **quality,
        "p50_ms": best["p50_ms"],
        "p99_ms": best["p99_ms"],
        "peak_rss_mb": indexed["peak_rss_mb"],
        "peak_rss_mb_per_1m_items": round(indexed["peak_rss_mb"] * 1e6 / args.items, 1),
        "exact_p50_ms": exact["points"][0]["p50_ms"],
        "exact_p99_ms": exact["points"][0]["p99_ms"],
        "exact_peak_rss_mb": exact["peak_rss_mb"],
        "server_ready_seconds": round(indexed["ready_seconds"], 1),
        "exact_server_ready_seconds": round(exact["ready_seconds"], 1),
        "ingest_events_per_s": None if events_per_s is None else round(events_per_s),
        "train_seconds_per_epoch": round(train_s / args.epochs, 2) if trained else None,
        "als_train_peak_rss_mb": als_peak,
        "points": {"faiss": indexed["points"], "exact": exact["points"]},
    }
    path = write_result(
        "ann", f"synthetic-{size_label(args.items)}", "faiss", metrics,
        config={"items": args.items, "events": args.events, "users": args.users,
                "model": "als", "model_config": config, "seconds_per_point": args.seconds,
                "levels": args.levels, "ann_threshold": policy.threshold_for(64),
                "server": "uvicorn, 1 worker, loopback, answer cache off",
                "search_mode": args.search_mode,
                "load_average": [round(x, 2) for x in os.getloadavg()],
                "note": "2-core machine shared with other agents' jobs while measured"},
        seconds=train_s, folder=args.results,
    )  # fmt: skip
    print(f"wrote {path}")
    if args.sasrec_epochs > 0:
        train_sasrec(engine, args)
    store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
