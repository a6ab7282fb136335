"""Schema versions: a store made with the previous schema upgrades in place, its data intact,
on SQLite and on PostgreSQL; the migrations build exactly the tables of cartwise.data.tables.

"The previous schema" is the frozen copy of the tables as they were before schema versions
(:mod:`cartwise.data.migrations.baseline`), created without a version row, as every store made
before versions is. Later migrations are exercised with a test-only revision after the newest,
placed in an extra version folder: it adds a column, changes a column's type (a table copy on
SQLite) and adds an index.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, Index, create_engine, insert, inspect, select, text
from sqlalchemy.pool import NullPool
from typer.testing import CliRunner

from cartwise.cli import app
from cartwise.data import migrate
from cartwise.data import tables as t
from cartwise.data.migrations.baseline import OLD_FEEDBACK_INDEX, baseline_metadata
from cartwise.data.store import Store
from cartwise.errors import StoreError

OLD_ROWS: dict[str, list[dict[str, Any]]] = {
    "items": [
        {"id": "phone", "title": "Galaxy S23", "description": "", "category": ["Phones"]}
        | {"brand": "Samsung", "price": 799.0, "currency": "EUR", "available": True}
        | {"attributes": {"color": "black"}, "created_at": 1.7e9, "placeholder": False},
        {"id": "case", "title": "Case", "description": "fits S23", "category": ["Cases"]}
        | {"brand": "", "price": None, "currency": "USD", "available": False}
        | {"attributes": {}, "created_at": 1.7e9 + 0.25, "placeholder": True},
    ],
    "users": [{"id": "u1", "attributes": {"tier": "gold"}, "created_at": 1.6e9}],
    "events": [
        {"seq": 1, "event_id": "e1", "user_id": "u1", "session_id": "s1", "item_id": "phone"}
        | {"kind": "view", "value": None, "query": None, "ts": 1.7e9 + 0.5, "context": None},
        {"seq": 2, "event_id": "e2", "user_id": "u1", "session_id": None, "item_id": "case"}
        | {"kind": "purchase", "value": 2.0, "query": None, "ts": 1.7e9 + 0.5}
        | {"context": {"page": "cart"}},
    ],
    "text_vectors": [
        {"model": "m", "text_sha256": "ab" * 32, "dim": 2, "vector": b"\x00\x01\x02\x03" * 2}
    ],
    "served": [
        {"recommendation_id": "r1", "user_id": "u1", "scenario": "for_you"}
        | {"model_version": "v1", "items": ["phone", "case"], "ts": 1.7e9 + 1},
    ],
    "feedback": [
        {"seq": 1, "recommendation_id": "r1", "user_id": "u1", "item_id": "case"}
        | {"kind": "click", "ts": 1.7e9 + 2},
    ],
}

TEST_REVISION = '''"""Test only: widen items.currency, add items.weight_kg, index items.brand."""

import sqlalchemy as sa
from alembic import op

revision = "NEXT"
down_revision = "HEAD"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("items", recreate="always") as batch:
        batch.alter_column("currency", type_=sa.String(16), existing_nullable=False)
        batch.add_column(sa.Column("weight_kg", sa.Float, nullable=True))
    op.create_index("ix_items_brand", "items", ["brand"])
    FAIL


def downgrade() -> None:
    op.drop_index("ix_items_brand", "items")
    with op.batch_alter_table("items") as batch:
        batch.drop_column("weight_kg")
'''


def make_old_store(
    url: str, *, without: tuple[str, ...] = (), feedback: list[dict[str, Any]] | None = None
) -> None:
    """A store as made before schema versions: the baseline tables, no version row, data.

    With `feedback`, the feedback table is the one from before feedback was idempotent (a plain
    index on recommendation_id) holding these rows.
    """
    engine = create_engine(url, poolclass=NullPool)
    metadata = baseline_metadata()
    if feedback is not None:
        table = metadata.tables["feedback"]
        table.indexes = {i for i in table.indexes if i.name != "ux_feedback_key"}
        Index(OLD_FEEDBACK_INDEX, table.c.recommendation_id)
    tables = [tab for name, tab in metadata.tables.items() if name not in without]
    metadata.create_all(engine, tables=tables)
    with engine.begin() as conn:
        for table in tables:
            rows = feedback if feedback is not None and table.name == "feedback" else None
            conn.execute(insert(table), rows or OLD_ROWS[table.name])
    engine.dispose()


def contents(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the baseline columns of every baseline table, in key order."""
    engine = create_engine(url, poolclass=NullPool)
    found = {}
    with engine.connect() as conn:
        for name, table in baseline_metadata().tables.items():
            columns = [table.c[c.name] for c in table.columns]
            stmt = select(*columns).order_by(*table.primary_key.columns)
            found[name] = [tuple(row) for row in conn.execute(stmt)]
    engine.dispose()
    return found


