"""Shared test fixtures.

Keep this file additive: each fixture is independent of the others.
"""

from __future__ import annotations

import os

# before any test module imports torch: see cartwise/__init__.py (OpenMP threads sleep, not spin)
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy.pool import NullPool

REPO = Path(__file__).resolve().parents[1]


def shared_datasets_dir() -> Path:
    """``$CARTWISE_DATASETS`` when set, else ``<repo>/../shared/datasets``."""
    env = os.environ.get("CARTWISE_DATASETS")
    return Path(env).expanduser() if env else (REPO.parent / "shared" / "datasets").resolve()


@pytest.fixture(scope="session")
def datasets_dir() -> Path:
    """The public datasets folder; the test is skipped when it is absent."""
    path = shared_datasets_dir()
    if not path.is_dir():
        pytest.skip(f"public datasets not found at {path} (set CARTWISE_DATASETS)")
    return path


# -- store backends: SQLite and a throwaway PostgreSQL ---------------------------------------
#
# `store_url` runs a test once per backend: on SQLite (a file in tmp_path) and on PostgreSQL (a
# fresh schema of one server per test session). The server is a throwaway one started with
# initdb + pg_ctl in a temporary folder (Unix socket only, removed afterwards), or the database
# named by $CARTWISE_TEST_PG_URL. Without PostgreSQL binaries (scripts/install-postgres.sh
# installs them) the PostgreSQL runs skip with the reason, unless $CARTWISE_REQUIRE_PG=1
# (set by `make test`), which makes that a failure.

# The PostgreSQL runs are marked slow: `make test` runs both backends, `make test-fast` (the
# unmarked set, ~2 minutes) SQLite only.
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)]


class PgSchemas:
    """Hands out URLs of new, empty schemas in one PostgreSQL database."""

    def __init__(self, base_url: str) -> None:
        from sqlalchemy import create_engine

        self.base_url = base_url
        self._admin = create_engine(base_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
        self._count = 0

    def new_url(self) -> str:
        """Create a schema and return a URL whose search_path is that schema."""
        from sqlalchemy import text
        from sqlalchemy.engine import make_url

        self._count += 1
        name = f"t{os.getpid()}_{self._count}"
        with self._admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{name}"'))
        url = make_url(self.base_url).update_query_dict({"options": f"-csearch_path={name}"})
        return url.render_as_string(hide_password=False)

    def close(self) -> None:
        self._admin.dispose()


def _no_postgres(reason: str) -> None:
    if os.environ.get("CARTWISE_REQUIRE_PG") == "1":
        pytest.fail(f"CARTWISE_REQUIRE_PG=1 but PostgreSQL is unavailable: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def pg_schemas() -> Iterator[PgSchemas]:
    """Fresh PostgreSQL schemas (skips when no server can be had; see above)."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _no_postgres("psycopg is not installed: pip install 'cartwise[pg]'")
    given = os.environ.get("CARTWISE_TEST_PG_URL")
    if given:
        schemas = PgSchemas(given)
        yield schemas
        schemas.close()
        return
    from cartwise.data.pg_local import LocalPostgres, missing_reason

    reason = missing_reason()
    if reason:
        _no_postgres(reason)
    with LocalPostgres.start() as server:
        # language-aware text order by default (as on most servers), unlike SQLite's byte order
        server.create_database("cartwise_test", icu_locale="en-US")
        schemas = PgSchemas(server.url("cartwise_test"))
        yield schemas
        schemas.close()


def backend_url(backend: str, request: pytest.FixtureRequest, folder: Path) -> str:
    """A URL of a new, empty store on `backend` ("sqlite": a file in `folder`)."""
    if backend == "sqlite":
        return f"sqlite:///{folder / 'shop.db'}"
    schemas: PgSchemas = request.getfixturevalue("pg_schemas")
    return schemas.new_url()


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of a new, empty store, once on SQLite and once on PostgreSQL."""
    return backend_url(request.param, request, tmp_path)


@pytest.fixture(params=BACKENDS)
def new_store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], str]:
    """A factory of URLs of new, empty stores on one backend (once SQLite, once PostgreSQL):
    for tests that need many stores, such as property tests."""
    made = iter(range(1_000_000))

    def make() -> str:
        folder = tmp_path / f"store{next(made)}"
        folder.mkdir()
        return backend_url(request.param, request, folder)

    return make
