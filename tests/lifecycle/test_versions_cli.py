"""`cartwise train` through the gate, `cartwise models list|show|activate|rollback|prune` and
`cartwise retrain`, through typer's runner on a SQLite store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from lifecycle_shop import add_visits, build_shop
from typer.testing import CliRunner, Result

from cartwise.cli import app
from cartwise.data.store import Store
from cartwise.lifecycle import Versions

runner = CliRunner()


def cli(*args: str | Path) -> Result:
    return runner.invoke(app, [str(a) for a in args], env={"COLUMNS": "240"})


def ok(*args: str | Path) -> str:
    result = cli(*args)
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture
def shop(tmp_path: Path) -> tuple[Path, Path]:
    """The accessory shop (phase 1) and an empty model folder."""
    db = tmp_path / "shop.db"
    build_shop(Store.open(db))
    return db, tmp_path / "models"


def _version(out: str) -> str:
    return out.split("version ", 1)[1].split(" ", 1)[0]


def test_train_refuses_a_worse_model_with_both_figures_and_force_overrides(
    shop: tuple[Path, Path],
) -> None:
    db, models = shop
    first = _version(ok("train", "-m", "itemknn", "--store", db, "--model-dir", models))
    add_visits(Store.open(db))
    refused = cli("train", "-m", "popularity", "--store", db, "--model-dir", models)
    assert refused.exit_code == 3, refused.output
    out = refused.stdout
    assert "is saved, NOT active" in out and "worse by more than the 2.0% margin" in out
    assert "(new) vs" in out and f"(active {first})" in out
    assert "cartwise models activate" in out and "--force" in out
    assert Versions(models).active() == first
    loose = cli("train", "-m", "popularity", "--gate-margin", "0.99", "--store", db,
                "--model-dir", models)  # fmt: skip
    assert loose.exit_code == 0 and "is active" in loose.stdout
    forced = ok("train", "-m", "itemknn", "--force", "--store", db, "--model-dir", models)
    assert "is active" in forced and "activation gate" not in forced
    assert Versions(models).active() == _version(forced)


def test_models_list_show_activate_rollback_prune(shop: tuple[Path, Path]) -> None:
    db, models = shop
    names = [
        _version(ok("train", "-m", m, "--force", "--store", db, "--model-dir", models))
        for m in ("popularity", "itemknn", "popularity")
    ]
    assert ok("models", "--model-dir", models).split() == [names[0], names[1], "*", names[2]]
    table = ok("models", "list", "--store", db, "--model-dir", models)
    rows = {line.split("│")[2].strip(): line for line in table.splitlines() if "│" in line}
    assert rows[names[2]].split("│")[1].strip() == "*"
    assert rows[names[1]].split("│")[1].strip() == "↶"  # the rollback target
    assert "2024-01-01 – 2024-01-03" in rows[names[1]]  # the training window
    shown = json.loads(ok("models", "show", names[1], "--store", db, "--model-dir", models))
    assert shown["model"] == "itemknn" and shown["rollback_target"] is True
    assert shown["offline"]["ndcg@10"] > 0.3 and shown["online"]["served"] == 0
    assert shown["window"]["first"].startswith("2024-01-01") and shown["settings"] == {}
    active = json.loads(ok("models", "show", "--store", db, "--model-dir", models))
    assert active["version"] == names[2] and active["active"] is True

    assert ok("models", "rollback", "--model-dir", models).strip() == (
        f"rolled back to {names[1]} (was {names[2]})"
    )
    assert ok("models", "activate", names[0], "--model-dir", models).strip() == (
        f"activated {names[0]} (was {names[1]})"
    )
    out = ok("models", "prune", "--keep", "0", "--model-dir", models)
    assert out.strip() == f"deleted 1 versions: {names[2]}"  # active and rollback target kept
    assert Versions(models).list() == names[:2]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["models", "activate", "nope"], "model version 'nope' is not in"),
        (["models", "rollback"], "no earlier active version to roll back to"),
        (["models", "prune"], "Missing option '--keep'"),
        (["models", "show", "nope"], "model version 'nope' is not in"),
        (["retrain"], "no active version"),
    ],
)
def test_version_commands_fail_with_one_line(
    shop: tuple[Path, Path], args: list[str], message: str
) -> None:
    db, models = shop
    result = cli(*args, "--model-dir", models, *(["--store", db] if args[0] == "retrain" else []))
    assert result.exit_code != 0
    assert message in result.output and "Traceback" not in result.output


def test_retrain_if_new_events_waits_for_them(shop: tuple[Path, Path]) -> None:
    db, models = shop
    first = _version(ok("train", "-m", "itemknn", "--set", "k=30", "--store", db,
                        "--model-dir", models))  # fmt: skip
    args = ["retrain", "--if-new-events", "10", "--store", db, "--model-dir", models]
    assert ok(*args).strip() == f"nothing to do: 0 new events since {first} was trained " + (
        "(fewer than 10)"
    )
    added = add_visits(Store.open(db))
    out = ok(*args)
    assert f"retraining: {added} new events since {first} was trained" in out
    again = _version(out.split("retraining", 1)[1])
    assert Versions(models).active() == again != first
    info = Versions(models).info(again)
    assert (info["model"], info["settings"], info["seed"]) == ("itemknn", {"k": 30}, 7)
    assert "nothing to do: 0 new events" in ok(*args)


def test_retrain_exclude_deleted_runs_after_a_deletion(shop: tuple[Path, Path]) -> None:
    db, models = shop
    first = _version(ok("train", "-m", "itemknn", "--store", db, "--model-dir", models))
    args = ["retrain", "--exclude-deleted", "--store", db, "--model-dir", models]
    assert "nothing to do: " + first + " contains no deleted shopper" in ok(*args)
    ok("delete-user", "u7", "--store", db, "--model-dir", models)
    assert Versions(models).deletion_mark(first) is not None
    out = ok(*args)
    assert f"retraining: {first} contains 1 shoppers deleted since" in out
    latest = Versions(models).active()
    assert latest is not None and latest != first
    assert Versions(models).deletion_mark(latest) is None
    assert "contains no deleted shopper" in ok(*args)
