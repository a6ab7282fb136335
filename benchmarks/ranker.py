"""Second-stage ranker on a public dataset: quality, time per stage, feature gains, ablations.

    python benchmarks/ranker.py ml-100k --dev               # validation only, nothing written
    python benchmarks/ranker.py ml-100k --dev --set candidates=100 --set base.sasrec.epochs=5
    python benchmarks/ranker.py ml-100k                     # the chosen setting: valid + test

Leave-one-out, full ranking, seen items filtered (the protocol of ``quality.py``). The ranker is
fitted on the training part only (it holds out each training sequence's last item for itself);
``--dev`` runs score the validation targets only and write ``var/ranker-dev/<dataset>.json``.
Without ``--dev`` the test targets are scored once for the setting given and
``benchmarks/results/quality-<dataset>-ranker.json`` is written with: valid and test metrics,
``train_seconds`` (every stage of ``fit``), seconds per stage, LightGBM gain per feature, each
base model alone (as served by the ranker) and the ablations (the same base models, the ranker
retrained without the text features, without the Transformer; with ``refit``, also the ranker
serving over the held-out fits of the base models, which is what ``refit=False`` gives).

Online Retail is read through the normal ingest path (as ``quality.py`` does); its item text is
the StockCode → Description file and its price the median UnitPrice of the item's order lines.
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import os
import sys
import time
from typing import Any

import numpy as np
import pandas as pd
from common import ROOT, write_result
from quality import make_split, online_retail

from cartwise.cli.models import parse_settings
from cartwise.data.dataset import Dataset
from cartwise.data.sources.public import datasets_dir
from cartwise.data.split import Split, leave_last_out
from cartwise.evaluation.experiment import KS, preset
from cartwise.evaluation.protocol import evaluate
from cartwise.models.base import Recommender
from cartwise.models.ranker import Ranker

#: Base-model settings per dataset: SASRec's preset (evaluation.experiment.PRESETS) and the
#: EASE / ItemKNN settings chosen on validation by quality.py's grids (result files' config).
#: ``refit`` off where two Transformer fits would not fit the 30-minute budget.
PRESETS: dict[str, dict[str, Any]] = {
    "ml-1m": {"refit": False, "base": {"ease": {"reg": 300.0}}},
    "beauty-bert4rec": {"refit": False, "base": {"itemknn": {"k": 200, "shrink": 20.0}}},
    "amazon-beauty-text": {"base": {"ease": {"reg": 100.0}, "itemknn": {"k": 200, "shrink": 20.0}}},
    "amazon-scientific": {"base": {"ease": {"reg": 100.0}}},
    "ml-100k": {"base": {"ease": {"reg": 100.0}}},
    # refit off only for this session's time on a shared machine (amazon-scientific's
    # validation: refit 0.1035 vs held-out fits 0.1008)
    "online-retail": {"refit": False, "base": {"ease": {"reg": 100.0}}},
}
ABLATIONS = {"without-text": "content", "without-transformer": "sasrec"}
KEEP = ("ndcg@10", "hr@10", "ndcg@20", "hr@20", "mrr", "coverage@10")


def ranker_config(dataset: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """The preset for `dataset` with `overrides` (``base.sasrec.epochs`` style keys nest)."""
    config = json.loads(json.dumps(PRESETS.get(dataset, {})))
    base = config.setdefault("base", {})
    base["sasrec"] = {**preset(dataset, "sasrec"), **base.get("sasrec", {})}
    cache = ROOT / "var" / "text-vectors.db"
    cache.parent.mkdir(exist_ok=True)
    base["content"] = {"encoder_cache": str(cache), **base.get("content", {})}
    for key, value in overrides.items():
        *path, last = key.split(".")
        node = config
        for part in path:
            node = node.setdefault(part, {})
        node[last] = value
    return config


def retail_split() -> Split:
    """Online Retail as quality.py reads it, with item text and prices attached."""
    data = online_retail()
    folder = datasets_dir() / "online-retail"
    names = pd.read_csv(folder / "items_stockcode_description.csv", dtype=str)
    text = dict(zip(names["StockCode"], names["Description"].fillna(""), strict=True))
    with gzip.open(folder / "online_retail.csv.gz", "rt") as fh:
        lines = pd.read_csv(fh, usecols=["StockCode", "UnitPrice"], dtype={"StockCode": str})
    price = lines[lines["UnitPrice"] > 0].groupby("StockCode")["UnitPrice"].median()
    ids = ["", *data.items.ids]
    info = pd.DataFrame({"price": [price.get(i, np.nan) for i in ids]})
    item_text = [text.get(i, "") for i in ids]
    enriched = data.with_sequences(
        data.sequences, data.timestamps, item_text=item_text, item_info=info
    )
    return leave_last_out(enriched)


def measure(model: Recommender, split: Split, dev: bool) -> dict[str, dict[str, float]]:
    """Validation (and, unless `dev`, test) metrics of `model`, rounded."""
    parts = {"valid": split.valid} if dev else {"valid": split.valid, "test": split.test}
    out = {}
    for label, evalset in parts.items():
        metrics = evaluate(model, evalset, ks=KS).metrics
        out[label] = {k: round(float(metrics[k]), 6) for k in KEEP}
    return out


def ablations(
    ranker: Ranker, config: dict[str, Any], data: Dataset, split: Split, seed: int, dev: bool
) -> list[dict[str, Any]]:
    """The ranker retrained over the same base models without one part."""
    variants: dict[str, tuple[dict[str, Any], dict[str, Recommender]]] = {}
    for label, drop in ABLATIONS.items():
        models = [m for m in ranker.config.models if m != drop]
        changes = {"models": models, **({"text_features": False} if drop == "content" else {})}
        variants[label] = (changes, ranker.bases_)
    if ranker.config.refit:  # the same trees serving over the held-out fits: what refit buys
        variants["held-out-bases"] = ({"refit": False}, ranker.held_bases_)
    rows = []
    for label, (changes, final) in variants.items():
        variant = Ranker({**config, **changes})
        began = time.perf_counter()
        variant.fit_with_bases(data, ranker.held_bases_, final, rng=seed)
        seconds = time.perf_counter() - began
        row = {"name": label, "ranker_seconds": round(seconds, 1), **measure(variant, split, dev)}
        rows.append(row)
        print(f"  {label}: valid NDCG@10 {row['valid']['ndcg@10']:.4f}", flush=True)
    return rows


def run(dataset: str, overrides: dict[str, Any], seed: int, dev: bool, ablate: bool) -> None:
    split = retail_split() if dataset == "online-retail" else make_split(dataset, "leave-one-out")
    print(f"{split.train}: {len(split.valid)} users evaluated", flush=True)
    config = ranker_config(dataset, overrides)
    load_before = os.getloadavg()[0]
    began = time.perf_counter()
    ranker = Ranker(config).fit(split.train, rng=seed, valid=split.valid)
    train_seconds = time.perf_counter() - began
    print(f"fit {train_seconds:.0f} s {ranker.timings_} {ranker.training_}", flush=True)
    result: dict[str, Any] = measure(ranker, split, dev)
    print(f"ranker: valid NDCG@10 {result['valid']['ndcg@10']:.4f}", flush=True)
    bases = []
    for name, model in ranker.bases_.items():
        bases.append({"model": name, **measure(model, split, dev)})
        print(f"  {name} alone: valid NDCG@10 {bases[-1]['valid']['ndcg@10']:.4f}", flush=True)
    gains = sorted(ranker.importances_.items(), key=lambda kv: -kv[1])
    result |= {
        "train_seconds_by_stage": {k: round(v, 1) for k, v in ranker.timings_.items()},
        "feature_importance_gain": {k: round(v, 1) for k, v in gains},
        "training": ranker.training_, "bases": bases,
        "ablations": ablations(ranker, config, split.train, split, seed, dev) if ablate else [],
        "load_avg_before": round(load_before, 2), "load_avg_after": round(os.getloadavg()[0], 2),
        "machine_shared": True, "users_evaluated": len(split.valid),
    }  # fmt: skip
    folder = ROOT / "var" / "ranker-dev" if dev else None
    path = write_result(
        "quality", dataset, "ranker", result, config=ranker.config.model_dump(mode="json"),
        seconds=train_seconds, folder=folder,
    )  # fmt: skip
    shown = "" if dev else f" test NDCG@10 {result['test']['ndcg@10']:.4f}"
    print(f"{dataset} ranker: train {train_seconds:.0f} s{shown} -> {path}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dataset", help="folder name under ../shared/datasets or online-retail")
    parser.add_argument("--set", action="append", default=[], help="ranker key=value")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dev", action="store_true", help="validation only, no result file")
    parser.add_argument("--no-ablations", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    run(args.dataset, parse_settings(args.set), args.seed, args.dev, not args.no_ablations)
    return 0


if __name__ == "__main__":
    sys.exit(main())
