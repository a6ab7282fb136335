"""The report's validation-curve plot draws the validation NDCG@10 that training recorded per
epoch (issue 12, defect 13: it read a key the history entries never carried and was empty)."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from cartwise.data.dataset import Dataset
from cartwise.data.split import leave_last_out
from cartwise.evaluation.experiment import ModelRun, run_model
from cartwise.evaluation.report import history_figure, validation_curves, write_report


def _chain() -> Dataset:
    """120 users walking a chain of items from 40 starts: next item = current + 1."""
    users, items = [], []
    for u in range(120):
        for step in range(7):
            users.append(f"u{u}")
            items.append(f"i{u % 40 + step:03d}")
    return Dataset.from_frame(pd.DataFrame({"user_id": users, "item_id": items}), name="chain")


def _run(model: str, history: list[dict[str, object]]) -> ModelRun:
    return ModelRun(model, {}, {"ndcg@10": 0.0}, {"ndcg@10": 0.0}, 0.0, 0.0, history=history)


@pytest.fixture(scope="module")
def runs() -> list[ModelRun]:
    """SASRec trained 4 epochs with validation (real training), and popularity (no epochs)."""
    split = leave_last_out(_chain())
    sasrec = run_model(
        "sasrec",
        split,
        config={"epochs": 4, "embedding_size": 16, "num_blocks": 1, "max_len": 8, "patience": None},
    )
    return [run_model("popularity", split), sasrec]


@pytest.mark.slow  # trains SASRec for 4 epochs (a few seconds)
def test_curve_is_the_trained_models_validation_history(runs: list[ModelRun]) -> None:
    curves = validation_curves(runs)
    assert list(curves) == ["sasrec"]  # popularity trains in no epochs
    sasrec = runs[1]
    points = curves["sasrec"]
    assert [e for e, _ in points] == [1, 2, 3, 4]
    assert [v for _, v in points] == [h["metrics"]["ndcg@10"] for h in sasrec.history]
    assert all(np.isfinite(v) and 0 <= v <= 1 for _, v in points)
    # training keeps the best epoch's weights, and the protocol's validation figure is that epoch's
    assert max(v for _, v in points) == pytest.approx(sasrec.valid["ndcg@10"], abs=1e-6)
    # the chain is learnable: the curve is not empty noise, it rises above its first epoch and
    # above popularity's validation figure on the same split
    assert max(v for _, v in points) > max(points[0][1], runs[0].valid["ndcg@10"])


@pytest.mark.slow
def test_plot_draws_the_curve_points(runs: list[ModelRun], tmp_path: Path) -> None:
    fig = history_figure(runs)
    assert fig is not None
    (line,) = fig.axes[0].get_lines()
    points = validation_curves(runs)["sasrec"]
    assert line.get_label() == "sasrec"
    assert list(line.get_xdata()) == [e for e, _ in points]
    assert list(line.get_ydata()) == [v for _, v in points]
    low, high = fig.axes[0].get_ylim()
    assert low <= min(v for _, v in points) and max(v for _, v in points) <= high
    plt.close(fig)
    written = write_report(runs, tmp_path, dataset="chain", formats=["md"])
    assert tmp_path / "sasrec_valid_ndcg.png" in written


def test_curve_reads_the_epoch_records_and_skips_epochs_without_validation() -> None:
    history: list[dict[str, object]] = [
        {"epoch": 1, "train_loss": 3.0, "metrics": {"ndcg@10": 0.1, "hr@10": 0.2}},
        {"epoch": 2, "train_loss": 2.5, "metrics": {}},
        {"epoch": 3, "train_loss": 2.0, "metrics": {"ndcg@10": 0.3}},
    ]
    no_validation = [{"epoch": 1, "train_loss": 3.0, "metrics": {}}]
    runs = [_run("hybrid", history), _run("sasrec", no_validation), _run("ease", [])]
    assert validation_curves(runs) == {"hybrid": [(1, 0.1), (3, 0.3)]}
    assert history_figure(runs[1:]) is None
