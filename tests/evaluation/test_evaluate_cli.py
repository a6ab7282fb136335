"""`cartwise evaluate`: the report's numbers are the protocol's numbers, and bad options fail."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from cartwise.cli import app
from cartwise.data.sources.public import load_user_item_txt
from cartwise.data.split import leave_last_out
from cartwise.evaluation.protocol import evaluate
from cartwise.models.registry import create

pytestmark = pytest.mark.slow  # trains and evaluates through the CLI (~10-30 s)

runner = CliRunner()


@pytest.fixture()
def data_file(tmp_path: Path) -> Path:
    """100 users walking a chain of 55 items from 50 starts: next item = current + 1."""
    lines = []
    for u in range(100):
        start = u % 50
        lines += [f"u{u} i{start + step}" for step in range(6)]
    path = tmp_path / "chain.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_report_matches_the_protocol(data_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    result = runner.invoke(
        app,
        ["evaluate", "--data", str(data_file), "--models", "pop,itemknn", "--no-tune",
         "--format", "md,html", "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    split = leave_last_out(load_user_item_txt(data_file, name="chain"))
    expected = {}
    for name in ("popularity", "itemknn"):
        model = create(name).fit(split.train, rng=0, valid=split.valid)
        expected[name] = evaluate(model, split.test).metrics["ndcg@10"]
    # ItemKNN learns the chain (each item's neighbour is its successor); popularity cannot.
    assert expected["itemknn"] > expected["popularity"] + 0.2
    md = (out / "report.md").read_text()
    rows = {line.split("|")[1].strip(): line for line in md.splitlines() if line.startswith("| ")}
    for name, value in expected.items():
        assert rows[name].split("|")[4].strip() == f"{value:.4f}", rows[name]  # test ndcg@10
    html = (out / "report.html").read_text()
    assert "<table>" in html and "data:image/png;base64," in html
    assert (out / "metrics.png").read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "pdf"], "--format 'pdf'"),
        (["--models", ","], "name at least one model"),
        (["--set", "epochs=3"], "expected model.key=value"),
        (["--models", "nosuchmodel"], "nosuchmodel"),
    ],
)
def test_bad_options_fail_with_one_line(
    data_file: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    result = runner.invoke(
        app, ["evaluate", "--data", str(data_file), "--out", str(tmp_path / "r"), *args]
    )
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "r" / "report.md").exists()
