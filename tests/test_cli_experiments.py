"""`cartwise experiments create|list|show|stop` and `cartwise report online`: an experiment
made on the command line routes the engine's answers, and the report counts its feedback."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from typer.testing import CliRunner, Result

from cartwise.cli import app
from cartwise.data.experiments import get_experiment
from cartwise.data.feedback import FeedbackRecord, log_served, record_feedback
from cartwise.data.schema import Event, EventKind, Item
from cartwise.data.store import Store
from cartwise.evaluation.online import assign_variant
from cartwise.serving.engine import Engine

runner = CliRunner()


def cli(*args: str | Path) -> Result:
    return runner.invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})


def _shop(tmp_path: Path) -> tuple[Path, Path, str, str]:
    db, models = tmp_path / "s.db", tmp_path / "models"
    store = Store.open(db)
    store.upsert_items([Item(id=f"p{i}", title=f"Item {i}", price=10.0 * i) for i in range(1, 6)])
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    store.append_events(
        [Event(event_id=f"e{n}", user_id=f"u{n % 3}", item_id=f"p{n % 5 + 1}",
               kind=EventKind.VIEW, timestamp=t0 + timedelta(hours=n)) for n in range(20)]
    )  # fmt: skip
    engine = Engine(store, models)
    first = engine.train("popularity", {}, rng=0)
    second = engine.train("itemknn", {}, rng=0, activate=False)
    store.close()
    return db, models, first, second


def test_experiment_commands_and_online_report(tmp_path: Path) -> None:
    db, models, first, second = _shop(tmp_path)
    made = cli("experiments", "create", "exp-cli", "--variant", f"old={first}",
               "--variant", f"new={second}", "--weight", "1", "--weight", "3",
               "--setting", "new.diversity=\"mmr\"", "--scenario", "user",
               "--store", db, "--model-dir", models)  # fmt: skip
    assert made.exit_code == 0, made.output
    assert f"experiment exp-cli running: old={first} (1), new={second} (3)" in made.stdout
    store = Store.open(db)
    exp = get_experiment(store, "exp-cli")
    assert exp.variants[1].settings == {"diversity": "mmr"} and exp.scenarios == ["user"]
    listed = cli("experiments", "list", "--store", db)
    assert "exp-cli" in listed.stdout and "running" in listed.stdout

    engine = Engine(store, models)
    names = ["old", "new"]
    want = {u: names[assign_variant(exp.salt, u, [1, 3])] for u in ("u0", "u1", "u2", "x9")}
    for user, variant in want.items():
        served = engine.recommend_user(user, k=2)
        assert served.variant == ("exp-cli", variant)
        assert served.version == (first if variant == "old" else second)
        ids = [r.item.id for r in served.items]
        rec = log_served(store, "user", user, served.version, ids, served.variant)
        record_feedback(store, [FeedbackRecord(rec, ids[0], "click"),
                                FeedbackRecord(rec, ids[0], "purchase")])  # fmt: skip
    shown = cli("report", "online", "--json", "--store", db)
    assert shown.exit_code == 0, shown.output
    (report,) = json.loads(shown.stdout)
    (scenario,) = report["scenarios"]
    rows: dict[str, Any] = {v["variant"]: v for v in scenario["variants"]}
    for name in names:
        n = sum(v == name for v in want.values())
        assert rows[name]["answers"] == n and rows[name]["impressions"] == n
        assert rows[name]["clicks"] == n and rows[name]["purchases"] == n
    table = cli("experiments", "show", "exp-cli", "--store", db)
    assert table.exit_code == 0 and "ctr@10" in table.stdout and "revenue_per_1000" in table.stdout

    assert cli("experiments", "stop", "exp-cli", "--store", db).exit_code == 0
    again = cli("experiments", "stop", "exp-cli", "--store", db)
    assert again.exit_code == 1 and "stopped already" in again.output
    assert "no running experiment" in cli("report", "online", "--store", db).stdout
    store.close()


def test_bad_variant_specs(tmp_path: Path) -> None:
    db, models, first, _ = _shop(tmp_path)
    bad = cli("experiments", "create", "x", "--variant", "a", "--variant", "b=active",
              "--store", db, "--model-dir", models)  # fmt: skip
    assert bad.exit_code == 1 and "write NAME=VERSION" in bad.output
    bad = cli("experiments", "create", "x", "--variant", "a=nope", "--variant", "b=active",
              "--store", db, "--model-dir", models)  # fmt: skip
    assert bad.exit_code == 1 and "unknown model version 'nope'" in bad.output
