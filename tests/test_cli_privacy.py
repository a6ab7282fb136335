"""Privacy on the command line: delete-user with its receipt, deletions list, export-user,
purge (dry run, ages, errors, interruption), and pseudonymised ids through the CLI's doors."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner, Result

from cartwise.cli import app
from cartwise.data import retention
from cartwise.data import tables as t
from cartwise.data.feedback import log_served
from cartwise.data.privacy import Privacy
from cartwise.data.schema import Event, EventKind, Item, User
from cartwise.data.store import Store

KEY = "cli-pseudonym-key-0123456789"
NOW = datetime.now(UTC)


def cli(*args: str | Path, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "200", **(env or {})})


def ok(*args: str | Path, env: dict[str, str] | None = None) -> str:
    result = cli(*args, env=env)
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """u1: events 400 and 10 days old and an answer 400 days old; u2: one recent event."""
    path = tmp_path / "shop.db"
    store = Store.open(path, privacy=Privacy())
    store.upsert_items([Item(id="i1"), Item(id="i2")])
    store.upsert_users([User(id="u1", attributes={"tier": "gold"})])
    store.append_events(
        Event(event_id=f"e{n}", user_id=u, item_id="i1", kind=EventKind.VIEW,
              timestamp=NOW - timedelta(days=days))
        for n, (u, days) in enumerate([("u1", 400), ("u1", 10), ("u2", 1)])
    )  # fmt: skip
    rec = log_served(store, "user", "u1", "v1", ["i1"])
    with store.engine.begin() as conn:
        old = (NOW - timedelta(days=400)).timestamp()
        conn.execute(t.served.update().where(t.served.c.recommendation_id == rec).values(ts=old))
    store.close()
    return path


def test_delete_user_and_list_the_receipts(db: Path, tmp_path: Path) -> None:
    out = ok("delete-user", "u1", "--store", db, "--model-dir", tmp_path / "models").splitlines()
    prefix = "deleted user u1: "
    assert out[0].startswith(prefix)
    assert json.loads(out[0][len(prefix) :]) == {
        "events": 2,
        "served": 1,
        "feedback": 0,
        "users": 1,
    }
    receipt = out[1].split()[1]
    assert out[1].endswith("model versions marked as containing a deleted shopper: none")
    listed = [json.loads(line) for line in ok("deletions", "list", "--json", "--store", db)
              .splitlines()]  # fmt: skip
    assert [(r["receipt_id"], r["removed"]["events"]) for r in listed] == [(receipt, 2)]
    assert ok("deletions", "list", "--json", "--user", "u2", "--store", db) == ""
    table = ok("deletions", "list", "--user", "u1", "--store", db)
    assert receipt in table and "events 2, served 1, users 1" in table
    with Store.open(db, privacy=Privacy()).engine.connect() as conn:
        assert "u1" not in {str(v) for tab in t.metadata.sorted_tables
                            for row in conn.execute(select(tab)) for v in row}  # fmt: skip


def test_export_user_to_stdout_and_to_a_file(db: Path, tmp_path: Path) -> None:
    data = json.loads(ok("export-user", "u1", "--store", db))
    assert data["user_id"] == "u1" and data["tables"]["users"][0]["attributes"] == {"tier": "gold"}
    assert [e["event_id"] for e in data["tables"]["events"]] == ["e0", "e1"]
    out = tmp_path / "u1.json"
    assert ok("export-user", "u1", "--out", out, "--store", db).strip() == (
        f"wrote everything stored about u1 to {out}"
    )
    assert json.loads(out.read_text())["tables"] == data["tables"]
    missing = cli("export-user", "nobody", "--store", db)
    assert missing.exit_code == 1
    assert missing.stderr.strip() == (
        "error: user 'nobody' is not in the store; nothing is stored about them"
    )


def test_purge_dry_run_then_purge(db: Path) -> None:
    dry = ok("purge", "--older-than", "365d", "--dry-run", "--store", db)
    assert dry.startswith("would delete 1 events, 1 served answers, 0 feedback rows dated before ")
    done = ok("purge", "--older-than", "365d", "--store", db)
    assert done.startswith("deleted 1 events, 1 served answers, 0 feedback rows dated before ")
    assert ok("purge", "--older-than", "48h", "--store", db).startswith("deleted 1 events, 0 ")
    store = Store.open(db, privacy=Privacy())
    assert [e.event_id for e in store.user_events("u2")] == ["e2"]
    assert store.counts()["users"] == 2  # shoppers stay; delete-user removes them
    store.close()


def test_purge_refuses_a_bad_age(db: Path) -> None:
    result = cli("purge", "--older-than", "5x", "--store", db)
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "error: field '--older-than': '5x' is not an age; write a positive number and a unit: "
        "s, m, h, d or w (e.g. 365d, 90d, 12h)"
    )


def test_an_interrupted_purge_says_what_was_done(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(store: Store, age: timedelta, **options: Any) -> retention.PurgeReport:
        report = retention.PurgeReport(NOW - age, False, events=7)
        options["on_batch"](report)
        raise KeyboardInterrupt

    monkeypatch.setattr(retention, "purge", interrupted)
    result = cli("purge", "--older-than", "90d", "--store", db)
    assert result.exit_code == 130
    assert result.stderr.strip() == (
        "interrupted: 7 events, 0 served answers, 0 feedback rows deleted so far (each batch "
        "complete); run the same command again to finish"
    )


def test_pseudonymised_ids_through_the_cli(tmp_path: Path) -> None:
    env = {"CARTWISE_PSEUDONYMISE_KEY": KEY}
    db = tmp_path / "hidden.db"
    (tmp_path / "items.csv").write_text("id,title\ni1,Phone\ni2,Case\n")
    (tmp_path / "events.csv").write_text(
        "user_id,item_id,kind,timestamp\nalice@example.com,i1,view,2024-03-01T00:00:00Z\n"
        "alice@example.com,i2,purchase,2024-03-02T00:00:00Z\nbob@example.com,i1,view,"
        "2024-03-02T00:00:00Z\n"
    )
    ok("ingest", "items", tmp_path / "items.csv", "--store", db, env=env)
    ok("ingest", "events", tmp_path / "events.csv", "--store", db, env=env)
    models = tmp_path / "models"
    ok("train", "--model", "popularity", "--store", db, "--model-dir", models, env=env)
    ok("recommend", "alice@example.com", "--store", db, "--model-dir", models, env=env)
    exported = json.loads(ok("export-user", "alice@example.com", "--store", db, env=env))
    assert [e["item_id"] for e in exported["tables"]["events"]] == ["i1", "i2"]
    ok("delete-user", "bob@example.com", "--store", db, "--model-dir", models, env=env)
    listed = ok("deletions", "list", "--json", "--user", "bob@example.com", "--store", db, env=env)
    assert json.loads(listed)["removed"] == {"events": 1, "served": 0, "feedback": 0, "users": 1}
    store = Store.open(db, privacy=Privacy(KEY.encode()))
    with store.engine.connect() as conn:
        values = [str(v) for tab in t.metadata.sorted_tables for row in conn.execute(select(tab))
                  for v in row]  # fmt: skip
    assert not [v for v in values if "example.com" in v]
    assert len(store.deletion_receipts(user_id="bob@example.com")) == 1
    store.close()
    refused = cli("stats", "--store", db)  # without the key: refused, not silently orphaned
    assert refused.exit_code == 1 and "CARTWISE_PSEUDONYMISE_KEY is not set" in refused.stderr


@pytest.mark.parametrize(
    ("command", "summary", "option"),
    [
        (["export-user"], "Everything stored about a shopper", "--out"),
        (["purge"], "Delete events, served answers and their feedback", "--dry-run"),
        (["deletions", "list"], "List deletion receipts", "--user"),
        (["delete-user"], "keep a receipt", "--model-dir"),
    ],
)
def test_privacy_commands_have_help(command: list[str], summary: str, option: str) -> None:
    output = ok(*command, "--help")
    assert f"Usage: cartwise {' '.join(command)}" in output
    assert summary in output and option in output
    assert command[0] in ok("--help")
