"""LM reranking measured honestly: ml-100k, a baseline's top-20 reordered by the local SmolLM2.

Usage: python benchmarks/rerank.py [--users 60] [--baseline itemknn] [--candidates 20]
                                   [--threads N] [--seed 7]

Protocol: leave-last-out on ml-100k (``../shared/datasets/ml-100k``); the baseline is fitted on
the training part; for a random sample of test users (fixed seed) its top-20 unseen items are
given to :class:`rerank_lm.LMReranker` with the titles of the user's 10 latest
movies (titles with their year; genres are left out to keep the prompt, and CPU time, short).
NDCG@10 and HR@10 of the held-out item are computed before and after, on the same users; a
target outside the top-20 is a miss either way (HR@20 is the ceiling reranking can reach).
Also reported: the share of usable replies and seconds per user (generator time, greedy
decoding, CPU). The run stops sampling users once ``--budget-seconds`` is spent and reports
how many it measured. Writes ``benchmarks/results/rerank-ml-100k-<baseline>.json`` whatever
the outcome.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROOT, write_result  # noqa: E402
from rerank_lm import LMReranker, RerankConfig  # noqa: E402

from cartwise.data.sources.public import load_movielens  # noqa: E402
from cartwise.data.split import leave_last_out  # noqa: E402
from cartwise.models.base import Query  # noqa: E402
from cartwise.models.fit import fit  # noqa: E402
from cartwise.text.generator import LocalSmolLM2  # noqa: E402

K = 10


def dcg_at(rank: int | None) -> float:
    """1 / log2(rank + 2) when the 0-based rank is within K, else 0 (one relevant item)."""
    return 1.0 / float(np.log2(rank + 2)) if rank is not None and rank < K else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=60)
    parser.add_argument("--baseline", default="itemknn")
    parser.add_argument("--candidates", type=int, default=20)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--budget-seconds", type=float, default=2700.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "datasets" / "ml-100k"))
    args = parser.parse_args()
    started = time.perf_counter()
    data = load_movielens(args.data)
    split = leave_last_out(data)
    model = fit(args.baseline, None, split.train, rng=args.seed).model
    test = split.test
    rng = np.random.default_rng(args.seed)
    sample = rng.choice(len(test), size=min(args.users, len(test)), replace=False)
    generator = LocalSmolLM2(threads=args.threads, seed=args.seed)
    t0 = time.perf_counter()
    generator.generate("Say OK.", max_new_tokens=2)  # loads the model outside the timing
    load_s = time.perf_counter() - t0
    config = RerankConfig(
        enabled=True, max_candidates=args.candidates, max_new_tokens=args.max_new_tokens
    )
    reranker = LMReranker(generator, config)
    titles = [text.split(". ")[0] for text in data.item_text]  # "Toy Story (1995)"
    before, after, ceiling, used, changed, seconds = [], [], [], 0, 0, []
    for n, u in enumerate(sample.tolist()):
        if time.perf_counter() - started > args.budget_seconds:
            print(f"time budget spent after {n} users")
            break
        history, target = test.inputs[u], int(test.targets[u][0])
        scores = model.score(Query.of(history)).astype(np.float64)
        scores[0] = -np.inf
        scores[history] = -np.inf
        top = np.argsort(-scores, kind="stable")[: args.candidates].tolist()
        recent = [titles[i] for i in history[-10:].tolist()]
        t0 = time.perf_counter()
        out = reranker.rerank(recent, [titles[i] for i in top])
        seconds.append(time.perf_counter() - t0)
        used += out.source == "lm"
        changed += out.order[:K] != list(range(min(K, len(top))))
        new = [top[i] for i in out.order]
        before.append(dcg_at(top.index(target) if target in top else None))
        after.append(dcg_at(new.index(target) if target in new else None))
        ceiling.append(float(target in top))
        print(f"[{n + 1}/{len(sample)}] {seconds[-1]:.1f}s {out.source} {out.reply[:60]!r}")
    metrics = {
        "ndcg@10_before": round(float(np.mean(before)), 4),
        "ndcg@10_after": round(float(np.mean(after)), 4),
        "hr@10_before": round(float(np.mean([b > 0 for b in before])), 4),
        "hr@10_after": round(float(np.mean([a > 0 for a in after])), 4),
        f"hr@{args.candidates}_ceiling": round(float(np.mean(ceiling)), 4),
        "usable_replies": round(used / len(before), 4),
        "changed_top10": round(changed / len(before), 4),
        "seconds_per_user": round(float(np.mean(seconds)), 2),
        "seconds_per_user_p90": round(float(np.percentile(seconds, 90)), 2),
        "load_seconds": round(load_s, 1),
        "users": len(before),
        "users_sampled": len(sample),
    }
    path = write_result(
        "rerank",
        "ml-100k",
        args.baseline,
        metrics,
        config={**vars(args), "generator": generator.name, "k": K, "decoding": "greedy"},
        seconds=time.perf_counter() - started,
    )
    print(metrics)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
