"""The selection record: the README's results tables are what the result files say, result
files come from committed code and hold only what their own run measured, and development
scripts report validation only (issue 17, section 3)."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[1]
BENCHMARKS = REPO / "benchmarks"
RESULTS = BENCHMARKS / "results"


def _module(name: str) -> ModuleType:
    if str(BENCHMARKS) not in sys.path:
        sys.path.insert(0, str(BENCHMARKS))
    return __import__(name)


def test_readme_results_tables_match_the_result_files() -> None:
    table = _module("table")
    readme = (REPO / "README.md").read_text()
    head, rest = readme.split(table.START, 1)
    rendered = head + table.render() + rest.split(table.END, 1)[1]
    assert rendered == readme, "README tables are stale: run `make bench-table`"
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "table.py"), "--check"], cwd=REPO, timeout=120
    )
    assert done.returncode == 0


def test_coldstart_files_hold_only_what_their_run_measured() -> None:
    """A model's overall (leave-one-out) figures are in its file only when the command that
    wrote the file evaluated it overall; nothing is carried over from an earlier file."""
    files = sorted(RESULTS.glob("coldstart-*.json"))
    assert files
    for path in files:
        record = json.loads(path.read_text())
        args = shlex.split(record["command"])
        overall = "hybrid,sasrec,content,popularity"  # the script's default
        if "--overall-models" in args:
            overall = args[args.index("--overall-models") + 1]
        measured = record["model"].split("-boost")[0] in overall.split(",")
        if "valid" in record["metrics"]:
            assert measured, f"{path.name}: overall figures its command did not measure"


@pytest.mark.parametrize("script", sorted(BENCHMARKS.glob("*_dev.py")), ids=lambda p: p.name)
def test_development_scripts_report_validation_only(script: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "--test" not in done.stdout
    assert ".test" not in script.read_text()  # no split.test, no evaluation on test targets


def test_results_from_an_uncommitted_tree_are_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    common = _module("common")
    monkeypatch.setattr(common, "git_commit", lambda: "0123abc+dirty")
    with pytest.raises(SystemExit, match="commit first, then run"):
        common.require_committed()
    with pytest.raises(SystemExit, match="uncommitted changes"):
        common.write_result("quality", "tiny", "popularity", {"valid": {}}, folder=None)
    trial = common.write_result("quality", "tiny", "popularity", {"valid": {}}, folder=tmp_path)
    assert json.loads(trial.read_text())["git_commit"] == "0123abc+dirty"  # a trial, elsewhere
    monkeypatch.setattr(common, "git_commit", lambda: "0123abc")
    assert common.require_committed() == "0123abc"


def test_quality_records_of_torch_models_carry_gflops_and_the_peak_of_their_run() -> None:
    """What quality.py writes for SASRec (issue 17): the training GFLOP/s and the matmul peak
    measured in the same run, in the dtype it trained in (bf16 only where it pays), on a tiny
    model; nothing of the kind for a baseline."""
    import numpy as np
    import pandas as pd
    import torch

    from cartwise.data.dataset import Dataset
    from cartwise.data.split import leave_last_out
    from cartwise.evaluation.experiment import run_model
    from cartwise.models.sasrec_scoring import threads
    from cartwise.training.throughput import bf16_pays, measure_peak

    rows = [(f"u{u}", f"i{(u + t) % 9}") for u in range(30) for t in range(6)]
    data = Dataset.from_frame(pd.DataFrame(rows, columns=["user_id", "item_id"]), name="tiny")
    split = leave_last_out(data)
    quality = _module("quality")
    tiny = {"embedding_size": 8, "num_blocks": 1, "epochs": 2, "num_threads": 1}
    figures = quality.training_figures(run_model("sasrec", split, config=tiny, rng=0))
    assert figures["gflops"] > 0
    with threads(1):  # the peak is measured once per process and thread count: the same one
        dtype = torch.bfloat16 if bf16_pays("cpu") else torch.float32
        assert figures["peak_gflops"] == pytest.approx(measure_peak("cpu", dtype).wall, rel=1e-3)
    assert figures["peak_share"] == pytest.approx(
        figures["gflops"] / figures["peak_gflops"], rel=2e-3
    )
    assert len(figures["valid_ndcg_per_epoch"]) == 2 and np.isfinite(figures["cpu_gflops"])
    assert quality.training_figures(run_model("popularity", split)) == {}


def test_ann_table_shows_each_catalog_once_smallest_first_and_not_among_the_others() -> None:
    table = _module("table")

    def record(items: int, recall: float, p99: float) -> dict[str, object]:
        return {
            "benchmark": "ann", "dataset": f"synthetic-{items // 1000}k", "model": "faiss",
            "command": f"python benchmarks/scale.py --items {items}",
            "config": {"items": items, "events": 10 * items, "load_average": [1.5, 1.0, 1.0]},
            "metrics": {"recall@10": recall, "index_kind": "hnsw", "p50_ms": 10.0,
                        "p99_ms": p99, "exact_p50_ms": 20.0, "exact_p99_ms": 40.0,
                        "peak_rss_mb": 1341.2, "exact_peak_rss_mb": 1200.0,
                        "index_build_seconds": 3.9},
        }  # fmt: skip

    rows = [record(1_000_000, 0.97, 30.25), record(100_000, 1.0, 27.8)]
    lines = table.ann_table(rows)
    body = [ln for ln in lines if ln.startswith("| ") and "items" in ln and "catalog" not in ln]
    assert body[0].startswith("| 100,000 items, 1,000,000 events | hnsw | 1.000 | 10.0 | 27.8 |")
    assert body[1].startswith("| 1,000,000 items, 10,000,000 events | hnsw | 0.970 | 10.0 | 30.2")
    assert "| 1,341 | 1,200 | 3.9 | 1.5 |" in body[0]
    assert table.other_table(rows) == []
    assert table.ann_table([]) == []
