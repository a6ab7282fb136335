"""Search quality on the demo store: keyword vs semantic vs blend, with and without the shopper.

Usage: python benchmarks/search.py [--items 2000] [--users 3000] [--model sasrec] [--epochs 30]
                                   [--encoder minilm|hashing] [--max-queries 1500]

The demo store plants its searches with the items that truly answer them (``DemoTruth.queries``:
"galaxy s23", "otterbox phone case", "case for my new phone" — the last one relevant per
shopper). Protocol, free of leakage: the behaviour model is trained on the events before a cut
(day 60 of 90); every search typed after the cut is replayed with the shopper's positive events
before that search as their history. Relevance is binary (the planted relevant set, cold items
included); the metric is NDCG@10 over the whole catalog (every available item may be shown).

Configurations: matcher ∈ {keyword (BM25), semantic (encoder cosine), blend (0.5/0.5)} ×
personalisation ∈ {none, taste (the model's scores for the history, weight 0.3), taste + owned
(plus the bonus for items made for the item a "for my …" query refers to)}. Writes
``benchmarks/results/search-demo-<encoder>.json``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import write_result  # noqa: E402

from cartwise.data.catalog import (
    CatalogIndex,  # noqa: E402
    compatibility_index,  # noqa: E402
)
from cartwise.data.dataset import Dataset  # noqa: E402
from cartwise.data.schema import POSITIVE_KINDS, EventKind  # noqa: E402
from cartwise.data.sources.demo import DemoConfig, DemoData, build_demo_store  # noqa: E402
from cartwise.data.store import Store, to_epoch  # noqa: E402
from cartwise.evaluation.metrics import ndcg_multi  # noqa: E402
from cartwise.models.base import Query, Recommender  # noqa: E402
from cartwise.models.fit import fit  # noqa: E402
from cartwise.ranking.filters import Filters, catalog_mask  # noqa: E402
from cartwise.search import (  # noqa: E402
    HybridMatcher,
    KeywordMatcher,
    SearchWeights,
    SemanticMatcher,
    TextMatcher,
    owned_item,
    parse_query,
    rank,
)
from cartwise.text.encoder import HashingEncoder, SentenceTransformerEncoder, TextEncoder  # noqa: E402

CUT_DAY = 60
K = 10
PERSONAL = 0.3


class MemoEncoder:
    """Remembers query vectors: each distinct query is encoded once over the whole run."""

    def __init__(self, encoder: TextEncoder) -> None:
        self.encoder = encoder
        self.name, self.dim = encoder.name, encoder.dim
        self._memo: dict[str, np.ndarray] = {}

    def encode(
        self, texts: Sequence[str], *, batch_size: int = 64, progress: bool = False
    ) -> np.ndarray:
        todo = [t for t in dict.fromkeys(texts) if t not in self._memo]
        if todo:
            vectors = self.encoder.encode(todo, batch_size=batch_size, progress=progress)
            self._memo.update(zip(todo, vectors, strict=True))
        return np.stack([self._memo[t] for t in texts]) if texts else np.zeros((0, self.dim))


def replay(store: Store, data: DemoData, cut: float, limit: int, seed: int) -> list[dict]:
    """Searches after the cut with their relevant items and the shopper's history before them:
    every personal one ("case for my new phone") and a sample of `limit` of the others."""
    truth = {(q.text, q.user_id): q.relevant for q in data.truth.queries}
    frame = store.events_frame()
    searches = frame[(frame["kind"] == EventKind.SEARCH.value) & (frame["ts"] >= cut)]
    positive = frame[frame["kind"].isin([k.value for k in POSITIVE_KINDS])]
    by_user = {u: g for u, g in positive.groupby("user_id")}
    personal = {(t, u) for t, u in truth if u is not None}
    is_personal = np.array(
        [(q, u) in personal for q, u in zip(searches["query"], searches["user_id"], strict=True)],
        dtype=bool,
    )
    general = searches[~is_personal]
    sample = general.sample(n=min(limit, len(general)), random_state=seed)
    rows = pd.concat([searches[is_personal], sample]).sort_values("seq")
    out = []
    for row in rows.itertuples():
        relevant = truth.get((row.query, row.user_id)) or truth.get((row.query, None))
        if not relevant:
            continue
        past = by_user.get(row.user_id)
        history: list[tuple[str, str]] = []
        if past is not None:
            before = past[past["ts"] < row.ts]
            history = list(zip(before["item_id"].astype(str), before["kind"], strict=True))
        out.append(
            {"query": row.query, "user": row.user_id, "relevant": relevant, "history": history}
        )
    return out


def train(store: Store, cut: float, name: str, epochs: int, seed: int) -> Recommender:
    """The behaviour model on the events before the cut."""
    data = Dataset.from_store(store)
    assert data.timestamps is not None
    seqs = [s[t < cut] for s, t in zip(data.sequences, data.timestamps, strict=True)]
    times = [t[t < cut] for t in data.timestamps]
    past = data.with_sequences(seqs, times, name="demo/before-cut")
    config = {"epochs": epochs} if name == "sasrec" else None
    return fit(name, config, past, rng=seed).model


def personal_scores(
    model: Recommender, catalog: CatalogIndex, history: list[tuple[str, str]]
) -> np.ndarray | None:
    """The model's scores for the history, per catalog row (-inf where the model has no item)."""
    assert model.items_ is not None
    idx = [model.items_.get(i) for i, _ in history]
    known = [i for i in idx if i is not None]
    if not known:
        return None
    scores = model.score(Query.of(known[-200:]))
    rows = catalog.vocab_positions(model.items_)
    out = np.full(catalog.size, -np.inf)
    ok = rows >= 0
    out[rows[ok]] = scores[ok]
    return out


