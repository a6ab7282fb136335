"""SASRec's self-configuration: settings derived from small synthetic datasets, explicit
settings and presets winning, the time budget respected on a fake clock, and the derived
settings recorded in the saved config, the fit and the version's metrics.json."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from cartwise.data.dataset import Dataset
from cartwise.data.split import leave_last_out
from cartwise.errors import ConfigError
from cartwise.evaluation.experiment import preset
from cartwise.models.fit import fit
from cartwise.models.sasrec import SASRec
from cartwise.models.sasrec_auto import DEFAULT_TIME_BUDGET, NEGATIVES, SAMPLED_ABOVE, derive
from cartwise.models.sasrec_config import SASRecConfig

SMALL = {"embedding_size": 16, "num_blocks": 1, "num_threads": 1, "batch_size": 16}


def dense_data() -> Dataset:
    """100 shoppers with 1..100 events over a 30-item cycle: 168 events per item."""
    rows = [(f"u{u}", f"i{(u + t) % 30}") for u in range(100) for t in range(u + 1)]
    return Dataset.from_frame(pd.DataFrame(rows, columns=["user_id", "item_id"]), name="dense")


def sparse_data() -> Dataset:
    """2,000 shoppers with 9 events each over 17,000 items: about one event per item."""
    rows = [(f"u{u}", f"i{(9 * u + t) % 17_000}") for u in range(2000) for t in range(9)]
    return Dataset.from_frame(pd.DataFrame(rows, columns=["user_id", "item_id"]), name="sparse")


def values(config: SASRecConfig, names: list[str]) -> dict[str, object]:
    return {n: getattr(config, n) for n in names}


def test_dense_data_long_histories_small_catalog() -> None:
    config, derived = derive(SASRecConfig(), dense_data())
    # np.quantile(1..100, 0.95) = 95.05 → 96; 5,050 events on 30 items; 30 ≤ 16,384 items
    assert values(config, ["max_len", "dropout", "loss", "time_budget"]) == {
        "max_len": 96, "dropout": 0.1, "loss": "softmax", "time_budget": DEFAULT_TIME_BUDGET,
    }  # fmt: skip
    assert {d.name for d in derived} == {"max_len", "dropout", "loss", "time_budget"}
    assert "95% of 100 histories hold at most 95 items" in next(
        d.why for d in derived if d.name == "max_len"
    )


def test_sparse_data_large_catalog_takes_the_sampled_softmax() -> None:
    data = sparse_data()
    assert data.n_items > SAMPLED_ABOVE
    config, _ = derive(SASRecConfig(), data)
    assert values(config, ["max_len", "dropout", "loss", "num_negatives"]) == {
        "max_len": 9, "dropout": 0.5, "loss": "sampled", "num_negatives": NEGATIVES,
    }  # fmt: skip


def test_window_is_capped_and_floored() -> None:
    long = [("u0", f"i{t % 50}") for t in range(500)] + [("u1", "i1"), ("u1", "i2")]
    data = Dataset.from_frame(pd.DataFrame(long, columns=["user_id", "item_id"]))
    assert derive(SASRecConfig(), data)[0].max_len == 200
    short = [(f"u{u}", f"i{u + t}") for u in range(20) for t in range(3)]
    data = Dataset.from_frame(pd.DataFrame(short, columns=["user_id", "item_id"]))
    assert derive(SASRecConfig(), data)[0].max_len == 8


def test_explicit_settings_and_presets_win() -> None:
    given = SASRecConfig(max_len=5, dropout=0.3, loss="softmax", time_budget="90s")
    config, derived = derive(given, sparse_data())
    assert values(config, ["max_len", "dropout", "loss", "time_budget"]) == {
        "max_len": 5, "dropout": 0.3, "loss": "softmax", "time_budget": 90.0,
    }  # fmt: skip
    assert derived == []
    tuned = SASRecConfig(**preset("ml-1m", "sasrec"))
    assert derive(tuned, dense_data()) == (tuned, [])
    assert tuned.time_budget is None and tuned.max_len == 200


def test_time_budget_reads_durations_and_names_the_field() -> None:
    assert SASRec({"time_budget": "20m"}).config.time_budget == 1200.0
    assert SASRec({"time_budget": 45}).config.time_budget == 45.0
    with pytest.raises(ConfigError, match="time_budget.*20 minutes"):
        SASRec({"time_budget": "20 minutes"})


class StepClock:
    """A fake clock that moves `tick` seconds at every reading."""

    def __init__(self, tick: float) -> None:
        self.now, self.tick = 0.0, tick

    def __call__(self) -> float:
        self.now += self.tick
        return self.now


def test_fit_respects_the_budget_and_records_what_it_derived(tmp_path: Path) -> None:
    split = leave_last_out(dense_data())
    model = SASRec({**SMALL, "time_budget": "60s"})
    model.clock = clock = StepClock(0.25)
    model.fit(split.train, rng=0, valid=split.valid)
    result = model.train_result_
    assert result is not None and result.stopped_by_budget
    assert clock.now <= 60.0 + 0.25  # the last reading is the one after the budget check
    assert len(result.history) == result.planned_epochs < model.config.epochs
    # training histories: 1, 2 and 1..98 (leave-last-out takes 2 from 3+); quantile 93.05
    assert model.config.max_len == 94 and model.config.time_budget == 60.0  # (not derived)
    assert set(model.derived_) == {"max_len", "dropout", "loss"}
    model.save(tmp_path / "m")
    saved = json.loads((tmp_path / "m" / "config.json").read_text())
    assert saved["config"]["max_len"] == 94 and saved["config"]["time_budget"] == 60.0
    assert saved["extra"]["derived"]["max_len"]["value"] == 94
    assert SASRec.load(tmp_path / "m").derived_ == model.derived_


def test_the_fit_reports_derived_settings_and_throughput() -> None:
    split = leave_last_out(dense_data())
    fitted = fit("sasrec", {**SMALL, "epochs": 2}, split.train, valid=split.valid)
    assert fitted.derived["max_len"]["value"] == 94
    t = fitted.throughput
    assert t["gflops"] > 0 and t["peak_gflops"] > 0
    assert t["peak_share"] == pytest.approx(t["gflops"] / t["peak_gflops"], rel=2e-3)


def test_the_version_records_the_derived_settings_and_throughput(tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from cartwise.data.schema import Event, Item
    from cartwise.data.store import Store
    from cartwise.serving.engine import Engine

    store = Store.open(tmp_path / "shop.db")
    store.upsert_items([Item(id=f"i{i}") for i in range(12)])
    start = datetime(2024, 1, 1, tzinfo=UTC)
    store.append_events(
        Event(event_id=f"e{u}-{t}", user_id=f"u{u}", item_id=f"i{(u + t) % 12}", kind="view",
              timestamp=start + timedelta(hours=u * 20 + t))
        for u in range(30) for t in range(u % 12 + 3)
    )  # fmt: skip
    engine = Engine(store, tmp_path / "models")
    version = engine.train("sasrec", {**SMALL, "epochs": 2}, rng=0)
    info = engine.versions.info(version)
    assert info["derived"]["dropout"]["value"] == 0.5  # about 19 events per item: sparse
    assert info["derived"]["time_budget"]["value"] == DEFAULT_TIME_BUDGET
    assert info["throughput"]["gflops"] > 0 and info["throughput"]["peak_gflops"] > 0
    saved = json.loads((tmp_path / "models" / version / "config.json").read_text())
    assert saved["config"]["time_budget"] == DEFAULT_TIME_BUDGET