def schema_diff(url: str) -> list[Any]:
    """What differs between the store's tables and cartwise.data.tables (empty: identical)."""
    engine: Engine = create_engine(url, poolclass=NullPool)
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "version_table": migrate.VERSION_TABLE}
        )
        diff = compare_metadata(context, t.metadata)
    engine.dispose()
    return diff


def cli(*args: str) -> str:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture
def test_revision(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The test revision, in an extra version folder (its FAIL written as `pass`)."""
    folder = tmp_path / "versions"
    folder.mkdir()
    shipped = migrate.versions_folder()
    original = migrate.alembic_config

    def config(connection: Any = None) -> Config:
        found = original(connection)
        found.set_main_option("version_locations", os.pathsep.join([str(shipped), str(folder)]))
        return found

    monkeypatch.setattr(migrate, "alembic_config", config)
    revision = TEST_REVISION.replace("NEXT", NEXT).replace("HEAD", HEAD)
    (folder / "v9999_test.py").write_text(revision.replace("FAIL", "pass"))
    migrate.scripts.cache_clear()
    yield folder / "v9999_test.py"
    migrate.scripts.cache_clear()


HEAD = migrate.head()  # the newest shipped version
NEXT = f"{int(HEAD) + 1:04d}"  # the test-only one


def test_old_store_upgrades_in_place_with_data_intact(store_url: str) -> None:
    make_old_store(store_url)
    before = contents(store_url)
    shown = cli("db", "current", "--store", store_url)
    assert f"schema version none (newest known: {HEAD}): older: run `cartwise db upgrade`" in shown
    out = cli("db", "upgrade", "--store", store_url)
    assert f"schema version none (made before schema versions) → {HEAD}" in out
    assert contents(store_url) == before
    assert schema_diff(store_url) == []
    if not store_url.startswith("sqlite"):  # 0002: ids in byte order
        engine = create_engine(store_url, poolclass=NullPool)
        found = {c["name"]: c["type"] for c in inspect(engine).get_columns("events")}
        engine.dispose()
        assert found["user_id"].collation == "C" and found["kind"].collation is None
    assert f"schema version {HEAD} (newest known: {HEAD}): up to date" in cli(
        "db", "current", "--store", store_url
    )
    assert f"already at schema version {HEAD}" in cli("db", "upgrade", "--store", store_url)
    store = Store.open(store_url)
    assert store.get_item("phone").attributes == {"color": "black"}
    assert [e.event_id for e in store.user_events("u1")] == ["e1", "e2"]
    assert store.delete_user("u1") == {"events": 2, "served": 1, "feedback": 1, "users": 1}
    store.close()


def test_opening_an_old_store(store_url: str) -> None:
    """SQLite: upgraded on opening. PostgreSQL: recorded as 0001 (nothing else changes), then
    refused with the command that upgrades it."""
    make_old_store(store_url)
    before = contents(store_url)
    if store_url.startswith("sqlite"):
        store = Store.open(store_url)
        assert store.schema_version == HEAD
        assert store.counts() == {"items": 2, "users": 1, "events": 2}
        store.close()
        assert schema_diff(store_url) == []
    else:
        with pytest.raises(StoreError, match=f"version 0001; this Cartwise needs {HEAD}. Back"):
            Store.open(store_url)
        assert migrate.inspect_store(store_url).version == "0001"
    assert contents(store_url) == before


def test_new_store_is_created_at_the_newest_version(store_url: str) -> None:
    store = Store.open(store_url)
    assert store.schema_version == HEAD
    store.close()
    assert schema_diff(store_url) == []
    assert migrate.inspect_store(store_url).version == HEAD


def test_store_missing_tables_gets_them_on_upgrade(store_url: str) -> None:
    make_old_store(store_url, without=("served", "feedback"))
    if not store_url.startswith("sqlite"):
        with pytest.raises(StoreError, match=r"version none .*run: cartwise db upgrade --store"):
            Store.open(store_url)
        cli("db", "upgrade", "--store", store_url)
    store = Store.open(store_url)
    assert store.counts()["events"] == 2
    store.close()
    assert schema_diff(store_url) == []


def test_feedback_from_before_it_was_idempotent_is_made_unique(store_url: str) -> None:
    """Retried posts once stored a click twice: 0001 keeps the first and adds the unique key."""
    rows = [
        {"seq": n, "recommendation_id": "r1", "user_id": "u1", "item_id": item}
        | {"kind": kind, "ts": 1.7e9 + n}
        for n, (item, kind) in enumerate(
            [("case", "impression"), ("case", "click"), ("case", "click"), ("phone", "click")], 1
        )
    ]
    make_old_store(store_url, feedback=rows)
    if not store_url.startswith("sqlite"):
        with pytest.raises(StoreError, match="version none .*older than its first version"):
            Store.open(store_url)
    cli("db", "upgrade", "--store", store_url)
    kept = contents(store_url)["feedback"]
    assert [(r[0], r[2], r[3]) for r in kept] == [
        (1, "u1", "case"),
        (2, "u1", "case"),
        (4, "u1", "phone"),
    ]
    assert schema_diff(store_url) == []


def test_later_migration_runs_on_an_old_store(store_url: str, test_revision: Path) -> None:
    make_old_store(store_url)
    before = contents(store_url)
    assert f"→ {NEXT}" in cli("db", "upgrade", "--store", store_url)
    assert contents(store_url) == before
    engine = create_engine(store_url, poolclass=NullPool)
    columns = {c["name"]: c for c in inspect(engine).get_columns("items")}
    assert columns["currency"]["type"].length == 16 and "weight_kg" in columns
    assert "ix_items_brand" in {i["name"] for i in inspect(engine).get_indexes("items")}
    engine.dispose()
    store = Store.open(store_url)
    assert store.schema_version == NEXT
    assert store.get_item("phone").currency == "EUR"
    assert [i.id for i in store.items()] == ["case", "phone"]
    store.close()


@pytest.mark.parametrize("how", ["command", "open"])
def test_failed_migration_leaves_the_store_as_it_was(
    store_url: str, test_revision: Path, how: str
) -> None:
    if how == "open" and not store_url.startswith("sqlite"):
        pytest.skip("only SQLite stores are upgraded on opening")
    test_revision.write_text(
        TEST_REVISION.replace("FAIL", "op.execute('SELECT * FROM nowhere')")
        .replace("NEXT", NEXT)
        .replace("HEAD", HEAD)
    )
    make_old_store(store_url)
    before = contents(store_url)
    with pytest.raises(StoreError, match="upgrading the store .* failed, nothing was changed"):
        migrate.upgrade(store_url) if how == "command" else Store.open(store_url)
    assert contents(store_url) == before
    engine = create_engine(store_url, poolclass=NullPool)
    assert "weight_kg" not in {c["name"] for c in inspect(engine).get_columns("items")}
    assert "ix_items_brand" not in {i["name"] for i in inspect(engine).get_indexes("items")}
    with engine.connect() as conn:
        assert not inspect(conn).has_table(migrate.VERSION_TABLE)
        assert conn.execute(text("SELECT count(*) FROM items")).scalar() == 2
    engine.dispose()


def test_newer_store_asks_for_a_newer_cartwise(store_url: str, test_revision: Path) -> None:
    Store.open(store_url).close()
    migrate.upgrade(store_url)
    test_revision.unlink()
    migrate.scripts.cache_clear()
    with pytest.raises(StoreError, match=f"version {NEXT}, newer than this Cartwise knows"):
        Store.open(store_url)
    assert "newer than this Cartwise: upgrade Cartwise" in cli(
        "db", "current", "--store", store_url
    )


def test_db_commands_on_a_missing_store(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["db", "current", "--store", str(tmp_path / "none.db")])
    assert result.exit_code == 1
    assert "no store at" in result.output and not (tmp_path / "none.db").exists()
