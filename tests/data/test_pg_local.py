"""The throwaway PostgreSQL server of the tests and benchmarks: socket only, gone when stopped."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from cartwise.data.pg_local import LocalPostgres, missing_reason


def test_server_listens_on_its_own_socket_only_and_leaves_nothing() -> None:
    reason = missing_reason()
    if reason:
        if os.environ.get("CARTWISE_REQUIRE_PG") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    pytest.importorskip("psycopg")
    server = LocalPostgres.start()
    try:
        engine = create_engine(server.url("probe"), poolclass=NullPool)
        with engine.connect() as conn:
            assert conn.execute(text("SHOW listen_addresses")).scalar() == ""  # no TCP at all
            socket_dir = conn.execute(text("SHOW unix_socket_directories")).scalar()
            assert socket_dir == str(server.folder)
            assert conn.execute(text("SELECT current_database()")).scalar() == "probe"
        engine.dispose()
        if os.geteuid() == 0:  # PostgreSQL refuses root: it runs as the postgres user
            assert server.folder.stat().st_uid != 0
    finally:
        server.stop()
    assert not server.folder.exists()
