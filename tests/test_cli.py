"""The `cartwise` command line through typer's runner, each test on its own SQLite store.

Covers every command's --help, ingest round trips from CSV, JSONL and Parquet files, idempotent
re-ingest, one-line errors on bad input (store unchanged), --debug, export, delete-user and a
small demo.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import func, insert, select
from typer.testing import CliRunner, Result

from cartwise.cli import app
from cartwise.data import tables as t
from cartwise.data.schema import EventKind
from cartwise.data.store import Store
from cartwise.errors import IngestError
from cartwise.serving.engine import Engine

runner = CliRunner()

ITEMS_CSV = (
    "id,title,category,brand,price\n"
    "i1,Galaxy S23,Phones,Samsung,799\n"
    "i2,Galaxy S23 Case,Phones > Cases,Spigen,19.5\n"
    "i3,USB-C Charger,Phones > Chargers,Anker,25\n"
)
USERS = [{"id": "u1", "attributes": {"tier": "gold"}}, {"id": "u2"}]
EVENTS = pd.DataFrame(
    {
        "event_id": ["e1", "e2", "e3", "e4", "e5"],
        "user_id": ["u1", "u1", "u1", "u2", "u3"],
        "item_id": ["i1", "i1", "i2", "i2", None],
        "kind": ["view", "add_to_cart", "purchase", "view", "search"],
        "query": [None, None, None, None, "phone case"],
        "timestamp": [
            "2024-03-01T10:00:00Z",
            "2024-03-01T10:05:00Z",
            "2024-03-01T10:09:00Z",
            "2024-03-02T08:00:00Z",
            "2024-03-03T09:30:00Z",
        ],
    }
)
#: Events without an event_id column: Cartwise derives the ids from the rows.
CLICKS_CSV = (
    "customer,sku,kind,when\n"
    "u2,i3,click,1709460000\n"
    "u2,i3,click,1709460000\n"
    "u1,i3,view,2024-03-03 12:00:00\n"
)


def cli(*args: str | Path) -> Result:
    """Run `cartwise ARGS` with a wide console, so rich tables do not wrap."""
    return runner.invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})


def ok(*args: str | Path) -> str:
    """Run a command that must succeed; returns its standard output."""
    result = cli(*args)
    assert result.exit_code == 0, result.output
    return result.stdout


def write_files(folder: Path) -> dict[str, Path]:
    """The three input files, in three formats."""
    folder.mkdir(parents=True, exist_ok=True)
    items = folder / "items.csv"
    items.write_text(ITEMS_CSV)
    users = folder / "users.jsonl"
    users.write_text("\n".join(json.dumps(u) for u in USERS) + "\n")
    events = folder / "events.parquet"
    EVENTS.to_parquet(events, index=False)
    return {"items": items, "users": users, "events": events}


def stats_rows(output: str) -> dict[str, str]:
    """The key → value rows of `cartwise stats`' table."""
    rows: dict[str, str] = {}
    for line in output.splitlines():
        cells = [c.strip() for c in line.split("│")]
        if len(cells) == 4:  # "│ key │ value │"
            rows[cells[1]] = cells[2]
    return rows


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """Path of a fresh SQLite store file."""
    return tmp_path / "s.db"


@pytest.fixture
def loaded(tmp_path: Path, db: Path) -> Path:
    """A store holding the three files (3 items, 3 users, 5 events)."""
    files = write_files(tmp_path / "in")
    for kind in ("items", "users", "events"):
        ok("ingest", kind, files[kind], "--store", db)
    return db


@pytest.fixture
def loaded_url(tmp_path: Path, store_url: str) -> str:
    """`loaded` on each backend (SQLite, PostgreSQL): the URL of a store holding the files."""
    files = write_files(tmp_path / "in")
    for kind in ("items", "users", "events"):
        ok("ingest", kind, files[kind], "--store", store_url)
    return store_url


# -- help ---------------------------------------------------------------------------------

