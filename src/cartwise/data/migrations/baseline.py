"""The store's schema at its first version (revision ``0001``), frozen.

A literal copy of :mod:`cartwise.data.tables` as it was when schema versions began. It must never
change: later schema changes are new migrations, and :mod:`cartwise.data.tables` moves on. Stores
created before schema versions have these tables, or, if older: some of them, or a feedback table
indexed by ``ix_feedback_rec`` instead of the unique ``ux_feedback_key`` (before feedback was
idempotent); migration 0001 brings those to this schema.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

REVISION = "0001"
#: The feedback table's index before feedback was idempotent (replaced by ux_feedback_key).
OLD_FEEDBACK_INDEX = "ix_feedback_rec"


def baseline_metadata() -> MetaData:
    """A new MetaData holding the six tables of revision 0001."""
    metadata = MetaData()
    _catalog_and_shoppers(metadata)
    _events_and_vectors(metadata)
    _answers_and_feedback(metadata)
    return metadata


_ID = String(256)
_SEQ = BigInteger().with_variant(Integer, "sqlite")


def _catalog_and_shoppers(metadata: MetaData) -> None:
    Table(
        "items",
        metadata,
        Column("id", _ID, primary_key=True),
        Column("title", Text, nullable=False, default=""),
        Column("description", Text, nullable=False, default=""),
        Column("category", JSON, nullable=False),
        Column("brand", Text, nullable=False, default=""),
        Column("price", Float, nullable=True),
        Column("currency", String(8), nullable=False, default="USD"),
        Column("available", Boolean, nullable=False, default=True),
        Column("attributes", JSON, nullable=False),
        Column("created_at", Float, nullable=False),
        Column("placeholder", Boolean, nullable=False, default=False),
    )
    Table(
        "users",
        metadata,
        Column("id", _ID, primary_key=True),
        Column("attributes", JSON, nullable=False),
        Column("created_at", Float, nullable=False),
    )


def _events_and_vectors(metadata: MetaData) -> None:
    Table(
        "events",
        metadata,
        Column("seq", _SEQ, primary_key=True, autoincrement=True),
        Column("event_id", _ID, nullable=False, unique=True),
        Column("user_id", _ID, nullable=False),
        Column("session_id", _ID, nullable=True),
        Column("item_id", _ID, nullable=True),
        Column("kind", String(32), nullable=False),
        Column("value", Float, nullable=True),
        Column("query", Text, nullable=True),
        Column("ts", Float, nullable=False),
        Column("context", JSON, nullable=True),
        Index("ix_events_user_ts", "user_id", "ts", "seq"),
        Index("ix_events_item", "item_id"),
        Index("ix_events_ts", "ts"),
    )
    Table(
        "text_vectors",
        metadata,
        Column("model", String(200), primary_key=True),
        Column("text_sha256", String(64), primary_key=True),
        Column("dim", Integer, nullable=False),
        Column("vector", LargeBinary, nullable=False),
    )


def _answers_and_feedback(metadata: MetaData) -> None:
    Table(
        "served",
        metadata,
        Column("recommendation_id", String(64), primary_key=True),
        Column("user_id", _ID, nullable=True),
        Column("scenario", String(32), nullable=False),
        Column("model_version", String(200), nullable=True),
        Column("items", JSON, nullable=False),
        Column("ts", Float, nullable=False),
        Index("ix_served_user", "user_id"),
        Index("ix_served_version", "model_version"),
    )
    Table(
        "feedback",
        metadata,
        Column("seq", _SEQ, primary_key=True, autoincrement=True),
        Column("recommendation_id", String(64), nullable=False),
        Column("user_id", _ID, nullable=True),
        Column("item_id", _ID, nullable=False),
        Column("kind", String(16), nullable=False),
        Column("ts", Float, nullable=False),
        Index("ux_feedback_key", "recommendation_id", "item_id", "kind", unique=True),
        Index("ix_feedback_user", "user_id"),
    )
