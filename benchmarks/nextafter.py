"""What comes after a purchase, on the demo store's ground truth: event-aware vs id-only SASRec.

    python benchmarks/nextafter.py                  # both models, writes the result files
    python benchmarks/nextafter.py --dev            # validation figures only, nothing written
    python benchmarks/nextafter.py --models sasrec-events --dev

The demo store (``cartwise.data.sources.demo``, default config, seed 7) is built in a temporary
SQLite file and read back with every kind a shopper does with an item
(``Dataset.from_store(kinds="behaviour")``: views, cart adds and removals, purchases). Each
shopper's last event is held out (test), the one before it is the validation target, the rest
trains both models; the id-only model reads the same events less the non-positive kinds (cart
removals), as it would from the store.

Measured shoppers: those whose last *input* event is the purchase of a product with compatible
accessories in the generator's ground truth (``DemoTruth.complements``: cases, protectors and
chargers made for that phone, memory cards of a camera's format, ...). For them: HR@10 and
NDCG@10 of the next event (full ranking, seen items filtered), and ``compatible_share@10``, the
share of the top 10 that are accessories compatible with the purchased product. Settings are
chosen on the validation analogue (shoppers whose last input before the validation target is
such a purchase), never on the measured shoppers: the event-aware model is fitted with and
without the links its catalog declares (``relations``, :mod:`cartwise.models.sasrec_relations`:
an accessory's ``compatible_with``, attribute values shared across categories, weighted per
event kind as learnt in training; the model reads no ground truth), and the better one on
validation is kept. Writes
``benchmarks/results/nextafter-demo-<model>.json``.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from common import require_committed, write_result
from nextcommon import Choice, choose, rank

from cartwise.data.dataset import Dataset
from cartwise.data.schema import EventKind
from cartwise.data.sources.demo import DemoConfig, build_demo_store
from cartwise.data.split import EvalSet, Split, leave_last_out
from cartwise.data.store import Store
from cartwise.models.base import Recommender

#: The same architecture and setting for both models, fixed before any run: on this shared
#: 2-core machine one setting per model is what the time allows (the SASRec default dropout;
#: the epochs are decided by early stopping on every shopper's validation NDCG@10).
BASE: dict[str, Any] = {
    "max_len": 50, "embedding_size": 64, "num_blocks": 2, "epochs": 20, "patience": 3,
    "learning_rate": 2e-3, "batch_size": 128, "dropout": 0.2,
}  # fmt: skip
GRID: dict[str, list[dict[str, Any]]] = {
    "sasrec": [{}],
    # with and without the catalog's links (sasrec_relations; on by default)
    "sasrec-events": [{"event_aware": True, "relations": False}, {"event_aware": True}],
}
SELECT = "after_purchase/ndcg@10"


class Demo:
    """The demo store's events, its split and the ground truth the measurement needs."""

    def __init__(self, seed: int) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            store = Store.open(Path(tmp) / "demo.db")
            self.truth = build_demo_store(store, DemoConfig(seed=seed)).truth
            self.data = Dataset.from_store(store, kinds="behaviour", name="demo")
            self.positive = store.positive_kinds()
            store.close()
        self.split: Split = leave_last_out(self.data)
        vocab = self.data.items
        self.compatible: dict[int, np.ndarray] = {
            vocab.index(a): vocab.encode(c, skip_unknown=True)
            for a, c in self.truth.complements.items()
            if c and a in vocab
        }

    def after_purchase(self, evalset: EvalSet) -> EvalSet:
        """The shoppers whose last input event is a purchase of a product with accessories."""
        code = self.data.kind_code(EventKind.PURCHASE.value)
        assert evalset.input_kinds is not None
        rows = [
            r
            for r, (items, kinds) in enumerate(
                zip(evalset.inputs, evalset.input_kinds, strict=True)
            )
            if len(items) and kinds[-1] == code and int(items[-1]) in self.compatible
        ]
        return evalset.subset(rows)

    def for_model(self, name: str, evalset: EvalSet) -> EvalSet:
        """What the model reads: every kind (event-aware) or the positive ones (id-only)."""
        if name == "sasrec-events":
            return evalset
        assert self.data.kind_vocab is not None
        return evalset.only_kinds(self.data.kind_vocab.encode(self.positive, skip_unknown=True))

    def train_for(self, name: str) -> Dataset:
        return (
            self.split.train
            if name == "sasrec-events"
            else self.split.train.only_kinds(self.positive)
        )

    def measure(self, model: Recommender, name: str, evalset: EvalSet) -> dict[str, float]:
        """HR@10, NDCG@10 and compatible_share@10 on the after-purchase shoppers of `evalset`
        (their purchased product is the last item of the full input), and NDCG@10 overall."""
        subset = self.after_purchase(evalset)
        ranked = rank(model, self.for_model(name, subset))
        bought = [int(items[-1]) for items in subset.inputs]
        share = [
            np.isin(top, self.compatible[b]).mean()
            for top, b in zip(ranked.top, bought, strict=True)
        ]
        overall = rank(model, self.for_model(name, evalset)).metrics()
        return {
            **{f"after_purchase/{k}": v for k, v in ranked.metrics().items()},
            "after_purchase/compatible_share@10": float(np.mean(share)),
            "after_purchase/shoppers": len(subset),
            "all/ndcg@10": overall["ndcg@10"],
            "all/hr@10": overall["hr@10"],
        }


