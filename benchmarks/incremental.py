"""Incremental update against full retrain of the Transformer (issue 14).

    python benchmarks/incremental.py --dataset demo
    python benchmarks/incremental.py --dataset ml-100k
    python benchmarks/incremental.py --dataset ml-100k --out /tmp/trial     # a trial

Two cut-off times split the events by time: T1 and T2 at the `--t1` and `--t2` quantiles of
all event times (default 0.75 and 0.9).

- **base**: SASRec trained on the events before T1 only, in their own item vocabulary (the
  items first seen from T1 on are new to it), early-stopping on each shopper's last event
  before T1 (:func:`cartwise.data.split.holdout_recent`).
- **validation** (both arms, the same set): the product's incremental holdout
  (:func:`cartwise.lifecycle.incremental.update_holdout`) on the events before T2: each
  shopper's latest event before T2 when it came at or after T1. It is removed from both arms'
  training data; settings and early stopping use it only.
- **full**: a new SASRec trained from scratch on every remaining event before T2.
- **incremental**: the base model fine-tuned from its weights on the same events
  (:func:`cartwise.models.sasrec_update.update`: the events from T1 on are the loss targets,
  the earlier ones context; its item table grown for the new items; its other settings
  derived, a quarter of the base's time budget among them).
- **test** (both arms, the same shoppers): every shopper with events before T2 and new items
  from T2 on (:func:`cartwise.data.split.temporal_cut`), ranked from their whole history
  before T2; targets are those items. Events from T2 on of items never seen before T2 are
  dropped first (no model trained before T2 can know them).

Every fit runs under the same fixed time budget (`--budget`, seconds, chosen before any test
figure was looked at; the update derives its own share of the base's). Runs print validation
figures and minutes only; the test figures go to
``benchmarks/results/incremental-<dataset>.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from common import require_committed, write_result

from cartwise.data.dataset import Dataset
from cartwise.data.split import EvalSet, holdout_recent, temporal_cut
from cartwise.evaluation.protocol import evaluate
from cartwise.lifecycle.incremental import update_holdout
from cartwise.models.sasrec import SASRec
from cartwise.models.sasrec_update import update

#: Wall seconds per fit (base and full); fixed before any test figure was seen.
BUDGET = 150.0


@dataclass(frozen=True)
class Windows:
    """The temporal split (module docstring); `after` is the base model's cut-off (epoch s)."""

    base: Dataset
    train: Dataset
    valid: EvalSet
    test: EvalSet
    t1: float
    t2: float

    @property
    def after(self) -> float:
        """Half a second before T1: the events at T1 or later are the update's targets."""
        return self.t1 - 0.5


def events_frame(data: Dataset) -> pd.DataFrame:
    """Every event of `data` as rows of external user id, item id, timestamp (and kind)."""
    assert data.timestamps is not None, "the split needs event times"
    lengths = np.asarray([len(s) for s in data.sequences])
    users = np.asarray(["", *data.users.ids], dtype=object)
    items = np.asarray(["", *data.items.ids], dtype=object)
    frame = pd.DataFrame({
        "user_id": np.repeat(users, lengths),
        "item_id": items[np.concatenate(data.sequences)],
        "timestamp": np.concatenate(data.timestamps).astype(np.float64),
    })  # fmt: skip
    if data.kinds is not None and data.kind_vocab is not None:
        kinds = np.asarray(["", *data.kind_vocab.ids], dtype=object)
        frame["kind"] = kinds[np.concatenate(data.kinds)]
    return frame


def split(data: Dataset, t1_share: float, t2_share: float) -> Windows:
    """Cut `data` at the `t1_share` and `t2_share` quantiles of its event times."""
    frame = events_frame(data)
    t1, t2 = (float(np.quantile(frame["timestamp"], q)) for q in (t1_share, t2_share))
    if not frame["timestamp"].min() < t1 < t2 <= frame["timestamp"].max():
        raise SystemExit(f"cut-offs {t1_share}, {t2_share} leave an empty window")
    known = set(frame.loc[frame["timestamp"] < t2, "item_id"])
    frame = frame[(frame["timestamp"] < t2) | frame["item_id"].isin(known)]
    full = Dataset.from_frame(frame, name=data.name)
    assert full.timestamps is not None
    upto = full.select([t < t2 for t in full.timestamps], name=f"{data.name}/before-T2")
    train, valid = update_holdout(upto, t1 - 0.5, None)
    if valid is None:
        raise SystemExit("no shopper has an event between T1 and T2 to validate on")
    base = Dataset.from_frame(frame[frame["timestamp"] < t1], name=f"{data.name}/before-T1")
    test = temporal_cut(full, t2).test
    return Windows(base, train, valid, test, t1, t2)


