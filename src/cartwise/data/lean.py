"""Statements that run on every request, sent to the database driver as plain SQL.

SQLAlchemy's Core compiles a statement once but still spends ~0.1 ms per execution on
parameter processing, and more on an expanding ``IN`` list (measured in-process on the demo
store: the three reads of a recommendation request took 0.3 ms of the 1.7 ms an answer cost).
The few statements of the hot path are therefore written once, as SQL text with ``?``
placeholders, and executed with :meth:`~sqlalchemy.engine.Connection.exec_driver_sql`,
placeholders turned into the driver's style (``%s`` for psycopg).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection


@lru_cache(maxsize=256)
def _styled(sql: str, paramstyle: str) -> str:
    return sql if paramstyle == "qmark" else sql.replace("?", "%s")


def marks(n: int) -> str:
    """``?, ?, …`` for an ``IN`` list of `n` values."""
    return ", ".join("?" * n)


def run(conn: Connection, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """The rows of `sql` (``?`` placeholders, no other ``?`` in it) with `params`, as tuples."""
    styled = _styled(sql, conn.dialect.paramstyle)
    return [tuple(row) for row in conn.exec_driver_sql(styled, tuple(params))]
