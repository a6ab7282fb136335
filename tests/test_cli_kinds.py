"""`cartwise kinds add/list` and `cartwise ingest events --kind-map` through typer's runner."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner, Result

from cartwise.cli import app
from cartwise.data.store import Store

runner = CliRunner()

BEHAVIOUR_CSV = (
    "user_id,item_id,category_id,behavior,timestamp\n"
    "1,10,7,pv,1511544070\n"
    "1,10,7,cart,1511544080\n"
    "1,11,7,fav,1511544090\n"
    "1,10,7,buy,1511544100\n"
)


def cli(*args: str | Path) -> Result:
    return runner.invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})


def test_kinds_add_and_list(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    added = cli("kinds", "add", "favourite", "--store", db)
    assert added.exit_code == 0 and "event kind 'favourite' declared: positive" in added.stdout
    assert "not positive" in cli("kinds", "add", "wishlist", "--not-positive", "--store", db).stdout
    listed = cli("kinds", "list", "--store", db)
    rows = {line.split("│")[1].strip(): line for line in listed.stdout.splitlines() if "│" in line}
    assert "declared" in rows["favourite"] and "yes" in rows["favourite"]
    assert "no" in rows["wishlist"] and "built-in" in rows["view"]
    bad = cli("kinds", "add", "purchase", "--store", db)
    assert bad.exit_code == 1
    assert "'purchase' is a built-in kind" in bad.output


def test_ingest_with_a_kind_map(tmp_path: Path) -> None:
    db, path = tmp_path / "s.db", tmp_path / "behaviour.csv"
    path.write_text(BEHAVIOUR_CSV)
    base = ["ingest", "events", path, "--map", "kind=behavior", "--unknown-items", "placeholder"]
    failed = cli(*base, "--store", db)
    assert failed.exit_code == 1
    assert "line 2, field 'behavior': unknown event kind 'pv'" in " ".join(failed.output.split())
    cli("kinds", "add", "favourite", "--store", db)
    done = cli(*base, "--kind-map", "pv=view,cart=add_to_cart", "--kind-map", "buy=purchase",
               "--kind-map", "fav=favourite", "--store", db)  # fmt: skip
    assert done.exit_code == 0, done.output
    assert "4 events added" in done.stdout
    store = Store.open(db)
    assert store.stats()["events_by_kind"] == {
        "add_to_cart": 1, "favourite": 1, "purchase": 1, "view": 1
    }  # fmt: skip
