"""``cartwise train`` / ``cartwise evaluate`` options of the training loop: --time-budget is
read into the model's settings and recorded, bad values are one-line errors, --nproc builds the
torchrun command, --no-preset lets SASRec derive its settings on a dataset with a preset."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cartwise.cli import app
from cartwise.cli.launch import torchrun_command
from cartwise.cli.models import _eval_config, _train_args

runner = CliRunner()


@pytest.fixture()
def chain(tmp_path: Path) -> Path:
    path = tmp_path / "chain.txt"
    path.write_text("".join(f"u{u} i{(u + t) % 20}\n" for u in range(40) for t in range(6)))
    return path


def test_time_budget_is_read_and_recorded(chain: Path, tmp_path: Path) -> None:
    out = tmp_path / "model"
    args = ["train", "--data", str(chain), "--out", str(out), "--time-budget", "2m",
            "--set", "epochs=1", "--set", "embedding_size=8", "--set", "num_threads=1"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    saved = json.loads((out / "config.json").read_text())
    assert saved["config"]["time_budget"] == 120.0
    assert "time_budget" not in saved["extra"]["derived"]  # given, so not derived
    assert saved["extra"]["derived"]["max_len"]["value"] == 8  # 4 training items each: floor


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--time-budget", "soon"], "time budget 'soon': expected a duration such as 20m"),
        (["--time-budget", "5m", "--model", "popularity"], "popularity has no time budget"),
    ],
)
def test_bad_budgets_fail_with_one_line(chain: Path, args: list[str], message: str) -> None:
    result = runner.invoke(app, ["train", "--data", str(chain), "--out", "unused", *args])
    assert result.exit_code == 1
    assert message in result.output and "Traceback" not in result.output


def test_nproc_runs_the_same_command_under_torchrun() -> None:
    args = _train_args("sasrec", ["epochs=3"], Path("d.txt"), Path("m"), None, False, 7, "10m",
                       None, None)  # fmt: skip
    assert args == ["train", "--model", "sasrec", "--seed", "7", "--set=epochs=3",
                    "--data=d.txt", "--out=m", "--time-budget=10m", "--no-refit"]  # fmt: skip
    assert torchrun_command(2, args) == [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
        "-m", "cartwise.cli", *args,
    ]  # fmt: skip


def test_presets_can_be_left_out_and_budgets_reach_torch_models_only() -> None:
    assert _eval_config("sasrec", "ml-1m", {}, None)["autoconfig"] is False
    assert _eval_config("sasrec", None, {}, None) == {}
    assert _eval_config("sasrec", None, {"sasrec": {"epochs": 3}}, "1h") == {
        "epochs": 3, "time_budget": 3600.0,
    }  # fmt: skip
    assert _eval_config("ease", None, {}, "1h") == {}
