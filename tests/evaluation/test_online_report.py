"""The online report: counts per variant from the served log and feedback; fixed-horizon tests
once every variant reached the planned impressions, mSPRT before."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cartwise.data.experiments import Experiment, Variant, create_experiment
from cartwise.data.feedback import FeedbackRecord, log_served, record_feedback
from cartwise.data.schema import Item
from cartwise.data.store import Store
from cartwise.evaluation.online import (
    minimum_detectable_effect,
    sequential,
    two_proportion_test,
    wilson_interval,
)
from cartwise.evaluation.online_report import experiment_report


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = Store.open(store_url)
    s.upsert_items([Item(id="p1", title="one", price=8.0), Item(id="p2", title="two")])
    yield s
    s.close()


def _serve(store: Store, planned: int) -> None:
    exp = Experiment(id="e", variants=[Variant("a"), Variant("b")], salt="x",
                     planned_impressions=planned)  # fmt: skip
    create_experiment(store, exp)
    # a: 10 shoppers, 2 clicks, one purchase of p1 at its price (8.0)
    # b: 10 shoppers, 6 clicks, two purchases of p2 posted with value 5.0
    for variant, clicks, purchases in (("a", 2, 1), ("b", 6, 2)):
        for n in range(10):
            item = "p1" if variant == "a" else "p2"
            rec = log_served(store, "user", f"{variant}{n}", "v", [item], ("e", variant))
            records = [FeedbackRecord(rec, item, "impression")]
            records += [FeedbackRecord(rec, item, "click")] if n < clicks else []
            value = None if variant == "a" else 5.0
            records += [FeedbackRecord(rec, item, "purchase", value=value)] if n < purchases else []
            record_feedback(store, records)


def _rows(report: dict[str, object]) -> dict[str, dict[str, dict[str, object]]]:
    (scenario,) = report["scenarios"]  # type: ignore[misc]
    return {v["variant"]: {m["name"]: m for m in v["metrics"]} | {"row": v}
            for v in scenario["variants"]}  # fmt: skip


def test_fixed_horizon_after_the_planned_end(store: Store) -> None:
    _serve(store, planned=10)
    report = experiment_report(store, "e")
    assert report["scenarios"][0]["sequential"] is False
    rows = _rows(report)
    assert rows["a"]["row"]["impressions"] == 10 and rows["b"]["row"]["clicks"] == 6
    assert rows["a"]["row"]["revenue"] == 8.0 and rows["b"]["row"]["revenue"] == 10.0
    ctr = rows["b"]["ctr@10"]
    expected = two_proportion_test(2, 10, 6, 10)
    assert ctr["value"] == 0.6 and ctr["effect"] == pytest.approx(0.4)
    assert ctr["p_value"] == pytest.approx(expected.p_value)
    assert (ctr["ci_low"], ctr["ci_high"]) == pytest.approx(wilson_interval(6, 10))
    assert rows["a"]["ctr@10"]["effect"] is None  # the control is not compared with itself
    assert rows["a"]["revenue_per_1000"]["value"] == pytest.approx(800.0)
    assert rows["b"]["revenue_per_1000"]["value"] == pytest.approx(1000.0)
    assert report["scenarios"][0]["sample_ratio_p"] == pytest.approx(1.0)


def test_sequential_before_the_planned_end(store: Store) -> None:
    _serve(store, planned=1000)
    report = experiment_report(store, "e")
    assert report["scenarios"][0]["sequential"] is True
    ctr = _rows(report)["b"]["ctr@10"]
    tau = minimum_detectable_effect(8 / 20, 1000)
    expected = sequential(two_proportion_test(2, 10, 6, 10), tau)
    assert ctr["p_value"] == pytest.approx(expected.p_value)
    assert ctr["effect_low"] == pytest.approx(expected.ci_low)
    assert ctr["p_value"] > two_proportion_test(2, 10, 6, 10).p_value
