"""Tables of served recommendations and of the feedback on them.

Registered on the shared :data:`cartwise.data.tables.metadata`, with a ``user_id`` column each,
so :meth:`cartwise.data.store.Store.delete_user` removes a shopper's rows from them too — as long
as this module has been imported in the process (the service imports it; so must any command
that deletes users). :func:`ensure_tables` creates them in a store opened before the import.
"""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Column, Float, Index, Integer, String, Table

from cartwise.data.store import Store
from cartwise.data.tables import ID, metadata

#: One row per answer the service gave: what was shown, to whom, by which model version.
served = Table(
    "served",
    metadata,
    Column("recommendation_id", String(64), primary_key=True),
    Column("user_id", ID, nullable=True),
    Column("scenario", String(32), nullable=False),
    Column("model_version", String(200), nullable=True),
    Column("items", JSON, nullable=False),
    Column("ts", Float, nullable=False),
    Index("ix_served_user", "user_id"),
    Index("ix_served_version", "model_version"),
)

#: Impressions, clicks and purchases on served items, joined to `served` by recommendation_id.
feedback = Table(
    "feedback",
    metadata,
    Column(
        "seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("recommendation_id", String(64), nullable=False),
    Column("user_id", ID, nullable=True),
    Column("item_id", ID, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("ts", Float, nullable=False),
    Index("ix_feedback_rec", "recommendation_id"),
    Index("ix_feedback_user", "user_id"),
)


def ensure_tables(store: Store) -> None:
    """Create the tables in `store` if they are missing (idempotent)."""
    metadata.create_all(store.engine, tables=[served, feedback])
