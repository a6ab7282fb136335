"""Ingest speed: synthetic events from a CSV file into a fresh SQLite store.

Usage: python benchmarks/ingest.py [--rows 1000000] [--users 50000] [--items 20000]
                                   [--no-reingest] [--profile]

The CSV files (a catalog, then events with user, session, item, kind, quantity and an ISO 8601
timestamp, no event_id column, so ids are derived by hashing) are written first and not timed.
Then ``ingest_file`` imports the catalog and the events into a new store; the events import is
split into reading + validating (everything before the store transaction opens) and writing (the
transaction). Writes ``benchmarks/results/ingest.json``.
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
from cartwise.data.store import Batch, Store  # noqa: E402

_CATEGORIES = ["Home > Kitchen", "Electronics > Phones", "Sports > Running", "Books > Fiction"]
_KINDS = np.array(["view", "click", "add_to_cart", "purchase"])


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-reingest", action="store_true", help="skip the idempotent re-run")
    parser.add_argument("--profile", action="store_true", help="print the top functions")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cartwise-bench-") as tmp:
        folder = Path(tmp)
        items_path, events_path = make_files(folder, args.rows, args.users, args.items, args.seed)
        store = TimedStore(folder / "store.db")
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
        write_seconds = store.write_seconds
        assert events.inserted == args.rows, events.lines()
        metrics: dict[str, float | int] = {
            "events_per_s": round(args.rows / seconds),
            "rows": args.rows,
            "seconds": round(seconds, 2),
            "read_validate_seconds": round(seconds - write_seconds, 2),
            "write_seconds": round(write_seconds, 2),
            "items_per_s": round(items.inserted / items_seconds),
            "store_mb": round((folder / "store.db").stat().st_size / 2**20, 1),
        }
        if not args.no_reingest:
            started = time.perf_counter()
            again = ingest_file(store, "events", events_path)
            metrics["reingest_seconds"] = round(time.perf_counter() - started, 2)
            assert again.inserted == 0 and again.duplicates == args.rows, again.lines()
        store.close()
    config = {
        "rows": args.rows,
        "users": args.users,
        "items": args.items,
        "seed": args.seed,
        "format": "csv",
        "store": "sqlite (WAL, synchronous=NORMAL)",
    }
    path = write_result(
        "ingest",
        f"synthetic-{args.rows:,}".replace(",", "_"),
        "sqlite",
        metrics,
        config=config,
        seconds=seconds,
        name="ingest",
    )
    for key, value in metrics.items():
        print(f"{key}: {value:,}")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
