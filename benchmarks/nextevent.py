"""Next event and next purchase on real multi-behaviour shop data (Taobao UserBehavior),
temporal split: event-aware SASRec vs id-only SASRec vs EASE vs popularity.

    python benchmarks/nextevent.py                      # every model, one process each
    python benchmarks/nextevent.py sasrec-events        # one model
    python benchmarks/nextevent.py sasrec --dev         # validation only, nothing written

Split (the log's clock is China time, UTC+8; the official window is 2017-11-25..12-03):
training = every event before 2017-12-01 00:00; validation = each shopper's events on
2017-12-01; test = from 2017-12-02 00:00 on, with the shopper's whole history before it as
input (models read the latest history at scoring time, without retraining). Targets, per
shopper with history (one target each):

- ``next-event``: the item of the first event after the cut. The protocol removes the input's
  items from the ranking, so shoppers whose next event is an item they already had are left
  out (``*-any`` keeps them and ranks every item).
- ``next-purchase``: the item of the first purchase after the cut, likewise (``-any``: every
  first purchase; most purchases are of items viewed or carted before, which only a ranking
  that keeps seen items can find).
- ``*-category``: the rank of the target item's category (3,067) when categories are ordered
  by their best item's score; most items occur once, categories recur.

Settings are chosen on validation ``next-event`` NDCG@10 (the grids below), SASRec early-stops
on it; the test sets are scored once. EASE's dense item-item inverse cannot hold the 61,168
items in this machine's memory, so it is fitted on the items with at least two shoppers in
training (3,498; the others score lowest). Writes
``benchmarks/results/quality-taobao-userbehavior-temporal-<model>.json``.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np
import pandas as pd
from common import require_committed, run_each, write_result
from nextcommon import Choice, category_rank, choose, rank

from cartwise.data.dataset import Dataset
from cartwise.data.schema import EventKind
from cartwise.data.sources.public import load_dataset
from cartwise.data.split import EvalSet, events_before, next_events
from cartwise.evaluation import metrics as m
from cartwise.models.base import Query, Recommender
from cartwise.models.ease import EASE

DATASET = "taobao-userbehavior"
CHINA = timezone(timedelta(hours=8))
VALID_CUT = datetime(2017, 12, 1, tzinfo=CHINA)
TEST_CUT = datetime(2017, 12, 2, tzinfo=CHINA)

SASREC: dict[str, Any] = {
    "max_len": 50, "embedding_size": 64, "num_blocks": 2, "epochs": 40, "patience": 5,
    "learning_rate": 1e-3, "batch_size": 128, "loss": "sampled", "num_negatives": 1024,
}  # fmt: skip
# Sampled softmax (1,024 shared uniform negatives per batch): a full softmax over the 61,168
# items costs ~1 TFLOP an epoch, hours on the shared 2-core machine (fixed before any run).
GRIDS: dict[str, list[dict[str, Any]]] = {
    "popularity": [{}],
    "ease": [{"reg": r} for r in (30.0, 100.0, 300.0)],
    "sasrec": [{**SASREC, "dropout": d} for d in (0.2, 0.5)],
    "sasrec-events": [{**SASREC, "dropout": d, "event_aware": True} for d in (0.2, 0.5)],
}
SELECT = "next-event/ndcg@10"


@dataclass
class Sets:
    """The evaluation sets of one side of the split (validation or test)."""

    event: EvalSet
    event_any: EvalSet
    purchase: EvalSet
    purchase_any: EvalSet


def sets(data: Dataset, at: datetime, until: datetime | None) -> Sets:
    buy = data.kind_code(EventKind.PURCHASE.value)
    assert buy is not None
    return Sets(
        next_events(data, at, until=until),
        next_events(data, at, until=until, fresh=False),
        next_events(data, at, until=until, kinds=[buy]),
        next_events(data, at, until=until, kinds=[buy], fresh=False),
    )


class SubCatalogEASE(Recommender):
    """EASE fitted on a part of the catalog (items with ≥ 2 training shoppers); the other
    items score -inf. Only for this benchmark: its inverse must fit in memory."""

    name = "ease"
    config_class = EASE.config_class

    def _fit(self, data: Dataset, rng: np.random.Generator, valid: Any) -> None:
        shoppers = np.asarray((data.matrix > 0).sum(axis=0)).ravel()
        self.keep_ = np.flatnonzero(shoppers >= 2)
        rows = [(u, i) for u, s in enumerate(data.sequences) for i in s[np.isin(s, self.keep_)]]
        frame = pd.DataFrame(rows, columns=["user_id", "item_id"]).astype(str)
        self.inner_ = EASE(self.config).fit(Dataset.from_frame(frame), rng=rng)
        assert self.inner_.items_ is not None
        self.to_inner_ = np.zeros(len(data.items), dtype=np.int64)
        inner_ids = np.asarray(self.inner_.items_.ids, dtype=np.int64)
        self.to_inner_[inner_ids] = np.arange(1, len(inner_ids) + 1)

    def _score_histories(self, queries: Any) -> np.ndarray:
        inner = [Query(self.to_inner_[q.history][self.to_inner_[q.history] > 0]) for q in queries]
        scores = self.inner_.score_many(inner)
        out = np.full((len(queries), len(self.to_inner_)), -np.inf, dtype=np.float32)
        covered = np.flatnonzero(self.to_inner_)
        out[:, covered] = scores[:, self.to_inner_[covered]]
        return out


def measure(model: Recommender, side: Sets, categories: np.ndarray, n_cat: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for label, evalset, seen in (
        ("next-event", side.event, True), ("next-event-any", side.event_any, False),
        ("next-purchase", side.purchase, True), ("next-purchase-any", side.purchase_any, False),
    ):  # fmt: skip
        figures = rank(model, evalset, exclude_seen=seen).metrics()
        out |= {f"{label}/{k}": v for k, v in figures.items()}
        out[f"{label}/users"] = len(evalset)
    for label, evalset in (("next-event", side.event_any), ("next-purchase", side.purchase_any)):
        ranks = category_rank(model, evalset, categories, n_cat)
        out[f"{label}-category/hr@10"] = m.hit_rate(ranks, 10)
        out[f"{label}-category/ndcg@10"] = m.ndcg(ranks, 10)
    out["ndcg@10"], out["hr@10"] = out["next-event/ndcg@10"], out["next-event/hr@10"]
    return out


def category_codes(data: Dataset) -> tuple[np.ndarray, int]:
    assert data.item_info is not None
    leaf = [c[-1] if isinstance(c, list) and c else "" for c in data.item_info["category"]]
    codes, uniques = pd.factorize(pd.Series(leaf, dtype=object))
    return codes.astype(np.int64), len(uniques)


def run_one(name: str, dev: bool, seed: int) -> None:
    began = time.perf_counter()
    data = load_dataset(DATASET)
    train = events_before(data, VALID_CUT)
    valid, test = sets(data, VALID_CUT, TEST_CUT), sets(data, TEST_CUT, None)
    categories, n_cat = category_codes(data)
    print(f"{name}: {train}; validation {len(valid.event)} shoppers, test {len(test.event)}",
          flush=True)  # fmt: skip
    model_name = "sasrec" if name.startswith("sasrec") else name
    early = valid.event if model_name == "sasrec" else None
    if name == "ease":
        chosen = _choose_ease(train, valid, categories, n_cat)
    else:
        chosen = choose(
            model_name, GRIDS[name], train, early,
            lambda model: measure(model, valid, categories, n_cat), SELECT, rng=seed,
        )  # fmt: skip
    print(f"{name}: chose {chosen.config}; validation {SELECT} {chosen.valid[SELECT]:.4f}")
    if dev:
        return
    figures = measure(chosen.model, test, categories, n_cat)
    history = list(getattr(chosen.model, "history_", []) or [])
    metrics = {
        "valid": chosen.valid, "test": figures, "selection": f"validation {SELECT}",
        "tuning": chosen.table, "epochs": len(history) or None, "split": "temporal",
        "cuts": {"valid": VALID_CUT.isoformat(), "test": TEST_CUT.isoformat()},
        "wall_seconds_with_tuning_and_eval": round(time.perf_counter() - began, 1),
    }  # fmt: skip
    path = write_result(
        "quality", f"{DATASET}-temporal", name, metrics,
        config=chosen.model.config.model_dump(mode="json"), seconds=chosen.train_seconds,
    )  # fmt: skip
    print(f"{name}: test next-event NDCG@10 {figures['next-event/ndcg@10']:.4f}, next-purchase "
          f"{figures['next-purchase/ndcg@10']:.4f} -> {path}", flush=True)  # fmt: skip


def _choose_ease(train: Dataset, valid: Sets, categories: np.ndarray, n_cat: int) -> Choice:
    best: Choice | None = None
    table = []
    for setting in GRIDS["ease"]:
        began = time.perf_counter()
        model = SubCatalogEASE(setting).fit(train, rng=0)
        seconds = time.perf_counter() - began
        figures = measure(model, valid, categories, n_cat)
        table.append({**setting, **figures, "fit_seconds": round(seconds, 1)})
        print(f"  ease {setting}: {SELECT} {figures[SELECT]:.4f} ({seconds:.0f} s)", flush=True)
        if best is None or figures[SELECT] > best.valid[SELECT]:
            best = Choice(model, setting, figures, seconds)
    assert best is not None
    best.table = table
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="?", default=",".join(GRIDS), help="comma-separated")
    parser.add_argument("--dev", action="store_true", help="validation only; write nothing")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    names = args.models.split(",")
    unknown = [n for n in names if n not in GRIDS]
    if unknown:
        sys.exit(f"unknown model {unknown[0]!r}; choose from {', '.join(GRIDS)}")
    if not args.dev:
        require_committed()  # before any time is spent; the commit is the one that ran
    if len(names) == 1:
        run_one(names[0], args.dev, args.seed)
        return 0
    dev = ["--dev"] if args.dev else []
    return run_each(
        {name: [sys.executable, __file__, name, "--seed", str(args.seed), *dev] for name in names}
    )


if __name__ == "__main__":
    sys.exit(main())