HELP = {
    "demo": ("Build the demo store", "--no-serve"),
    "ingest": ("Import items, users or events", "--unknown-items"),
    "stats": ("Show counts of items, users and events", "--store"),
    "export": ("Export items, users and events to Parquet", "output folder for the Parquet files"),
    "delete-user": ("Delete a shopper, their events", "external id of the shopper to forget"),
    "db": ("Schema version of the store", "upgrade"),
    "train": ("Train a model on the store", "--model"),
    "recommend": ("Show recommendations for a shopper", "-k"),
    "models": ("List saved model versions", "--model-dir"),
    "retrain": ("Train the active version's model and settings again", "--if-new-events"),
    "evaluate": ("Evaluate models offline", "--store"),
    "serve": ("Serve the HTTP API", "--port"),
}


@pytest.mark.parametrize("command", sorted(HELP))
def test_every_command_has_help(command: str) -> None:
    summary, option = HELP[command]
    output = ok(command, "--help")
    assert f"Usage: cartwise {command}" in output
    assert summary in output and option in output


def test_top_level_help_lists_the_commands() -> None:
    output = ok("--help")
    for command in HELP:
        assert command in output


# -- ingest round trip --------------------------------------------------------------------


def test_ingest_round_trip_and_stats(tmp_path: Path, db: Path) -> None:
    files = write_files(tmp_path / "in")
    out = ok("ingest", "items", files["items"], "--store", db)
    assert "items from items.csv: 3 rows read" in out
    assert "3 new items, 0 already in the store (updated)" in out
    out = ok("ingest", "users", files["users"], "--store", db)
    assert "users from users.jsonl: 2 rows read" in out
    assert "2 new users, 0 already in the store (updated)" in out
    out = ok("ingest", "events", files["events"], "--store", db)
    assert "events from events.parquet: 5 rows read" in out
    assert "5 events added, 0 already in the store (left as they were)" in out

    rows = stats_rows(ok("stats", "--store", db))
    # u3 has only a search event: importing it created the user.
    assert (rows["items"], rows["users"], rows["events"]) == ("3", "3", "5")
    assert (rows["view"], rows["add_to_cart"], rows["purchase"], rows["search"]) == (
        "2",
        "1",
        "1",
        "1",
    )
    assert rows["first_event"] == "2024-03-01T10:00:00+00:00"
    assert rows["last_event"] == "2024-03-03T09:30:00+00:00"

    store = Store.open(db)
    assert store.get_item("i2").category == ["Phones", "Cases"]
    assert store.get_item("i2").price == 19.5
    assert store.get_user("u1").attributes == {"tier": "gold"}
    assert [e.event_id for e in store.user_events("u1")] == ["e1", "e2", "e3"]
    assert store.user_events("u3")[0].query == "phone case"


def test_reingest_is_idempotent(tmp_path: Path, loaded: Path) -> None:
    files = write_files(tmp_path / "again")
    before = stats_rows(ok("stats", "--store", loaded))
    assert "0 new items, 3 already in the store (updated)" in ok(
        "ingest", "items", files["items"], "--store", loaded
    )
    assert "0 new users, 2 already in the store (updated)" in ok(
        "ingest", "users", files["users"], "--store", loaded
    )
    assert "0 events added, 5 already in the store (left as they were)" in ok(
        "ingest", "events", files["events"], "--store", loaded
    )
    assert stats_rows(ok("stats", "--store", loaded)) == before


def test_mapped_csv_without_event_ids_reingests_as_nothing_new(
    tmp_path: Path, loaded: Path
) -> None:
    path = tmp_path / "clicks.csv"
    path.write_text(CLICKS_CSV)
    mapping = ["--map", "user_id=customer", "--map", "item_id=sku", "--map", "timestamp=when"]
    first = ok("ingest", "events", path, *mapping, "--store", loaded)
    # the two identical rows stay two events (a shopper can click twice in one second)
    assert "3 events added, 0 already in the store" in first
    second = ok("ingest", "events", path, *mapping, "--store", loaded)
    assert "0 events added, 3 already in the store" in second
    store = Store.open(loaded)
    assert store.counts()["events"] == 8
    assert [e.kind for e in store.user_events("u2")] == [
        EventKind.VIEW,
        EventKind.CLICK,
        EventKind.CLICK,
    ]


# -- bad input ----------------------------------------------------------------------------

HEADER = "user_id,item_id,kind,timestamp\n"
GOOD = "u1,i1,view,2024-03-04T10:00:00Z\n"

