"""Ingest speed: synthetic events from a CSV file into a fresh SQLite or PostgreSQL store.

Usage: python benchmarks/ingest.py [--store sqlite|postgresql] [--rows 1000000] [--users 50000]
                                   [--items 20000] [--no-reingest] [--profile] [--results DIR]

The CSV files (a catalog, then events with user, session, item, kind, quantity and an ISO 8601
timestamp, no event_id column, so ids are derived by hashing) are written first and not timed.
Then ``ingest_file`` imports the catalog and the events into a new store; the events import is
split into reading + validating (everything before the store transaction opens) and writing (the
transaction). Writes ``benchmarks/results/ingest.json`` (SQLite) or
``benchmarks/results/ingest-postgresql.json``.

``--store postgresql`` starts a throwaway PostgreSQL server of its own (initdb + pg_ctl in a
temporary folder, Unix socket only, removed afterwards; see :mod:`cartwise.data.pg_local`) with
durable settings (fsync and synchronous commit on, as a production server has them) and a larger
WAL allowance, so one import does not wait for checkpoints. The events then go through COPY.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import write_result  # noqa: E402

from cartwise.data.ingest.files import ingest_file  # noqa: E402
from cartwise.data.pg_local import LocalPostgres  # noqa: E402
from cartwise.data.store import Batch, Store  # noqa: E402

_CATEGORIES = ["Home > Kitchen", "Electronics > Phones", "Sports > Running", "Books > Fiction"]
_KINDS = np.array(["view", "click", "add_to_cart", "purchase"])
#: Server settings of the throwaway PostgreSQL (durability as PostgreSQL ships it).
PG_SETTINGS = {"shared_buffers": "256MB", "max_wal_size": "4GB", "checkpoint_timeout": "30min"}
STORES = {
    "sqlite": "sqlite (WAL, synchronous=NORMAL)",
    "postgresql": "postgresql (throwaway local server, Unix socket; "
    + ", ".join(f"{k}={v}" for k, v in PG_SETTINGS.items())
    + "; events through COPY)",
}


class TimedStore(Store):
    """A Store that records how long its write transactions stay open."""

    write_seconds = 0.0

    @contextmanager
    def batch(self) -> Iterator[Batch]:
        started = time.perf_counter()
        try:
            with super().batch() as batch:
                yield batch
        finally:
            self.write_seconds += time.perf_counter() - started


def make_files(folder: Path, rows: int, users: int, items: int, seed: int) -> tuple[Path, Path]:
    """Write items.csv and events.csv with a skewed item popularity."""
    rng = np.random.default_rng(seed)
    item_ids = np.array([f"sku-{i:06d}" for i in range(items)], dtype=object)
    catalog = pd.DataFrame(
        {
            "id": item_ids,
            "title": [f"Product {i}" for i in range(items)],
            "category": rng.choice(_CATEGORIES, items),
            "price": rng.gamma(2.0, 20.0, items).round(2),
        }
    )
    user = rng.integers(0, users, rows)
    item = (items * rng.random(rows) ** 2.5).astype(np.int64)
    kind = rng.choice(_KINDS, rows, p=[0.6, 0.2, 0.12, 0.08])
    seconds = np.sort(rng.integers(1_704_067_200, 1_704_067_200 + 90 * 86_400, rows))
    events = pd.DataFrame(
        {
            "user_id": pd.Series(user).map("u{:06d}".format),
            "session_id": pd.Series(user * 100 + seconds // 86_400 % 100).map("s{}".format),
            "item_id": item_ids[item],
            "kind": kind,
            "value": np.where(kind == "purchase", rng.integers(1, 4, rows), np.nan),
            "timestamp": pd.to_datetime(seconds, unit="s", utc=True).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
    )
    items_path, events_path = folder / "items.csv", folder / "events.csv"
    catalog.to_csv(items_path, index=False)
    events.to_csv(events_path, index=False)
    return items_path, events_path


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--store", choices=sorted(STORES), default="sqlite")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-reingest", action="store_true", help="skip the idempotent re-run")
    parser.add_argument("--profile", action="store_true", help="print the top functions")
    parser.add_argument("--results", type=Path, default=None, help="folder of the result file")
    return parser.parse_args()


@contextmanager
def store_url(kind: str, folder: Path) -> Iterator[str]:
    """The URL of a new, empty store of `kind` (a throwaway server for PostgreSQL)."""
    if kind == "sqlite":
        yield str(folder / "store.db")
        return
    with LocalPostgres.start(PG_SETTINGS) as server:
        yield server.url("bench")


def measure(url: str, args: argparse.Namespace, items_path: Path, events_path: Path) -> dict:
    """Import the catalog, then the events (timed), then the events again (idempotency)."""
    store = TimedStore(url)
    started = time.perf_counter()
    items = ingest_file(store, "items", items_path)
    items_seconds = time.perf_counter() - started
    store.write_seconds = 0.0
    profiler = cProfile.Profile() if args.profile else None
    started = time.perf_counter()
    if profiler:
        profiler.enable()
    events = ingest_file(store, "events", events_path)
    seconds = time.perf_counter() - started
    if profiler:
        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)
    assert events.inserted == args.rows, events.lines()
    metrics: dict[str, float | int] = {
        "events_per_s": round(args.rows / seconds),
        "rows": args.rows,
        "seconds": round(seconds, 2),
        "read_validate_seconds": round(seconds - store.write_seconds, 2),
        "write_seconds": round(store.write_seconds, 2),
        "items_per_s": round(items.inserted / items_seconds),
        "store_mb": round(store.size_bytes() / 2**20, 1),
    }
    if not args.no_reingest:
        started = time.perf_counter()
        again = ingest_file(store, "events", events_path)
        metrics["reingest_seconds"] = round(time.perf_counter() - started, 2)
        assert again.inserted == 0 and again.duplicates == args.rows, again.lines()
    store.close()
    return metrics


def main() -> int:
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="cartwise-bench-") as tmp:
        folder = Path(tmp)
        items_path, events_path = make_files(folder, args.rows, args.users, args.items, args.seed)
        with store_url(args.store, folder) as url:
            metrics = measure(url, args, items_path, events_path)
    config = {
        "rows": args.rows,
        "users": args.users,
        "items": args.items,
        "seed": args.seed,
        "format": "csv",
        "store": STORES[args.store],
    }
    path = write_result(
        "ingest",
        f"synthetic-{args.rows:,}".replace(",", "_"),
        args.store,
        metrics,
        config=config,
        seconds=float(metrics["seconds"]),
        name="ingest" if args.store == "sqlite" else f"ingest-{args.store}",
        folder=args.results,
    )
    for key, value in metrics.items():
        print(f"{key}: {value:,}")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