def evaluate(
    cases: list[dict],
    matchers: dict[str, TextMatcher],
    catalog: CatalogIndex,
    model: Recommender,
    compatible: dict[str, np.ndarray],
) -> dict[str, dict[str, float]]:
    """NDCG@10 per (matcher, personalisation), overall and on the "for my …" queries."""
    allowed = catalog_mask(catalog, Filters())
    lists: dict[str, list[np.ndarray]] = {}
    mine: dict[str, list[np.ndarray]] = {}
    for case in cases:
        parsed = parse_query(case["query"], catalog)
        personal = personal_scores(model, catalog, case["history"])
        owned = owned_item(parsed, case["history"], catalog, compatible)
        targets = np.array([catalog.position[i] for i in case["relevant"]], dtype=np.int64)
        for mname, matcher in matchers.items():
            setups = {
                "none": (None, None, 0.0),
                "taste": (personal, None, PERSONAL),
                "taste+owned": (personal, owned, PERSONAL),
            }
            for pname, (pers, own, weight) in setups.items():
                ranking = rank(
                    parsed,
                    matcher,
                    catalog,
                    allowed=allowed,
                    personal=pers,
                    owned=own,
                    compatible=compatible,
                    weights=SearchWeights(personal=weight),
                )
                s = ranking.scores
                t = s[targets]
                r = np.where(np.isfinite(t), (s[None, :] >= t[:, None]).sum(axis=1) - 1, 10**9)
                key = f"{mname}/{pname}"
                lists.setdefault(key, []).append(r)
                if parsed.refers_to:
                    mine.setdefault(key, []).append(r)
    return {
        key: {
            "ndcg@10": round(ndcg_multi(lists[key], K), 4),
            "ndcg@10_for_my": round(ndcg_multi(mine.get(key, []), K), 4),
        }
        for key in lists
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--users", type=int, default=3000)
    parser.add_argument("--model", default="sasrec")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--encoder", choices=["minilm", "hashing"], default="minilm")
    parser.add_argument("--max-queries", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(Path(tmp) / "demo.db")
        data = build_demo_store(store, DemoConfig(n_items=args.items, n_users=args.users))
        cut = to_epoch(data.truth.start + timedelta(days=CUT_DAY))
        t0 = time.perf_counter()
        model = train(store, cut, args.model, args.epochs, args.seed)
        train_s = time.perf_counter() - t0
        catalog = CatalogIndex.from_store(store)
        base: TextEncoder = (
            SentenceTransformerEncoder() if args.encoder == "minilm" else HashingEncoder()
        )
        encoder = MemoEncoder(base)
        t0 = time.perf_counter()
        keyword, semantic = KeywordMatcher(catalog), SemanticMatcher(catalog, encoder)
        index_s = time.perf_counter() - t0
        matchers: dict[str, TextMatcher] = {
            "keyword": keyword,
            "semantic": HybridMatcher(keyword, semantic, keyword_weight=0, semantic_weight=1),
            "blend": HybridMatcher(keyword, semantic, keyword_weight=0.5, semantic_weight=0.5),
        }
        cases = replay(store, data, cut, args.max_queries, args.seed)
        t0 = time.perf_counter()
        metrics = evaluate(cases, matchers, catalog, model, compatibility_index(store, catalog))
        eval_s = time.perf_counter() - t0
    n_mine = sum(1 for c in cases if parse_query(c["query"], catalog).refers_to)
    summary = {
        "queries": len(cases),
        "queries_for_my": n_mine,
        "distinct_texts": len({c["query"] for c in cases}),
        "train_seconds": round(train_s, 1),
        "index_seconds": round(index_s, 1),
        "eval_seconds": round(eval_s, 1),
    }
    path = write_result(
        "search",
        f"demo-{args.items}",
        f"{args.model}+{base.name}",
        {**{k: v for k, v in metrics.items()}, **summary},
        config={**vars(args), "cut_day": CUT_DAY, "personal_weight": PERSONAL, "k": K},
        seconds=time.perf_counter() - started,
        name=f"search-demo-{args.encoder}",
    )
    for key, value in metrics.items():
        print(
            f"{key:24s} NDCG@10 {value['ndcg@10']:.4f}   'for my …' {value['ndcg@10_for_my']:.4f}"
        )
    print(summary)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