BAD_INPUT = {
    "missing column": (
        "customer,item_id,kind,timestamp\nu1,i1,view,2024-03-04\n",
        "error: events.csv, line 1, field 'user_id': missing required column 'user_id'",
    ),
    "unknown kind": (
        HEADER + GOOD + "u1,i2,buy,2024-03-04T10:01:00Z\n",
        "error: events.csv, line 3, field 'kind': unknown event kind 'buy'; map the file's value "
        "to a Cartwise kind (--kind-map buy=KIND",
    ),
    "bad timestamp": (
        HEADER + "u1,i1,view,yesterday\n" + GOOD,
        "error: events.csv, line 2, field 'timestamp': 'yesterday': not a timestamp",
    ),
    "unknown item": (
        HEADER + GOOD + "u2,i9,view,2024-03-04T10:02:00Z\n",
        "error: events.csv, line 3, field 'item_id': unknown item 'i9' (1 unknown item id in "
        "all); import the items file first, or create placeholder items: pass "
        "--unknown-items placeholder",
    ),
}


def snapshot(db: Path) -> tuple[dict[str, int], list[str]]:
    store = Store.open(db)
    try:
        return store.counts(), store.events_frame()["event_id"].tolist()
    finally:
        store.close()


@pytest.mark.parametrize("case", sorted(BAD_INPUT))
def test_bad_input_is_one_line_and_changes_nothing(case: str, tmp_path: Path, loaded: Path) -> None:
    text, message = BAD_INPUT[case]
    path = tmp_path / "events.csv"
    path.write_text(text)
    before = snapshot(loaded)
    result = cli("ingest", "events", path, "--store", loaded)
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.replace("\r", "\n").splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert errors[0].startswith(message), errors[0]
    assert lines == errors, "nothing but the error line on stderr"
    assert result.stdout == ""
    assert snapshot(loaded) == before


def test_bad_option_value_names_the_flag(tmp_path: Path, loaded: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text(HEADER + GOOD)
    result = cli("ingest", "events", path, "--missing-user", "drop", "--store", loaded)
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "error: options, field 'missing_user': missing_user='drop' is not a valid choice "
        "(the --missing-user option in the CLI); use one of: error, skip"
    )


