"""Schema versions of the store, kept with Alembic (migrations in :mod:`cartwise.data.migrations`).

The version is a row in the ``cartwise_schema_version`` table (Alembic's version table under a
name of its own, so a PostgreSQL database shared with another Alembic-managed application keeps
both). What :class:`~cartwise.data.store.Store` does when it opens a store:

- an empty database gets every table at the newest version (``head``);
- a store made before schema versions, with all the tables of the first version, is recorded as
  being at that version (``0001``: no table or row is touched);
- a store at ``head`` opens;
- an older **SQLite** store is upgraded in place, in one transaction, and a warning is logged:
  a SQLite file belongs to one machine, and its owner expects a new Cartwise to open it;
- an older **PostgreSQL** store is not changed: opening it raises
  :class:`~cartwise.errors.StoreError` naming its version and the command that upgrades it,
  ``cartwise db upgrade --store URL``. A shared store's schema changes once, by the operator's
  decision, with a backup, while the replicas sharing it are stopped or can cope, never as a
  side effect of whichever replica opened it first;
- a store at a version this Cartwise does not know (upgraded by a newer one) is refused.

:func:`upgrade` runs the missing migrations in one transaction (on SQLite too), so a failed
upgrade leaves the store as it was.
"""

from __future__ import annotations

import functools
import logging
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, event, inspect, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from cartwise.data import tables as t
from cartwise.data.connect import is_memory, make_engine, shown_url
from cartwise.data.migrations import baseline
from cartwise.data.migrations.baseline import baseline_metadata
from cartwise.errors import StoreError

_log = logging.getLogger(__name__)

VERSION_TABLE = "cartwise_schema_version"
#: The first schema version: the tables as they were before versions began.
BASELINE = baseline.REVISION
_LOCK_KEY = 0x63617274  # "cart": PostgreSQL advisory lock serialising schema changes
_SCRIPTS = "cartwise.data:migrations"


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration for the store's migrations (no ini file needed)."""
    config = Config()
    config.set_main_option("script_location", _SCRIPTS)
    config.set_main_option("path_separator", "os")
    config.set_main_option("file_template", "v%%(rev)s_%%(slug)s")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@functools.cache
def scripts() -> ScriptDirectory:
    """The migration scripts (read once per process)."""
    return ScriptDirectory.from_config(alembic_config())


def head() -> str:
    """The newest schema version this Cartwise knows."""
    found = scripts().get_current_head()
    assert found is not None, "no migrations found"
    return found


def versions_folder() -> Path:
    """Where migration files live (``src/cartwise/data/migrations/versions``)."""
    return Path(scripts().versions)


@dataclass(frozen=True)
class SchemaState:
    """What a store holds: its recorded version (None: unversioned), Cartwise's tables, and,
    for an unversioned store, the names of those tables' indexes."""

    version: str | None
    tables: frozenset[str]
    indexes: frozenset[str] = frozenset()

    @property
    def empty(self) -> bool:
        """No Cartwise table and no version: a new database."""
        return self.version is None and not self.tables

    @property
    def baseline_complete(self) -> bool:
        """Unversioned, with every table and index of the first version."""
        wanted = baseline_metadata().tables.values()
        indexes = {i.name for table in wanted for i in table.indexes}
        return (
            self.version is None
            and {table.name for table in wanted} <= self.tables
            and indexes <= self.indexes
        )


def read_state(conn: Connection) -> SchemaState:
    """The schema version and Cartwise tables of the store behind `conn`."""
    inspector = inspect(conn)
    names = set(inspector.get_table_names())
    known = set(t.metadata.tables) | set(baseline_metadata().tables)
    if VERSION_TABLE in names:
        context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        return SchemaState(context.get_current_revision(), frozenset(names & known))
    indexes = {i["name"] for n in names & known for i in inspector.get_indexes(n) if i["name"]}
    return SchemaState(None, frozenset(names & known), frozenset(indexes))


