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
from cartwise.cli.launch import torchrun_command, train_args
from cartwise.cli.models import _model_overrides
from cartwise.errors import ConfigError

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
    options = {"--data": Path("d.txt"), "--out": Path("m"), "--holdout-days": None,
               "--gate-margin": 0.01, "--time-budget": "10m"}  # fmt: skip
    args = train_args("sasrec", 7, ["epochs=3"], options, refit=False, force=True)
    assert args == ["train", "--model", "sasrec", "--seed", "7", "--set=epochs=3",
                    "--data=d.txt", "--out=m", "--gate-margin=0.01", "--time-budget=10m",
                    "--no-refit", "--force"]  # fmt: skip
    assert torchrun_command(2, args) == [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
        "-m", "cartwise.cli", *args,
    ]  # fmt: skip


def test_budgets_reach_torch_models_only() -> None:
    assert _model_overrides(None, ["sasrec", "ease"]) == {}
    assert _model_overrides(["sasrec.epochs=3"], ["sasrec", "ease"], "1h") == {
        "sasrec": {"epochs": 3, "time_budget": 3600.0},
    }  # fmt: skip
    assert _model_overrides(None, ["sasrec-events"], "90s") == {
        "sasrec-events": {"time_budget": 90.0},
    }  # fmt: skip
    with pytest.raises(ConfigError, match="ease has no time budget"):
        _model_overrides(None, ["ease"], "1h")


@pytest.mark.parametrize(("flag", "autoconfig"), [("--no-preset", True), ("--preset", False)])
def test_no_preset_lets_sasrec_derive_its_settings(
    chain: Path, tmp_path: Path, flag: str, autoconfig: bool
) -> None:
    """On a dataset named like a preset, --no-preset runs SASRec with the settings it derives
    (autoconfig on); with the preset (the default) autoconfig is off."""
    data = tmp_path / "ml-100k"  # a preset's name, a small file
    data.mkdir()
    (data / "ml-100k.txt").write_text(chain.read_text())
    args = ["evaluate", "--data", str(data), "--models", "sasrec", flag, "--format", "md",
            "--out", str(tmp_path / "r"), "--set", "sasrec.epochs=1",
            "--set", "sasrec.embedding_size=8", "--set", "sasrec.num_threads=1"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    run = json.loads((tmp_path / "r" / "results.json").read_text())["runs"][0]
    assert run["config"].get("autoconfig", True) is autoconfig
    assert bool(run["derived"]) is autoconfig  # derived settings only without the preset