def test_debug_raises_the_exception(tmp_path: Path, loaded: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text(BAD_INPUT["unknown kind"][0])
    before = snapshot(loaded)
    result = cli("--debug", "ingest", "events", path, "--store", loaded)
    assert result.exit_code == 1
    assert isinstance(result.exception, IngestError)
    assert (result.exception.line, result.exception.field) == (3, "kind")
    assert snapshot(loaded) == before


@pytest.mark.slow
def test_debug_prints_the_traceback_in_a_real_process(tmp_path: Path, loaded: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text(BAD_INPUT["unknown kind"][0])
    script = "import sys; from cartwise.cli import app; sys.argv[0] = 'cartwise'; app()"
    base = [sys.executable, "-c", script]
    args = ["ingest", "events", str(path), "--store", str(loaded)]
    plain = subprocess.run([*base, *args], capture_output=True, text=True, timeout=120)
    assert plain.returncode == 1
    assert "Traceback" not in plain.stderr
    assert plain.stderr.startswith("error: events.csv, line 3, field 'kind'")
    debug = subprocess.run([*base, "--debug", *args], capture_output=True, text=True, timeout=120)
    assert debug.returncode == 1
    assert "Traceback (most recent call last)" in debug.stderr
    assert "cartwise.errors.IngestError: events.csv, line 3, field 'kind'" in debug.stderr


# -- export and delete-user ---------------------------------------------------------------


def test_export_writes_parquet_that_reads_back(tmp_path: Path, loaded: Path) -> None:
    out = tmp_path / "export"
    printed = ok("export", out, "--store", loaded)
    assert f"events: {out / 'events.parquet'}" in printed
    items = pd.read_parquet(out / "items.parquet")
    users = pd.read_parquet(out / "users.parquet")
    events = pd.read_parquet(out / "events.parquet")
    assert (len(items), len(users), len(events)) == (3, 3, 5)
    assert items["id"].tolist() == ["i1", "i2", "i3"]
    assert json.loads(items.loc[1, "category"]) == ["Phones", "Cases"]
    assert sorted(users["id"]) == ["u1", "u2", "u3"]
    assert events["event_id"].tolist() == ["e1", "e2", "e3", "e4", "e5"]
    assert events["kind"].tolist() == EVENTS["kind"].tolist()


def add_feedback(db: str | Path) -> None:
    """Served answers and feedback for u1 (one answer, two feedback rows) and u2 (one each)."""
    store = Store.open(db)
    served = [
        {"recommendation_id": f"r{u}", "user_id": f"u{u}", "scenario": "for_you"}
        | {"model_version": "v1", "items": ["i2"], "ts": 1.0}
        for u in (1, 2)
    ]
    feedback = [
        {"recommendation_id": "r1", "user_id": "u1", "item_id": "i2", "kind": k, "ts": 2.0}
        for k in ("impression", "click")
    ] + [{"recommendation_id": "r2", "user_id": "u2", "item_id": "i2", "kind": "click", "ts": 2.0}]
    with store.engine.begin() as conn:
        conn.execute(insert(t.served), served)
        conn.execute(insert(t.feedback), feedback)
    store.close()


def rows_of(db: str | Path, user_id: str) -> dict[str, int]:
    """Rows mentioning `user_id`, per table that has a user column."""
    store = Store.open(db)
    found: dict[str, int] = {}
    with store.engine.connect() as conn:
        for table in t.metadata.sorted_tables:
            col = table.c.get("user_id", table.c.get("id") if table is t.users else None)
            if col is not None:
                count = conn.scalar(select(func.count()).where(col == user_id))
                found[table.name] = int(count or 0)
    store.close()
    return found


def test_delete_user_removes_events_and_feedback(loaded_url: str) -> None:
    add_feedback(loaded_url)
    assert rows_of(loaded_url, "u1") == {
        "users": 1,
        "events": 3,
        "served": 1,
        "feedback": 2,
    }
    out = ok("delete-user", "u1", "--store", loaded_url).splitlines()
    prefix = "deleted user u1: "
    assert out[0].startswith(prefix)
    assert json.loads(out[0][len(prefix) :]) == {
        "events": 3,
        "served": 1,
        "feedback": 2,
        "users": 1,
    }
    receipt = out[1].split()[1]
    assert out[1].startswith(f"receipt {receipt} at ")
    assert set(rows_of(loaded_url, "u1").values()) == {0}
    assert rows_of(loaded_url, "u2") == {"users": 1, "events": 1, "served": 1, "feedback": 1}
    again = cli("delete-user", "u1", "--store", loaded_url)
    assert again.exit_code == 1
    message = again.stderr.strip()
    assert message.startswith("error: user 'u1' is not in the store; nothing was deleted ")
    assert message.endswith(f"receipt {receipt})")


@pytest.mark.slow
def test_delete_user_clears_feedback_without_the_service_imported(loaded_url: str) -> None:
    """A fresh process that never imports cartwise.service still knows the feedback tables."""
    add_feedback(loaded_url)
    script = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from cartwise.cli import app\n"
        f"result = CliRunner().invoke(app, ['delete-user', 'u1', '--store', {str(loaded_url)!r}])\n"
        "assert not [m for m in sys.modules if m.startswith('cartwise.service')], 'imported'\n"
        "print(result.exit_code, result.output)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    code, _, printed = done.stdout.partition(" ")
    assert code == "0"
    assert json.loads(printed.splitlines()[0].split(": ", 1)[1]) == {
        "events": 3,
        "served": 1,
        "feedback": 2,
        "users": 1,
    }
    assert set(rows_of(loaded_url, "u1").values()) == {0}


# -- models and demo ----------------------------------------------------------------------


def test_train_models_recommend(loaded: Path, tmp_path: Path) -> None:
    models = tmp_path / "models"
    out = ok("train", "--model", "popularity", "--store", loaded, "--model-dir", models)
    assert out.startswith("trained popularity: version ")
    version = out.split("version ", 1)[1].split(" ", 1)[0]
    assert ok("models", "--model-dir", models).strip() == f"* {version}"
    # Popularity counts events per item: i1 2, i2 2, i3 0; u1 bought i2, so it is left out.
    assert table_rows(
        ok("recommend", "u1", "-k", "3", "--store", loaded, "--model-dir", models)
    ) == [
        ["1", "i1", "Galaxy S23", "799.00 USD", "2.000", "popular with shoppers right now"],
        ["2", "i3", "USB-C Charger", "25.00 USD", "0.000", "more from the catalog"],
    ]
    u2 = table_rows(ok("recommend", "u2", "-k", "3", "--store", loaded, "--model-dir", models))
    assert [(row[1], row[4]) for row in u2] == [("i1", "2.000"), ("i2", "2.000"), ("i3", "0.000")]
    explained = ok("recommend", "u1", "-k", "1", "--explain", "--store", loaded,
                   "--model-dir", models)  # fmt: skip
    assert "1. Galaxy S23: Popular with shoppers right now. [template]" in explained
    assert "   - popular with shoppers right now (popular, weight 0.00)" in explained


def table_rows(output: str) -> list[list[str]]:
    """The body rows of a rich table (cells between │ bars)."""
    return [
        [c.strip() for c in line.split("│")[1:-1]]
        for line in output.splitlines()
        if line.startswith("│")
    ]


def demo_args(db: Path, models: Path) -> list[str | Path]:
    return [
        "demo",
        "--items",
        "150",
        "--shoppers",
        "60",
        "--model",
        "popularity",
        "--store",
        db,
        "--model-dir",
        models,
    ]


def test_demo_prints_three_shoppers(db: Path, tmp_path: Path) -> None:
    models = tmp_path / "models"
    out = ok(*demo_args(db, models), "--no-serve")
    assert "150 items, 60 shoppers" in out
    assert "training popularity ..." in out
    store = Store.open(db)
    purchases = store.events_frame(kinds=[EventKind.PURCHASE])
    shoppers = sorted(purchases["user_id"].unique())[:3]
    assert out.count("shopper u") == 3
    engine = Engine(store, models)
    for user_id in shoppers:
        section = out.split(f"shopper {user_id}", 1)[1].split("shopper u", 1)[0]
        for event in store.user_events(user_id, limit=5):
            assert f"{event.timestamp:%Y-%m-%d %H:%M}  {event.kind.value}" in section
        titles = [rec.item.title for rec in engine.recommend_user(user_id, k=5).items]
        assert len(titles) == 5
        for title in titles:
            assert title in section
    # a second run reuses the store and the model
    again = ok(*demo_args(db, models), "--no-serve")
    assert "building" not in again and "training" not in again
    assert store.counts()["items"] == 150


def test_demo_then_serves_the_store(
    db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append({"app": app, **kw}))
    for name in ("CARTWISE_STORE_URL", "CARTWISE_MODEL_DIR", "CARTWISE_API_KEYS",
                 "CARTWISE_INSECURE_LOCAL"):  # fmt: skip
        monkeypatch.setenv(name, "")  # records the original value (or absence) for teardown:
        monkeypatch.delenv(name)  # `serve` sets these in os.environ and they must not leak
    models = tmp_path / "models"
    out = ok(*demo_args(db, models))
    assert out.count("shopper u") == 3
    assert "on http://127.0.0.1:8000" in out
    assert len(calls) == 1
    call = calls[0]
    assert call["app"] == "cartwise.service.app:app_from_env" and call["factory"] is True
    assert (call["host"], call["port"]) == ("127.0.0.1", 8000)
    assert os.environ["CARTWISE_STORE_URL"] == str(db)
    assert os.environ["CARTWISE_MODEL_DIR"] == str(models)
    # the demo has no keys: it serves this machine only, and trusts no forwarded headers
    assert os.environ["CARTWISE_INSECURE_LOCAL"] == "true" and call["proxy_headers"] is False


@pytest.mark.slow
def test_training_writes_a_line_per_epoch_when_the_output_is_a_file(
    loaded: Path, tmp_path: Path
) -> None:
    log = tmp_path / "train.log"
    script = "import sys; from cartwise.cli import app; sys.argv[0] = 'cartwise'; app()"
    cmd = [
        sys.executable, "-c", script,
        "--log-file", str(log), "train", "--model", "sasrec", "--store", str(loaded),
        "--model-dir", str(tmp_path / "models"),
        "--set", "epochs=3", "--set", "patience=null", "--set", "embedding_size=8",
    ]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    epochs = [line for line in done.stderr.splitlines() if " epoch " in line]
    assert len(epochs) == 3, done.stderr  # stderr is a pipe here: one line per epoch, no bar
    assert all("loss" in line and "ndcg@10" in line and " s" in line for line in epochs)
    assert "fitted sasrec" in done.stderr
    written = log.read_text()
    assert written.count(" epoch ") == 3 and "fitted sasrec" in written