def transactional_engine(url: str | Path) -> Engine:
    """An engine for schema changes: one real transaction per ``begin()`` on SQLite too
    (``BEGIN IMMEDIATE``: DDL included, writers locked out), no pooling."""
    engine = make_engine(url, poolclass=NullPool)
    if engine.dialect.name == "sqlite":

        def no_implicit_transactions(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # the driver would commit before DDL

        def begin(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        event.listen(engine, "connect", no_implicit_transactions)
        event.listen(engine, "begin", begin)
    return engine


@contextmanager
def schema_change(engine: Engine) -> Iterator[Connection]:
    """One transaction holding the schema lock (PostgreSQL: an advisory lock; SQLite: the
    write lock of ``BEGIN IMMEDIATE``). An in-memory SQLite store uses its own engine."""
    url = engine.url.render_as_string(hide_password=False)
    own = None if is_memory(url) else transactional_engine(url)
    try:
        with (own or engine).begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
            yield conn
    finally:
        if own is not None:
            own.dispose()


def _failed(shown: str, exc: SQLAlchemyError) -> StoreError:
    return StoreError(
        f"upgrading the store '{shown}' failed, nothing was changed: {getattr(exc, 'orig', exc)}"
    )


def _stamp(conn: Connection, revision: str) -> None:
    context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
    context.stamp(scripts(), revision)


def _outdated(url: str, state: SchemaState) -> StoreError:
    newest = head()
    shown = shown_url(url)
    if state.version is not None and state.version not in {
        s.revision for s in scripts().walk_revisions()
    }:
        return StoreError(
            f"the store '{shown}' has schema version {state.version}, newer than this Cartwise "
            f"knows (newest: {newest}); it was upgraded by a newer Cartwise: upgrade Cartwise"
        )
    found = state.version or "none (made before schema versions, older than its first version)"
    return StoreError(
        f"the store '{shown}' has schema version {found}; this Cartwise needs {newest}. "
        f"Back it up, then run: cartwise db upgrade --store '{shown}'"
    )


def is_known(version: str | None) -> bool:
    """Whether `version` is one of this Cartwise's schema versions (None: before versions)."""
    return version is None or version in {s.revision for s in scripts().walk_revisions()}


def prepare(engine: Engine) -> str:
    """Make `engine`'s store usable at the newest schema version, or say why it is not.

    Creates the tables of a new store; records an unversioned store that has the first
    version's tables as being at that version; upgrades an older SQLite store in place (one
    transaction); checks the version. Returns it.

    Raises:
        StoreError: the store is at another version (the message says how to upgrade).
    """
    newest = head()
    with engine.connect() as conn:
        state = read_state(conn)
    if state.version == newest:
        return newest
    sqlite = engine.dialect.name == "sqlite"
    if state.empty or state.baseline_complete or (sqlite and is_known(state.version)):
        with schema_change(engine) as conn:
            state = _settle(conn, read_state(conn), upgrade_older=sqlite)
    if state.version == newest:
        return newest
    raise _outdated(engine.url.render_as_string(hide_password=False), state)


def _settle(conn: Connection, state: SchemaState, *, upgrade_older: bool) -> SchemaState:
    """Under the schema lock (another process may have been first): create, record or
    upgrade, as :func:`prepare` says. Returns the state reached."""
    newest = head()
    shown = shown_url(conn.engine.url.render_as_string(hide_password=False))
    if state.empty:
        t.metadata.create_all(conn)
        _stamp(conn, newest)
        _log.info("created store %s at schema version %s", shown, newest)
        return SchemaState(newest, frozenset(t.metadata.tables))
    if state.baseline_complete:
        _stamp(conn, BASELINE)
        _log.info("recorded store %s as schema version %s", shown, BASELINE)
        state = SchemaState(BASELINE, state.tables)
    if upgrade_older and state.version != newest and is_known(state.version):
        try:
            command.upgrade(alembic_config(conn), "head")
        except SQLAlchemyError as exc:
            raise _failed(shown, exc) from exc
        _log.warning(
            "upgraded store %s from schema version %s to %s",
            shown,
            state.version or "none",
            newest,
        )
        return read_state(conn)
    return state


def current(engine: Engine) -> SchemaState:
    """The store's schema state (read only)."""
    with engine.connect() as conn:
        return read_state(conn)


def upgrade(url: str | Path, revision: str = "head") -> tuple[str | None, str]:
    """Run the migrations from the store's version to `revision`, in one transaction.

    Returns (version before, version after). An unversioned store counts as before the first
    version; the first migration creates only the tables it lacks.

    Raises:
        StoreError: the store cannot be opened, or a migration failed (nothing was changed).
    """
    engine = _existing(url)
    try:
        with schema_change(engine) as conn:
            before = read_state(conn).version
            command.upgrade(alembic_config(conn), revision)
            after = read_state(conn).version
    except SQLAlchemyError as exc:
        raise _failed(shown_url(str(engine.url)), exc) from exc
    finally:
        engine.dispose()
    assert after is not None
    return before, after


def _existing(url: str | Path) -> Engine:
    """An engine on a store that must exist already (a SQLite file is not created)."""
    engine = make_engine(url, poolclass=NullPool)
    database = engine.url.database
    sqlite_file = engine.dialect.name == "sqlite" and not is_memory(str(engine.url))
    if sqlite_file and database and not Path(database).is_file():
        engine.dispose()
        raise StoreError(
            f"no store at '{database}'; check the path (--store or CARTWISE_STORE_URL)"
        )
    return engine


def inspect_store(url: str | Path) -> SchemaState:
    """The schema state of the store at `url`, read only (the store must exist)."""
    engine = _existing(url)
    try:
        return current(engine)
    except SQLAlchemyError as exc:
        raise StoreError(
            f"cannot read the store '{shown_url(str(engine.url))}': {getattr(exc, 'orig', exc)}"
        ) from exc
    finally:
        engine.dispose()


def new_revision(message: str, url: str | Path, *, autogenerate: bool = True) -> Path:
    """Write a new migration file (next number after head) for developers changing
    :mod:`cartwise.data.tables`; with `autogenerate`, its operations are what differs between
    the store at `url` (which must be at head) and the tables. Returns the file."""
    number = f"{int(head()) + 1:04d}"
    engine = _existing(url)
    try:
        with engine.connect() as conn:
            if read_state(conn).version != head():
                raise StoreError(f"the store must be at schema version {head()} first")
            config = alembic_config(conn)
            _ruff_hooks(config)
            written = command.revision(config, message, autogenerate=autogenerate, rev_id=number)
    finally:
        engine.dispose()
    scripts.cache_clear()
    assert written is not None and not isinstance(written, list)
    return Path(written.path)


def _ruff_hooks(config: Config) -> None:
    """Format a new migration file with ruff (the project's linter), when it is installed."""
    ruff = shutil.which("ruff") or shutil.which("ruff", path=str(Path(sys.executable).parent))
    if ruff is None:
        return
    section = "post_write_hooks"
    config.set_section_option(section, "hooks", "ruff_fix,ruff_format")
    for name, options in (("ruff_fix", "check --fix --quiet"), ("ruff_format", "format --quiet")):
        config.set_section_option(section, f"{name}.type", "exec")
        config.set_section_option(section, f"{name}.executable", ruff)
        config.set_section_option(section, f"{name}.options", f"{options} REVISION_SCRIPT_FILENAME")
