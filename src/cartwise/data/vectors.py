"""Reads and writes of the store's ``text_vectors`` table (the text-encoder cache).

Rows are keyed by (model name, sha256 of the UTF-8 text); the vector is stored as little-endian
float32 bytes with its dimension. The functions take the Store, so that the Store class itself
stays about shopping data and nothing outside ``data/`` touches the table.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

import numpy as np
from sqlalchemy import Connection, delete, func, insert, select

from cartwise.data import tables as t
from cartwise.data.store import Store

_CHUNK = 900  # below SQLite's default limit of bound parameters per statement


def text_sha256(text: str) -> str:
    """Hex sha256 of the UTF-8 bytes of `text` (the cache key of a text)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def to_bytes(vector: np.ndarray) -> bytes:
    """A 1-d vector as little-endian float32 bytes."""
    return np.ascontiguousarray(vector, dtype="<f4").tobytes()


def from_bytes(blob: bytes, dim: int) -> np.ndarray:
    """Bytes written by :func:`to_bytes` back to a float32 vector of length `dim`."""
    return np.frombuffer(blob, dtype="<f4", count=dim).astype(np.float32)


def load_vectors(store: Store, model: str, hashes: Iterable[str], dim: int) -> dict[str, bytes]:
    """Cached vectors (as bytes) of `model` for the given text hashes, where the stored
    dimension equals `dim`; rows of another dimension are treated as absent."""
    wanted = sorted(set(hashes))
    c = t.text_vectors.c
    found: dict[str, bytes] = {}
    with store.engine.connect() as conn:
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            stmt = select(c.text_sha256, c.vector).where(
                c.model == model, c.dim == dim, c.text_sha256.in_(chunk)
            )
            found.update((h, bytes(v)) for h, v in conn.execute(stmt))
    return found


def save_vectors(store: Store, model: str, vectors: Mapping[str, np.ndarray]) -> int:
    """Write vectors of `model` keyed by text hash, replacing rows with the same key, in one
    transaction. Returns the number of rows written."""
    if not vectors:
        return 0
    rows = [
        {"model": model, "text_sha256": h, "dim": int(v.shape[0]), "vector": to_bytes(v)}
        for h, v in vectors.items()
    ]
    with store.engine.begin() as conn:
        for start in range(0, len(rows), _CHUNK):
            _upsert(conn, rows[start : start + _CHUNK])
    return len(rows)


def _upsert(conn: Connection, rows: list[dict[str, object]]) -> None:
    """Insert or replace rows; an upsert so concurrent writers of one key cannot collide."""
    dialect = conn.dialect.name
    if dialect in ("sqlite", "postgresql"):
        if dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert as dialect_insert
        else:
            from sqlalchemy.dialects.postgresql import insert as dialect_insert  # type: ignore[assignment]
        stmt = dialect_insert(t.text_vectors)
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["model", "text_sha256"],
                set_={"dim": stmt.excluded.dim, "vector": stmt.excluded.vector},
            ),
            rows,
        )
        return
    c = t.text_vectors.c  # pragma: no cover - other databases: delete then insert
    for row in rows:  # pragma: no cover
        conn.execute(
            delete(t.text_vectors).where(
                c.model == row["model"], c.text_sha256 == row["text_sha256"]
            )
        )
    conn.execute(insert(t.text_vectors), rows)  # pragma: no cover


def count_vectors(store: Store, model: str | None = None) -> int:
    """Number of cached vectors, for one model or in all."""
    stmt = select(func.count()).select_from(t.text_vectors)
    if model is not None:
        stmt = stmt.where(t.text_vectors.c.model == model)
    with store.engine.connect() as conn:
        return int(conn.scalar(stmt) or 0)


def clear_vectors(store: Store, model: str | None = None) -> int:
    """Delete cached vectors of one model (or all). Returns the number of rows removed."""
    stmt = delete(t.text_vectors)
    if model is not None:
        stmt = stmt.where(t.text_vectors.c.model == model)
    with store.engine.begin() as conn:
        return int(conn.execute(stmt).rowcount)