def run(demo: Demo, name: str, dev: bool) -> Choice:
    train = demo.train_for(name)
    early = demo.for_model(name, demo.split.valid)
    print(f"{name}: {train}, {len(demo.after_purchase(demo.split.valid))} validation shoppers "
          "after a purchase", flush=True)  # fmt: skip
    settings = [{**BASE, **s} for s in GRID[name]]
    return choose(
        "sasrec", settings, train, early, lambda m: demo.measure(m, name, demo.split.valid),
        SELECT,
    )  # fmt: skip


def report(demo: Demo, name: str, chosen: Choice) -> Path:
    test = demo.measure(chosen.model, name, demo.split.test)
    metrics = {
        "hr@10": test["after_purchase/hr@10"],
        "ndcg@10": test["after_purchase/ndcg@10"],
        "compatible_share@10": test["after_purchase/compatible_share@10"],
        "shoppers": test["after_purchase/shoppers"],
        "valid": chosen.valid,
        "test": test,
        "selection": f"validation {SELECT}",
        "tuning": chosen.table,
        "epochs": len(getattr(chosen.model, "history_", []) or []),
    }
    path = write_result(
        "nextafter", "demo", name, metrics, config=chosen.model.config.model_dump(mode="json"),
        seconds=chosen.train_seconds,
    )  # fmt: skip
    print(f"{name}: test after a purchase HR@10 {metrics['hr@10']:.4f} NDCG@10 "
          f"{metrics['ndcg@10']:.4f} compatible {metrics['compatible_share@10']:.2f} of 10 on "
          f"{metrics['shoppers']} shoppers -> {path}", flush=True)  # fmt: skip
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="sasrec-events,sasrec", help="comma-separated")
    parser.add_argument("--seed", type=int, default=7, help="seed of the demo store")
    parser.add_argument("--dev", action="store_true", help="validation only; write nothing")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if not args.dev:
        require_committed()  # before any time is spent; the commit is the one that ran
    began = time.perf_counter()
    demo = Demo(args.seed)
    print(f"{demo.data}; built in {time.perf_counter() - began:.0f} s", flush=True)
    for name in args.models.split(","):
        if name not in GRID:
            sys.exit(f"unknown model {name!r}; choose from {', '.join(GRID)}")
        chosen = run(demo, name, args.dev)
        print(f"{name}: chose {chosen.config} on validation", flush=True)
        if not args.dev:
            report(demo, name, chosen)
    print(f"done in {time.perf_counter() - began:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
