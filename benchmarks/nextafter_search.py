"""Personalised search that knows what the shopper bought: fitting accessories first.

Usage: python benchmarks/nextafter_search.py [--model sasrec] [--encoder minilm|hashing]
                                             [--min-fitting 5] [--results DIR]

On the full demo store (``cartwise demo``'s: 3,000 products, 5,000 shoppers; its generator knows
which accessories are made for which product through ``attributes["compatible_with"]``), for
every shopper who bought a product with at least `--min-fitting` accessories made for it, and
for every accessory kind made for that product (case, screen protector, charger):

- a long query: "I just bought a new <product family> and I'm looking for a <accessory kind>"
  (the family is the product's model line, e.g. "iPhone", "Galaxy", "Pixel");
- a short one: "<accessory kind>".

The metric is ``fitting_share@10``: the share of the top ``min(10, fitting)`` results that are
made for the purchased product, where ``fitting`` counts the distinct, available fitting items
(one per variant group, as lists show them). Measured through the engine and through the HTTP
search endpoint (the FastAPI app in-process) with the shopper's id. Target ≥ 0.8.

Writes ``benchmarks/results/nextafter-demo-search.json`` (metrics ``fitting_share@10``,
``http_fitting_share@10``, per query form, ``shoppers``, ``queries``).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import write_result  # noqa: E402

from cartwise.config import Settings  # noqa: E402
from cartwise.data.schema import EventKind, Item  # noqa: E402
from cartwise.data.sources.demo import DemoConfig, DemoData, build_demo_store  # noqa: E402
from cartwise.data.store import Store  # noqa: E402
from cartwise.ranking.filters import variant_group  # noqa: E402
from cartwise.search import hybrid_factory  # noqa: E402
from cartwise.serving.engine import Engine  # noqa: E402
from cartwise.text.encoder import HashingEncoder, SentenceTransformerEncoder  # noqa: E402

TARGET = 0.8


def accessory_noun(leaf: str, product_leaf: str) -> str:
    """ "Phone Cases" for a product in "Phones" → "case"; "Chargers" → "charger"."""
    product = {w.lower().rstrip("s") for w in product_leaf.split()}
    words = [w.lower() for w in leaf.split() if w.lower().rstrip("s") not in product]
    text = " ".join(words or [leaf.lower()])
    return text[:-1] if text.endswith("s") and not text.endswith("ss") else text


def family(item: Item) -> str:
    """The product's model line: the first word of its title after the brand."""
    words = item.title.split()
    if item.brand and words and words[0].lower() == item.brand.lower():
        words = words[1:]
    return words[0] if words else item.title


def cases(data: DemoData, min_fitting: int) -> list[dict[str, Any]]:
    """(shopper, product, query, fitting item ids) for every buyer of a product with enough
    accessories made for it: one long and one short query per accessory kind."""
    items = {i.id: i for i in data.items}
    made_for: dict[str, list[Item]] = {}
    for item in data.items:
        target = item.attributes.get("compatible_with")
        if target and item.available:
            made_for.setdefault(str(target), []).append(item)
    bought: dict[str, list[str]] = {}
    for ev in data.events:
        if ev.kind is EventKind.PURCHASE and ev.item_id in made_for:
            bought.setdefault(ev.user_id, [])
            if ev.item_id not in bought[ev.user_id]:
                bought[ev.user_id].append(ev.item_id)
    out = []
    for user, products in sorted(bought.items()):
        product = items[products[-1]]  # the latest purchase with accessories
        fitting = made_for[product.id]
        if len({variant_group(i) for i in fitting}) < min_fitting:
            continue
        by_kind: dict[str, list[Item]] = {}
        for item in fitting:
            by_kind.setdefault(accessory_noun(item.category[-1], product.category[-1]), []).append(
                item
            )
        for noun, kind_items in sorted(by_kind.items()):
            long = f"I just bought a new {family(product)} and I'm looking for a {noun}"
            ids = [i.id for i in kind_items]
            out.append(
                {
                    "user": user,
                    "product": product.id,
                    "query": long,
                    "form": "long",
                    "fitting": ids,
                    "groups": len({variant_group(i) for i in kind_items}),
                }
            )
            out.append(
                {
                    "user": user,
                    "product": product.id,
                    "query": noun,
                    "form": "short",
                    "fitting": ids,
                    "groups": len({variant_group(i) for i in kind_items}),
                }
            )
    return out  # fmt: skip


def share(shown: list[str], case: dict[str, Any]) -> float:
    """Share of the top min(10, fitting groups) results that fit the purchased product."""
    n = min(10, case["groups"])
    fitting = set(case["fitting"])
    return sum(1 for i in shown[:n] if i in fitting) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="sasrec")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--encoder", choices=["minilm", "hashing"], default="minilm")
    parser.add_argument("--min-fitting", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--results", type=Path, default=None)
    args = parser.parse_args()

    from fastapi.testclient import TestClient

    from cartwise.service.app import create_app

    work = Path(tempfile.mkdtemp(prefix="nextafter-search-"))
    store = Store.open(work / "store.db")
    data = build_demo_store(store, DemoConfig(seed=args.seed))
    encoder = SentenceTransformerEncoder() if args.encoder == "minilm" else HashingEncoder()
    engine = Engine(store, work / "models", matcher=hybrid_factory(encoder))
    config = {"epochs": args.epochs, "max_len": 50} if args.model == "sasrec" else None
    started = time.perf_counter()
    engine.train(args.model, config, rng=args.seed)
    seconds = time.perf_counter() - started
    todo = cases(data, args.min_fitting)
    engine_shares: dict[str, list[float]] = {"long": [], "short": []}
    http_shares: dict[str, list[float]] = {"long": [], "short": []}
    client = TestClient(create_app(engine, Settings(insecure_local=True)), client=("127.0.0.1", 1))
    for case in todo:
        served = engine.search(case["query"], 10, user_id=case["user"])
        engine_shares[case["form"]].append(share([r.item.id for r in served.items], case))
        body = client.post("/search", json={"query": case["query"], "user_id": case["user"],
                                            "k": 10, "log": False}).json()  # fmt: skip
        http_shares[case["form"]].append(share([i["item_id"] for i in body["items"]], case))
    every = engine_shares["long"] + engine_shares["short"]
    metrics = {
        "fitting_share@10": float(np.mean(every)),
        "http_fitting_share@10": float(np.mean(http_shares["long"] + http_shares["short"])),
        "fitting_share@10_long": float(np.mean(engine_shares["long"])),
        "fitting_share@10_short": float(np.mean(engine_shares["short"])),
        "shoppers": len({c["user"] for c in todo}),
        "queries": len(todo),
        "target": TARGET,
    }
    print({k: round(v, 4) if isinstance(v, float) else v for k, v in metrics.items()})
    path = write_result(
        "nextafter", "demo", "search", metrics,
        config={"model": args.model, "epochs": args.epochs, "encoder": encoder.name,
                "min_fitting": args.min_fitting, "seed": args.seed},
        seconds=seconds, name="nextafter-demo-search", folder=args.results,
    )  # fmt: skip
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