def scores(model: SASRec, evalset: EvalSet) -> dict[str, float]:
    """NDCG@10 and HR@10 of `model` on `evalset` (full ranking, seen items removed)."""
    found = evaluate(model, evalset, ks=(10,)).metrics
    return {"ndcg@10": round(float(found["ndcg@10"]), 4), "hr@10": round(float(found["hr@10"]), 4)}


def _timed(fit: Any) -> tuple[SASRec, float]:
    began = time.perf_counter()
    model = fit()
    return model, time.perf_counter() - began


def _facts(model: SASRec, seconds: float) -> dict[str, Any]:
    result = model.train_result_
    assert result is not None
    return {
        "minutes": round(seconds / 60, 2),
        "epochs": len(result.history), "best_epoch": result.best_epoch,
        "stopped_by_budget": result.stopped_by_budget,
        "time_budget_s": model.config.time_budget,
        "learning_rate": model.config.learning_rate,
    }  # fmt: skip


def compare(w: Windows, budget: float, settings: dict[str, Any]) -> dict[str, Any]:
    """Train base, full and incremental on `w` and measure them (module docstring). Prints
    validation figures only."""
    config = {**settings, "time_budget": budget}
    base_train, base_valid = holdout_recent(w.base)
    base, base_s = _timed(lambda: SASRec(config).fit(base_train, rng=0, valid=base_valid))
    out: dict[str, Any] = {"base": {**_facts(base, base_s), "valid": scores(base, base_valid)}}
    print(f"base: {out['base']['minutes']} min, valid {out['base']['valid']}", flush=True)
    arms = {
        "full": lambda: SASRec(config).fit(w.train, rng=0, valid=w.valid),
        "incremental": lambda: update(base, w.train, after=w.after, rng=0, valid=w.valid),
    }
    for name, fit in arms.items():
        model, seconds = _timed(fit)
        out[name] = {**_facts(model, seconds), "valid": scores(model, w.valid)}
        print(f"{name}: {out[name]['minutes']} min, valid {out[name]['valid']}", flush=True)
        out[name]["test"] = scores(model, w.test)  # recorded, not printed
    return out


def describe(w: Windows) -> dict[str, Any]:
    """Sizes of the split, for the record."""
    assert w.train.timestamps is not None
    new = [int((t >= w.t1).sum()) for t in w.train.timestamps]
    return {
        "t1": datetime.fromtimestamp(w.t1, UTC).isoformat(),
        "t2": datetime.fromtimestamp(w.t2, UTC).isoformat(),
        "base_events": w.base.n_interactions, "base_items": w.base.n_items,
        "train_events": w.train.n_interactions, "new_events": sum(new),
        "items": w.train.n_items,
        "new_items": w.train.n_items - sum(1 for i in w.train.items.ids if i in w.base.items),
        "valid_users": len(w.valid), "test_users": len(w.test),
        "test_targets": sum(len(t) for t in w.test.targets),
    }  # fmt: skip


def load(name: str) -> Dataset:
    """The demo store (seed 7, positive kinds) or a public dataset by name."""
    if name != "demo":
        from cartwise.data.sources.public import load_dataset

        return load_dataset(name)
    import tempfile

    from cartwise.data.sources.demo import DemoConfig, build_demo_store
    from cartwise.data.store import Store

    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(Path(tmp) / "demo.db")
        build_demo_store(store, DemoConfig(seed=7))
        data = Dataset.from_store(store, name="demo")
        store.close()
    return data


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="demo", help="demo, or a public dataset's name")
    parser.add_argument("--t1", type=float, default=0.75, help="quantile of event times: T1")
    parser.add_argument("--t2", type=float, default=0.9, help="quantile of event times: T2")
    parser.add_argument("--budget", type=float, default=BUDGET, help="seconds per fit")
    parser.add_argument("--out", type=Path, help="write the record here (a trial), not results/")
    args = parser.parse_args()
    if args.out is None:
        require_committed()
    w = split(load(args.dataset), args.t1, args.t2)
    facts = describe(w)
    print(json.dumps(facts), flush=True)
    arms = compare(w, args.budget, {})
    seconds = sum(arms[a]["minutes"] * 60 for a in ("base", "full", "incremental"))
    metrics = {
        **arms, "split": facts,
        "minutes_ratio": round(arms["incremental"]["minutes"] / arms["full"]["minutes"], 3),
    }  # fmt: skip
    config = {"t1_quantile": args.t1, "t2_quantile": args.t2, "time_budget_s": args.budget,
              "model": "sasrec (autoconfig)", "seed": 0}  # fmt: skip
    path = write_result("incremental", args.dataset, "sasrec", metrics, config=config,
                        seconds=seconds, name=f"incremental-{args.dataset}",
                        folder=args.out)  # fmt: skip
    print("->", path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
