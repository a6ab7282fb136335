"""Regenerate the README's results tables from benchmarks/results/*.json.

Usage: python benchmarks/table.py [--check]

The tables sit between the markers ``<!-- results:start -->`` and ``<!-- results:end -->``
in README.md. Nothing in them is typed by hand: every figure comes from a result file, and each
row links the command that produced it. ``--check`` exits 1 if the README is out of date.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
START, END = "<!-- results:start -->", "<!-- results:end -->"


def _fmt(value: object, digits: int = 4) -> str:
    if isinstance(value, float):
        return f"{value:.{digits}f}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return "" if value is None else str(value)


BASKET = "-nextbasket"


def quality_table(results: list[dict[str, object]]) -> list[str]:
    rows = [
        r
        for r in results
        if r.get("benchmark") == "quality"
        and not str(r["dataset"]).endswith(BASKET)
        and not str(r["dataset"]).startswith(MULTI_BEHAVIOUR)
    ]
    if not rows:
        return []
    lines = [
        "| dataset | model | valid NDCG@10 | test NDCG@10 | test HR@10 | train s | peak MB |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in sorted(rows, key=lambda r: (str(r["dataset"]), str(r["model"]))):
        m = r["metrics"]
        assert isinstance(m, dict)
        valid, test = m.get("valid", {}), m.get("test", {})
        lines.append(
            f"| {r['dataset']} | {r['model']} | {_fmt(valid.get('ndcg@10'))} | "
            f"{_fmt(test.get('ndcg@10'))} | {_fmt(test.get('hr@10'))} | "
            f"{_fmt(float(r.get('train_seconds') or 0), 1)} | {_fmt(r.get('peak_rss_mb'), 0)} |"
        )
    notes = []
    if any(str(r["dataset"]).endswith("-temporal") for r in rows):
        notes = [
            "",
            "`*-temporal` rows: trained on events before the last 30 days, tested on the later"
            " events of shoppers seen before (`--split temporal`). A shopper's test targets are"
            " every new item bought in those 30 days, so HR@10 counts a hit on any of them and"
            " the figures are not comparable with the leave-one-out rows; validation is"
            " leave-one-out on the training part.",
        ]
    notes += retail_note(results)
    return ["### Recommendation quality (leave-one-out, full ranking)", "", *lines, *notes, ""]


def retail_note(results: list[dict[str, object]]) -> list[str]:
    """What the online-retail leave-one-out row measures, from its targets file."""
    found = [r for r in results if r.get("benchmark") == "targets"]
    if not found:
        return []
    m = found[0]["metrics"]
    assert isinstance(m, dict)
    return [
        "",
        f'`online-retail` (leave-one-out) is mostly "complete the basket": '
        f"{m['same_invoice']:.0%} of its test targets are on the same invoice as the last input "
        f"item, and {m['repeat']:.0%} are items the shopper bought before, which the protocol "
        "removes as seen and so counts as misses for every model "
        f"(`{found[0]['command']}`, {m['users']:,} shoppers). The next-basket table below "
        "(predict the next order from the earlier ones) is the row that matters for that shop.",
    ]


def basket_table(results: list[dict[str, object]]) -> list[str]:
    """Next-basket rows: the items of each shopper's next order, items bought before included."""
    rows = [
        r for r in results if r.get("benchmark") == "quality" and str(r["dataset"]).endswith(BASKET)
    ]
    if not rows:
        return []
    lines = [
        "| dataset | model | valid NDCG@10 | test NDCG@10 | test Recall@10 | test HR@10 | "
        "train s | command |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(rows, key=lambda r: (str(r["dataset"]), str(r["model"]))):
        m = r["metrics"]
        assert isinstance(m, dict)
        valid, test = m.get("valid", {}), m.get("test", {})
        lines.append(
            f"| {r['dataset']} | {r['model']} | {_fmt(valid.get('ndcg@10'))} | "
            f"{_fmt(test.get('ndcg@10'))} | {_fmt(test.get('recall@10'))} | "
            f"{_fmt(test.get('hr@10'))} | {_fmt(float(r.get('train_seconds') or 0), 1)} | "
            f"`{r['command']}` |"
        )
    facts = rows[0]["metrics"]
    assert isinstance(facts, dict)
    notes = [
        "",
        "Each shopper's last order (its lines share one timestamp) is the test, the one before "
        "the validation (tuning, early stopping), earlier orders the input. The targets are "
        "every item of the held-out order, "
        f"{_fmt(facts.get('test_basket_items_mean'), 1)} on average, "
        f"{float(facts.get('test_targets_bought_before') or 0):.0%} of them bought before by "
        "the same shopper: those stay candidates and count as hits. NDCG@10 and Recall@10 (hits / "
        "min(basket, 10)) are over the basket; HR@10 is any item of it in the top 10.",
    ]
    return ["### Next basket (Online Retail)", "", *lines, *notes, ""]


MULTI_BEHAVIOUR = "taobao-userbehavior"


def _get(metrics: object, *keys: str) -> object:
    for key in keys:
        if not isinstance(metrics, dict):
            return None
        metrics = metrics.get(key)
    return metrics


def next_event_table(results: list[dict[str, object]]) -> list[str]:
    """What comes next, read from event kinds: Taobao (temporal) and the demo store."""
    taobao = [
        r for r in results
        if r.get("benchmark") == "quality" and str(r["dataset"]).startswith(MULTI_BEHAVIOUR)
    ]  # fmt: skip
    after = [r for r in results if r.get("benchmark") == "nextafter"]
    demo = [r for r in after if r["model"] != "search"]
    search = [r for r in after if r["model"] == "search"]
    if not taobao and not after:
        return []
    return [
        "### What comes next, read from event kinds",
        "",
        *_taobao_rows(taobao),
        *_demo_rows(demo),
        *_search_rows(search),
    ]


def _taobao_rows(rows: list[dict[str, object]]) -> list[str]:
    if not rows:
        return []
    columns = [
        ("next-event", "ndcg@10"), ("next-event", "hr@10"), ("next-purchase", "ndcg@10"),
        ("next-purchase", "hr@10"), ("next-event-any", "ndcg@10"),
        ("next-purchase-any", "ndcg@10"), ("next-event-category", "hr@10"),
        ("next-purchase-category", "hr@10"),
    ]  # fmt: skip
    head = " | ".join(f"{a} {b.replace('ndcg', 'NDCG').replace('hr', 'HR')}" for a, b in columns)
    out = [
        f"| dataset | model | {head} | test users (event / purchase) | train s |",
        "|---|---|" + "---|" * len(columns) + "---|---|",
    ]
    for r in sorted(rows, key=lambda r: str(r["model"])):
        test = _get(r["metrics"], "test")
        cells = " | ".join(_fmt(_get(test, f"{a}/{b}")) for a, b in columns)
        users = " / ".join(_fmt(_get(test, f"{a}/users")) for a in ("next-event", "next-purchase"))
        out.append(
            f"| {r['dataset']} | {r['model']} | {cells} | {users} | "
            f"{_fmt(float(r.get('train_seconds') or 0), 1)} |"
        )
    return [*out, "", TAOBAO_NOTE, ""]


def _demo_rows(rows: list[dict[str, object]]) -> list[str]:
    if not rows:
        return []
    out = [
        "| demo store, after a purchase | model | HR@10 | NDCG@10 | compatible in top 10 | "
        "shoppers | command |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in sorted(rows, key=lambda r: str(r["model"])):
        m = r["metrics"]
        out.append(
            f"| {r['dataset']} | {r['model']} | {_fmt(_get(m, 'hr@10'))} | "
            f"{_fmt(_get(m, 'ndcg@10'))} | {_fmt(_get(m, 'compatible_share@10'), 2)} | "
            f"{_fmt(_get(m, 'shoppers'))} | `{r['command']}` |"
        )
    return [*out, "", DEMO_NOTE, ""]


def _search_rows(rows: list[dict[str, object]]) -> list[str]:
    out = []
    for r in rows:
        m = r["metrics"]
        out += [
            f"Personalised search after a purchase (`{r['command']}`): "
            f"fitting_share@10 {_fmt(_get(m, 'fitting_share@10'), 2)} through the engine, "
            f"{_fmt(_get(m, 'http_fitting_share@10'), 2)} through `POST /search` "
            f"(long queries {_fmt(_get(m, 'fitting_share@10_long'), 2)}, short "
            f"{_fmt(_get(m, 'fitting_share@10_short'), 2)}; {_fmt(_get(m, 'shoppers'))} "
            f"shoppers, {_fmt(_get(m, 'queries'))} queries). {SEARCH_NOTE}",
            "",
        ]
    return out


TAOBAO_NOTE = (
    "Taobao rows (`python benchmarks/nextevent.py`): trained on events before 2017-12-01 (China"
    " time), settings and early stopping on each shopper's first event of 2017-12-01, tested on"
    " the first event (`next-event`) and the first purchase (`next-purchase`) from 2017-12-02 on,"
    " with the input's items removed from the ranking (shoppers whose target was one of them are"
    " left out). `-any`: every shopper's first event / purchase, every item ranked (most"
    " purchases are of items viewed before). `-category`: the target's category among 3,067,"
    " ranked by their best item. EASE holds the 3,498 items with two or more training shoppers"
    " (the dense inverse of all 61,168 does not fit in memory)."
)
SEARCH_NOTE = (
    "Every shopper who bought a product with at least 5 accessories made for it, and per"
    ' accessory kind a long query ("I just bought a new <family> and I\'m looking for a <kind>")'
    ' and a short one ("<kind>"); the share of the top min(10, fitting) results that fit the'
    " purchased product (demo generator's ground truth)."
)
DEMO_NOTE = (
    "Demo rows (`python benchmarks/nextafter.py`): shoppers whose last input event is the"
    " purchase of a product with compatible accessories (generator ground truth); HR@10 and"
    " NDCG@10 of their next event, and the share of the top 10 that fit the purchased product."
)


def reference_table() -> list[str]:
    """Published figures on the same data and protocol (../shared/BENCHMARKS.md), for comparison."""
    refs = json.loads((ROOT / "benchmarks" / "references.json").read_text())
    lines = ["| dataset | model | test HR@10 | test NDCG@10 | source |", "|---|---|---|---|---|"]
    for r in refs:
        lines.append(
            f"| {r['dataset']} | {r['model']} | {_fmt(r['hr@10'])} | {_fmt(r['ndcg@10'])} | "
            f"{r['source']} |"
        )
    return ["### Published reference figures (same split and full ranking)", "", *lines, ""]


def _cold_settings(record: dict[str, object]) -> str:
    """How a cold-start row's settings were chosen: the hybrid's chosen point, or the old
    protocol's mark for a file written before the cold validation split existed."""
    config = record.get("config")
    assert isinstance(config, dict)
    if config.get("selected_on") != "cold-valid":
        return "old protocol (no cold validation)"
    chosen = config.get("selected")
    if not isinstance(chosen, dict):
        return "cold-valid"
    return "cold-valid: " + ", ".join(f"{k}={v:g}" for k, v in sorted(chosen.items()))


def _cold_verdicts(rows: list[dict[str, object]]) -> list[str]:
    """Per re-run dataset: the hybrid against content on the cold items and against SASRec on
    every test shopper of the same split (and overall), with the margins."""
    by: dict[tuple[str, str], dict[str, Any]] = {}
    for r in rows:
        config = r.get("config")
        if isinstance(config, dict) and config.get("selected_on") == "cold-valid":
            by[(str(r["dataset"]), str(r["model"]))] = r["metrics"]  # type: ignore[assignment]
    lines = []
    for dataset in sorted({d for d, _ in by}):
        hybrid, content, sasrec = (
            by.get((dataset, m), {}) for m in ("hybrid", "content", "sasrec")
        )
        parts = []
        for label, a, b, other in (
            ("cold NDCG@10", hybrid.get("cold", {}), content.get("cold", {}), "content"),
            ("cold split, everyone NDCG@10", hybrid.get("cold_split_everyone", {}),
             sasrec.get("cold_split_everyone", {}), "sasrec"),
            ("overall test NDCG@10", hybrid.get("test", {}), sasrec.get("test", {}), "sasrec"),
        ):  # fmt: skip
            x, y = a.get("ndcg@10"), b.get("ndcg@10")
            if x is None or y is None:
                continue
            verdict = "beats" if x > y else "does not beat"
            parts.append(f"{label}: hybrid {x:.4f} {verdict} {other} {y:.4f} ({(x - y) / y:+.1%})")
        if parts:
            lines.append(f"- {dataset}: " + "; ".join(parts) + ".")
    return ["", *lines] if lines else []


def coldstart_table(results: list[dict[str, object]]) -> list[str]:
    """Overall and cold-item figures per model, with each cold HR@10 as a multiple of
    popularity's on the same dataset (the issue's "≥ 5× popularity" goal)."""
    rows = [r for r in results if r.get("benchmark") == "coldstart"]
    if not rows:
        return []
    pop_hr = {
        r["dataset"]: r["metrics"].get("cold", {}).get("hr@10")  # type: ignore[union-attr]
        for r in rows
        if r["model"] == "popularity"
    }
    rnd_hr = {
        r["dataset"]: r["metrics"].get("cold", {}).get("hr@10")  # type: ignore[union-attr]
        for r in rows
        if r["model"] == "random"
    }
    lines = [
        "| dataset | model | test NDCG@10 | test HR@10 | cold HR@10 | cold NDCG@10 | "
        "cold HR vs popularity | cold HR vs random | cold split, everyone NDCG@10 | "
        "cold-start settings | train s | command |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(rows, key=lambda r: (str(r["dataset"]), str(r["model"]))):
        m = r["metrics"]
        assert isinstance(m, dict)
        test, cold = m.get("test", {}), m.get("cold", {})
        everyone = m.get("cold_split_everyone", {})
        base, hr = pop_hr.get(r["dataset"]), cold.get("hr@10")
        if hr is None or base is None:
            ratio = ""
        else:
            ratio = f"{hr / base:.1f}×" if base > 0 else ("∞ (popularity 0)" if hr > 0 else "")
        chance = rnd_hr.get(r["dataset"])
        vs_random = (
            "" if hr is None or not chance or r["model"] == "random" else f"{hr / chance:.1f}×"
        )
        lines.append(
            f"| {r['dataset']} | {r['model']} | {_fmt(test.get('ndcg@10'))} | "
            f"{_fmt(test.get('hr@10'))} | {_fmt(hr)} | {_fmt(cold.get('ndcg@10'))} | {ratio} | "
            f"{vs_random} | {_fmt(everyone.get('ndcg@10'))} | {_cold_settings(r)} | "
            f"{_fmt(float(r.get('train_seconds') or 0), 1)} | `{r['command']}` |"
        )
    title = "### Text-aware Transformer and cold start (10% of items never seen in training)"
    notes = [
        "",
        "test: leave-one-out on all items, models trained on every item. cold: trained without"
        " the cold items, tested on the shoppers whose test item is one of them. cold split,"
        " everyone: the same cold-trained models on every test shopper (warm and cold test"
        " items), which shows what ranking new items higher costs the others."
        " Cold-start settings are chosen without peeking (`selected_on: cold-valid`): as many"
        " other items again, disjoint from the cold test items, also lose their training"
        " events, and the hybrid's id dropout, borrowing and `cold_boost` (0 = no borrowing) are"
        " chosen on a grid fixed in advance (id_dropout 0.2/0.5 × cold_boost 0/1/2) by NDCG@10"
        " on the shoppers whose *validation* item is one of those, among the points whose"
        " NDCG@10 on every validation shopper is at least SASRec's on the same split; the chosen"
        " hybrid is scored on the cold test shoppers once, and its overall row uses the chosen"
        " settings. The grid's validation figures are in the hybrid's result file. Popularity"
        " can only rank items that have events, so its cold HR is 0 by construction.",
        *_cold_verdicts(rows),
    ]
    return [title, "", *lines, *notes, ""]


def search_table(results: list[dict[str, object]]) -> list[str]:
    """NDCG@10 of every retrieval × personalisation variant of the search benchmark."""
    lines: list[str] = []
    for r in (r for r in results if r.get("benchmark") == "search"):
        m = r["metrics"]
        assert isinstance(m, dict)
        variants = {k: v for k, v in m.items() if isinstance(v, dict)}
        lines += [
            f"{r['dataset']}, {m.get('queries')} queries ({m.get('queries_for_my')} of the form "
            f"'… for my <owned item>'), `{r['command']}`:",
            "",
            "| retrieval / personalisation | NDCG@10 | NDCG@10 on 'for my …' |",
            "|---|---|---|",
            *(
                f"| {k} | {_fmt(v.get('ndcg@10'))} | {_fmt(v.get('ndcg@10_for_my'))} |"
                for k, v in variants.items()
            ),
            "",
        ]
    return ["### Personalised search", "", *lines] if lines else []


def serving_table(results: list[dict[str, object]]) -> list[str]:
    """Throughput, latency and CPU per answer of `GET /users/{id}/recommendations` against the
    same server's `/health`, per catalog, model, answer cache and worker count."""
    rows = [r for r in results if r.get("benchmark") == "serving"]
    if not rows:
        return []
    lines = [
        "| catalog | model | answer cache | workers | peak req/s | p99 ms at peak | sustained "
        "req/s (p99 ≤ 25 ms) | CPU ms / answer | /health req/s | ratio | load avg | command |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(rows, key=lambda r: (str(r["dataset"]), str(r["model"]), str(r["command"]))):
        m, c = r["metrics"], r.get("config") or {}
        assert isinstance(m, dict) and isinstance(c, dict)
        size = c.get("answer_cache_size")
        hits = m.get("answer_cache_hit_share")  # reported with one worker only
        cache = "off" if size == 0 else ("not recorded" if size is None else "on")
        if cache == "on" and isinstance(hits, int | float):
            cache += f" ({hits:.0%} hits)"
        workers = str(c.get("server", "")).split(",")[1].strip().split(" ")[0]
        load = c.get("load_average_before") or [None]
        lines.append(
            f"| {r['dataset']} | {r['model']} | {cache} | {workers} | {_fmt(m.get('rps'), 1)} | "
            f"{_fmt(m.get('p99_ms'), 1)} | {_fmt(m.get('sustained_rps'), 1)} | "
            f"{_fmt(m.get('server_cpu_ms_per_request'), 2)} | "
            f"{_fmt(m.get('health_ceiling_rps'), 0)} | {_fmt(m.get('rps_vs_ceiling'), 3)} | "
            f"{_fmt(load[0], 1)} | `{r['command']}` |"
        )
    notes = [
        "",
        "Targets (issue #5): p99 ≤ 25 ms at the sustained rate, recommendation throughput ≥ 50% of"
        " the `/health` ceiling (ratio). Why the ratio is missed and where the time goes:"
        " [benchmarks/results/serving-profile.md](benchmarks/results/serving-profile.md).",
    ]
    return ["### Serving", "", *lines, *notes, ""]


def _catalog_size(record: dict[str, object]) -> int:
    config = record.get("config")
    return int(config.get("items") or 0) if isinstance(config, dict) else 0


def ann_table(results: list[dict[str, object]]) -> list[str]:
    """faiss retrieval on synthetic catalogs (benchmarks/scale.py): recall@10 against exact
    scoring, latency of one recommendation through the service with the index and without,
    and the server's peak memory."""
    rows = [r for r in results if r.get("benchmark") == "ann"]
    if not rows:
        return []
    lines = [
        "| catalog | index | recall@10 | p50 ms | p99 ms | exact p50 ms | exact p99 ms | peak RSS "
        "MB | exact peak RSS MB | index build s | load avg | command |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(rows, key=_catalog_size):
        m, c = r["metrics"], r.get("config") or {}
        assert isinstance(m, dict) and isinstance(c, dict)
        load = c.get("load_average") or [None]
        lines.append(
            f"| {_fmt(c.get('items'))} items, {_fmt(c.get('events'))} events | "
            f"{m.get('index_kind')} | {_fmt(m.get('recall@10'), 3)} | {_fmt(m.get('p50_ms'), 1)} "
            f"| {_fmt(m.get('p99_ms'), 1)} | {_fmt(m.get('exact_p50_ms'), 1)} | "
            f"{_fmt(m.get('exact_p99_ms'), 1)} | {_fmt(m.get('peak_rss_mb'), 0)} | "
            f"{_fmt(m.get('exact_peak_rss_mb'), 0)} | {_fmt(m.get('index_build_seconds'), 1)} | "
            f"{_fmt(load[0], 1)} | `{r['command']}` |"
        )
    notes = [
        "",
        "ALS (D = 64) on synthetic catalogs; `GET /users/{id}/recommendations?k=10` through one"
        " uvicorn worker on loopback, one request at a time, answer cache off. Target (issue"
        " #15): recall@10 ≥ 0.95. How the index is chosen and what it costs:"
        " [docs/deployment.md](docs/deployment.md).",
    ]
    return ["### Catalogs of a million items (faiss)", "", *lines, *notes, ""]


#: Issue 17's test NDCG@10 targets for the ranker (the published figures to beat).
RANKER_TARGETS = {"ml-1m": 0.1857, "beauty-bert4rec": 0.0327, "amazon-beauty-text": 0.056}


def _best_single(results: list[dict[str, object]], record: dict[str, object]) -> tuple[str, float]:
    """The best test NDCG@10 of one model on the ranker's dataset: its own base models and
    every other leave-one-out quality file of that dataset."""
    m = record["metrics"]
    assert isinstance(m, dict)
    scores = {f"{b['model']} (base)": b["test"]["ndcg@10"] for b in m.get("bases", [])}
    for r in results:
        if (r.get("benchmark"), r.get("dataset")) == ("quality", record["dataset"]) and r.get(
            "model"
        ) != "ranker":
            scores[str(r["model"])] = _get(r["metrics"], "test", "ndcg@10")
    name = max((k for k, v in scores.items() if isinstance(v, float)), key=lambda k: scores[k])
    return name, float(scores[name])


def ranker_table(results: list[dict[str, object]]) -> list[str]:
    """The second-stage ranker per dataset: against the best single model and its target, the
    ablations, its training minutes (every stage) and its three strongest features."""
    rows = [r for r in results if (r.get("benchmark"), r.get("model")) == ("quality", "ranker")]
    if not rows:
        return []
    lines = [
        "| dataset | ranker test NDCG@10 | best single model (test) | target | without text | "
        "without Transformer | train min (all stages) | strongest features (gain) | command |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(rows, key=lambda r: str(r["dataset"])):
        m = r["metrics"]
        assert isinstance(m, dict)
        name, best = _best_single(results, r)
        ablated = {a["name"]: _fmt(a["test"]["ndcg@10"]) for a in m.get("ablations", [])}
        top = ", ".join(list(m.get("feature_importance_gain", {}))[:3])
        target = RANKER_TARGETS.get(str(r["dataset"]))
        lines.append(
            f"| {r['dataset']} | {_fmt(m['test']['ndcg@10'])} | {_fmt(best)} {name} | "
            f"{_fmt(target)} | {ablated.get('without-text', '')} | "
            f"{ablated.get('without-transformer', '')} | "
            f"{_fmt(float(r.get('train_seconds') or 0) / 60, 1)} | {top} | `{r['command']}` |"
        )
    note = (
        "Candidates from SASRec, EASE, content and popularity (top 50 each), reordered by "
        "LightGBM LambdaRank trained on each training sequence's own last item (validation "
        "and test targets never enter its training). Best single model: the highest test "
        "NDCG@10 of any one model on the dataset (the ranker's own base fits or the quality "
        "rows above). Ablations retrain the trees over the same base fits without the text "
        "features or without SASRec. Target: issue 17's figure to beat within 30 minutes of "
        "training in all (the published SASRec+ / BERT4Rec-preparation figures)."
    )
    return ["### Second-stage ranker", "", *lines, "", note, ""]


def autoconfig_table(results: list[dict[str, object]]) -> list[str]:
    """SASRec with no settings (derived from the data, within the time budget) against the
    hand-tuned preset's committed result on the same dataset."""
    rows = [r for r in results if r.get("benchmark") == "autoconfig"]
    if not rows:
        return []
    lines = [
        "| dataset | auto valid NDCG@10 | auto test NDCG@10 | preset test NDCG@10 | auto ÷ "
        "preset | auto train min | preset train min | epochs (planned) | derived | load avg | "
        "command |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(rows, key=lambda r: str(r["dataset"])):
        m, c = r["metrics"], r.get("config") or {}
        assert isinstance(m, dict) and isinstance(c, dict)
        derived = ", ".join(f"{k}={_fmt(c.get(k), 1)}" for k in m.get("derived", {}))
        ratio = m.get("test_ndcg_vs_preset")
        preset_min = m.get("preset_train_seconds")
        lines.append(
            f"| {r['dataset']} | {_fmt(m['valid']['ndcg@10'])} | {_fmt(m['test']['ndcg@10'])} | "
            f"{_fmt(m.get('preset_test_ndcg@10'))} | {'' if ratio is None else f'{ratio:.0%}'} "
            f"| {_fmt(float(r.get('train_seconds') or 0) / 60, 1)} | "
            f"{'' if preset_min is None else _fmt(float(preset_min) / 60, 1)} | "
            f"{m.get('epochs')} ({m.get('planned_epochs')}) | {derived} | "
            f"{_fmt(m.get('load_avg_before', [None])[0], 1)} | `{r['command']}` |"
        )
    notes = [
        "",
        "`cartwise evaluate --models sasrec --no-preset` with no `--set`: SASRec derives its "
        "window (95th percentile of the history lengths, capped at 200), loss (full softmax up "
        "to 16,384 items, sampled above), dropout (dense or sparse data) and a 20-minute time "
        "budget (the epochs that fit are planned after the first, and the learning-rate "
        "schedule spans them). Target: ≥ 95% of the preset's test NDCG@10 within 20 minutes on "
        "2 cores. The machine was shared while these ran (load average in the table): the "
        "minutes are upper bounds of an idle machine's, and a busy machine buys fewer epochs "
        "in the same budget. The target is set for datasets of up to 300k events and 25k items "
        "(ml-100k, amazon-scientific, amazon-beauty-text, beauty-bert4rec, online-retail); "
        "ml-1m (1M events) and taobao-userbehavior (61,168 items) are shown beyond it. "
        "Taobao's item-level figures are noise: 927 shoppers, 1.5 training events per item; "
        "its preset (the written defaults, trained in the same run) hits 2 of the 927 test "
        "targets in the top 10 and the self-configured run none, after early stopping on a "
        "validation figure of 1 hit (best epoch 1, stopped at 11).",
    ]
    return ["### Self-configured SASRec (no settings) against the tuned presets", "", *lines,
            *notes, ""]  # fmt: skip


def incremental_table(results: list[dict[str, object]]) -> list[str]:
    """Incremental update of the Transformer against a full retrain (issue 14), per dataset:
    the base model, the full retrain and the update, with their minutes."""
    rows = [r for r in results if r.get("benchmark") == "incremental"]
    if not rows:
        return []
    lines = [
        "| dataset | arm | valid NDCG@10 | test NDCG@10 | test HR@10 | minutes | epochs | "
        "budget s | events (new) | items (new) | test shoppers | command |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(rows, key=lambda r: str(r["dataset"])):
        lines += [_incremental_row(r, arm) for arm in ("base", "full", "incremental")]
    return ["### Incremental update against full retrain", "", *lines, *INCREMENTAL_NOTE, ""]


def _incremental_row(r: dict[str, object], arm: str) -> str:
    m = r["metrics"]
    assert isinstance(m, dict)
    s, a = m.get("split", {}), m.get(arm, {})
    if arm == "base":
        events, items, users = _fmt(s.get("base_events")), _fmt(s.get("base_items")), ""
    else:
        events = f"{_fmt(s.get('train_events'))} ({_fmt(s.get('new_events'))})"
        items = f"{_fmt(s.get('items'))} ({_fmt(s.get('new_items'))})"
        users = _fmt(s.get("test_users"))
    return (
        f"| {r['dataset']} | {arm} | {_fmt(_get(a, 'valid', 'ndcg@10'))} | "
        f"{_fmt(_get(a, 'test', 'ndcg@10'))} | {_fmt(_get(a, 'test', 'hr@10'))} | "
        f"{_fmt(a.get('minutes'), 2)} | {_fmt(a.get('epochs'))} | "
        f"{_fmt(a.get('time_budget_s'), 1)} | {events} | {items} | {users} | `{r['command']}` |"
    )


INCREMENTAL_NOTE = [
    "",
    "`python benchmarks/incremental.py`: events split by time at T1 and T2 (the 0.75 and 0.9"
    " quantiles of event times). base: SASRec trained on the events before T1 (its"
    " validation: each shopper's last event before T1). full: a new SASRec on every event"
    " before T2; incremental: the base fine-tuned from its weights on the same events, the"
    " ones from T1 on as targets (`cartwise retrain --incremental`'s update, its settings"
    " derived: a quarter of the base's time budget, 0.3× its learning rate). Both are"
    " early-stopped on the same validation (each shopper's latest event before T2 when it"
    " came after T1, held out of training) and tested on the same shoppers: the new items"
    " each shopper turned to from T2 on, ranked from their history before T2. The base"
    " row's validation is its own (before T1), not comparable with the others.",
]


def transfer_table(results: list[dict[str, object]]) -> list[str]:
    """The pretrained text model on a dataset it was not pretrained on, beside the baselines
    on the same leave-one-out split (test NDCG@10)."""
    rows = [r for r in results if r.get("benchmark") == "transfer"]
    if not rows:
        return []
    arms = ("popularity", "content", "zero_shot", "fine_tuned", "sasrec")
    lines = [
        "| dataset | pretrained on | " + " | ".join(arms) + " | fit budget s | command |",
        "|---|---|" + "---|" * len(arms) + "---|---|",
    ]
    for r in sorted(rows, key=lambda r: str(r["dataset"])):
        m, c = r["metrics"], r.get("config") or {}
        assert isinstance(m, dict) and isinstance(c, dict)
        cells = " | ".join(_fmt(m.get(a)) for a in arms)
        others = ", ".join(c.get("pretrained_on", []))
        lines.append(f"| {r['dataset']} | {others} | {cells} | {_fmt(c.get('budget_seconds'), 0)} "
                     f"| `{r['command']}` |")  # fmt: skip
    note = (
        "zero_shot: the text-only Transformer (with its learnt text-similarity path) pretrained "
        "on the other datasets, over this catalog, no training on it; fine_tuned: trained on "
        "this dataset from those weights; "
        "sasrec: id-only from scratch; both within the same budget. Test NDCG@10, full ranking."
    )
    return ["### Day one: pretrained text model on an unseen shop", "", *lines, "", note, ""]


def other_table(results: list[dict[str, object]]) -> list[str]:
    shown_elsewhere = (
        "quality", "coldstart", "serving", "targets", "nextafter", "autoconfig", "ann",
        "loop-ab", "loop-days", "incremental", "transfer",
    )  # fmt: skip
    rows = [r for r in results if r.get("benchmark") not in shown_elsewhere]
    if not rows:
        return []
    lines = ["| benchmark | dataset | model | metrics | command |", "|---|---|---|---|---|"]
    for r in sorted(rows, key=lambda r: (str(r["benchmark"]), str(r["dataset"]))):
        m = r["metrics"]
        assert isinstance(m, dict)
        shown = ", ".join(f"{k}={_fmt(v, 3)}" for k, v in m.items() if isinstance(v, int | float))
        lines.append(
            f"| {r['benchmark']} | {r['dataset']} | {r['model']} | {shown} | `{r['command']}` |"
        )
    return ["### Speed and other measurements", "", *lines, ""]


LOOP_NOTE = (
    "_Simulated shoppers of the demo store (`benchmarks/loop_world.py`) served by the real "
    "engine in-process; clicks follow the generator's ground truth; true effect / lift: the "
    "difference of the arms' mean ground-truth click probabilities. The control serves one "
    "fixed version, so a fall in its expected CTR comes from the simulated shoppers themselves "
    "(an item they bought has click probability 0, an accessory kind they bought stops being "
    "wanted, new items share their categories' demand), not from a model._"
)
LOOP_PLOT = "![CTR by day](benchmarks/results/loop-days-demo.png)"


def _pct(values: object) -> str:
    assert isinstance(values, list)
    return " → ".join(f"{v:.4f}" for v in values)


def _loop_ab_rows(r: dict[str, object]) -> list[str]:
    m = r["metrics"]
    assert isinstance(m, dict)
    return [
        "| A/B (control: popularity) | winner | CTR popularity → SASRec | effect [95% CI] "
        "| p-value | true effect | command |",
        "|---|---|---|---|---|---|---|",
        f"| {m['impressions_popularity'] + m['impressions_sasrec']:,} impressions "
        f"| {m['winner']} | {m['ctr_popularity']:.4f} → {m['ctr_sasrec']:.4f} "
        f"| {m['effect']:+.4f} [{m['ci_low']:+.4f}, {m['ci_high']:+.4f}] "
        f"| {m['p_value']:.2g} | {m['true_effect']:+.4f} | `{r['command']}` |",
        "",
    ]


def _loop_days_rows(r: dict[str, object]) -> list[str]:
    m = r["metrics"]
    assert isinstance(m, dict)
    ctr, exp = m["ctr_by_day"], m["expected_ctr_by_day"]
    lines = [
        "| arm | CTR@10 by day (day 0 before the catalog change) | expected CTR by day "
        "| final lift (true) | command |",
        "|---|---|---|---|---|",
    ]
    for arm in ("retrained", "control"):
        lift = f"{m['final_lift']:+.4f} ({m['final_true_lift']:+.4f})"
        lines.append(f"| {arm} | {_pct(ctr[arm])} | {_pct(exp[arm])} "
                     f"| {lift if arm == 'retrained' else ''} | `{r['command']}` |")  # fmt: skip
    gap = [r - c for r, c in zip(exp["retrained"], exp["control"], strict=True)]
    return [*lines, "", f"Retrained arm's CTR rose on {m['days_rising']} of {m['day_pairs']} "
            "day-to-day steps after the change. Day 0 (both arms served by the same version) "
            f"shows the arms' own difference: expected-CTR gap {gap[0]:+.4f} on day 0, "
            f"{_pct(gap[1:])} on the days after.", "", LOOP_PLOT, ""]  # fmt: skip


def loop_table(results: list[dict[str, object]]) -> list[str]:
    """The loop simulation: the A/B verdict against the true effect, and CTR by day."""
    by = {r.get("benchmark"): r for r in results}
    lines = []
    if "loop-ab" in by:
        lines += _loop_ab_rows(by["loop-ab"])
    if "loop-days" in by:
        lines += _loop_days_rows(by["loop-days"])
    if not lines:
        return []
    return ["### Closed loop on the demo store (simulation)", "", *lines, LOOP_NOTE, ""]


def render() -> str:
    results = [json.loads(p.read_text()) for p in sorted(RESULTS.glob("*.json"))]
    body = (
        quality_table(results)
        + basket_table(results)
        + next_event_table(results)
        + reference_table()
        + ranker_table(results)
        + autoconfig_table(results)
        + coldstart_table(results)
        + transfer_table(results)
        + search_table(results)
        + serving_table(results)
        + ann_table(results)
        + loop_table(results)
        + incremental_table(results)
        + other_table(results)
    )
    machine = {r.get("cores") for r in results}
    note = f"_Generated by `make bench-table` from {len(results)} result files; cores: {machine}._"
    return "\n".join([START, "", *body, note, "", END])


def main() -> int:
    readme = ROOT / "README.md"
    text = readme.read_text()
    if START not in text or END not in text:
        print(f"README.md has no {START} ... {END} section", file=sys.stderr)
        return 1
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    new = head + render() + tail
    if "--check" in sys.argv:
        return 0 if new == text else 1
    readme.write_text(new)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
