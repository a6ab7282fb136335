"""The loop simulation (benchmarks/loop_*.py): the shoppers' ground truth, the true effect, and
a tiny end-to-end A/B run through the real engine."""

from __future__ import annotations

import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from cartwise.data.sources.demo import DemoConfig

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
TINY = DemoConfig(seed=3, n_items=300, n_users=200, days=20, cold_share=0.1)


def _module(name: str) -> ModuleType:
    if str(BENCHMARKS) not in sys.path:
        sys.path.insert(0, str(BENCHMARKS))
    return __import__(name)


@pytest.fixture(scope="module")
def world() -> Any:
    return _module("loop_world").World(TINY)


def test_a_compatible_accessory_after_a_purchase_is_clicked_more_than_a_random_item(
    world: Any,
) -> None:
    w = world
    ids = [item.id for item in w.cat.items]
    owners = [s for s in w.shoppers.values() if s.wanted]
    assert owners, "the demo history holds anchor purchases"
    compatible, everything = [], []
    for s in owners[:30]:
        anchor = next(iter(s.wanted))
        comps = [c for k in s.wanted[anchor] for c in w.cat.complements[anchor][k]
                 if w.live[c] and c not in s.bought]  # fmt: skip
        if comps:
            compatible.append(w.click_probs(s, [ids[c] for c in comps]).mean())
            everything.append(w.click_probs(s, ids).mean())
    assert len(compatible) >= 5
    assert np.mean(compatible) > 3 * np.mean(everything)


def test_buying_an_anchor_makes_its_accessories_wanted_and_buying_one_satisfies_its_kind(
    world: Any,
) -> None:
    w = world
    lw = _module("loop_world")
    anchor, kinds = next((a, k) for a, k in w.cat.complements.items() if k)
    s = lw.Shopper("someone", ("phones",), "nobody", 1)
    kind, members = next(iter(kinds.items()))
    live = [m for m in members if w.live[m]]
    ids = [w.cat.items[m].id for m in live]
    before = w.click_probs(s, ids).mean()
    w.bought(s, anchor)
    after = w.click_probs(s, ids).mean()
    assert after > before
    w.bought(s, live[0])
    assert kind not in s.wanted[anchor]
    assert w.click_probs(s, ids[:1])[0] == 0.0  # bought already


def test_click_probability_follows_the_generator_views_per_session(world: Any) -> None:
    w = world
    lw = _module("loop_world")
    s = next(iter(w.shoppers.values()))
    a = w.affinity(s)
    best = int(np.argmax(np.where(w.live, a, -1)))
    p = w.click_probs(s, [w.cat.items[best].id])[0]
    expected = 0.0 if best in s.bought else 1 - (1 - a[best]) ** lw.VIEWS_PER_SESSION
    assert p == pytest.approx(expected)
    assert abs(lw.VIEWS_PER_SESSION - 4.6) < 1e-12
    assert abs(lw.P_PURCHASE - 0.18) < 1e-12


def test_new_items_go_on_sale_with_their_category_popularity_law() -> None:
    w = _module("loop_world").World(TINY, seed=1)
    cold = np.asarray(w.cat.cold)
    assert not w.live[cold].any() and (w.popularity[cold] == 0).all()
    new = w.new_items()
    assert [i.id for i in new] == [w.cat.items[c].id for c in cold]
    assert w.live[cold].all()
    assert ((w.popularity[cold] > 0) & (w.popularity[cold] <= 1.0)).all()


def test_true_effect_is_the_difference_of_mean_click_probabilities() -> None:
    lw = _module("loop_world")
    assert lw.true_effect([0.1, 0.3], [0.2, 0.4, 0.6]) == pytest.approx(0.4 - 0.2)
    with pytest.raises(ValueError):
        lw.true_effect([], [0.5])


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_a_tiny_ab_run_posts_feedback_and_tests_it(tmp_path: Path) -> None:
    sim = _module("loop_sim")
    m = sim.run_ab(TINY, tmp_path, 1, sasrec={"bf16": False, "time_budget": 5, "epochs": 2})
    assert m["impressions_popularity"] + m["impressions_sasrec"] == 10 * m["shoppers"]
    assert min(m["impressions_popularity"], m["impressions_sasrec"]) > 0
    assert m["ci_low"] <= m["effect"] <= m["ci_high"]
    assert m["effect"] == pytest.approx(m["ctr_sasrec"] - m["ctr_popularity"])
    assert m["true_effect"] == pytest.approx(
        m["expected_ctr_sasrec"] - m["expected_ctr_popularity"]
    )
    assert m["winner"] in ("sasrec", "popularity", "none")
    assert (m["winner"] == "none") == (m["p_value"] >= 0.05)


def _days_record() -> dict[str, Any]:
    ctr = {"retrained": [0.05, 0.04, 0.06], "control": [0.05, 0.04, 0.04]}
    metrics = {"ctr_by_day": ctr, "expected_ctr_by_day": ctr, "final_lift": 0.02,
               "final_true_lift": 0.02, "days_rising": 1, "day_pairs": 1}  # fmt: skip
    return {"benchmark": "loop-days", "metrics": metrics, "command": "python x.py days"}


def test_the_readme_table_and_the_plot_read_a_days_record(tmp_path: Path) -> None:
    import json

    record = _days_record()
    lines = _module("table").loop_table([record])
    row = next(line for line in lines if line.startswith("| retrained"))
    assert "0.0500 → 0.0400 → 0.0600" in row and "+0.0200 (+0.0200)" in row
    path = tmp_path / "loop-days-demo.json"
    path.write_text(json.dumps(record))
    out = _module("loop_plot").plot_days(path, tmp_path / "loop-days-demo.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
