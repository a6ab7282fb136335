"""SQL tables behind the Store (SQLAlchemy Core, portable between SQLite and PostgreSQL).

Times are stored as float seconds since the Unix epoch (UTC): compact, indexable, and ordering
is exact. `events.seq` is the insertion order, used to keep ties in input order.

Any table with a `user_id` column holds data about a shopper; `Store.delete_user` clears the
shopper from every such table and `cartwise export-user` reads them all, so tables added later
(feedback, experiment assignments, caches) are covered too: a table that holds shopper ids must
name that column `user_id` (``tests/data/test_privacy_tables.py`` fails on a table that is
neither so named nor listed as holding no shopper data). Such tables are defined here, on the
one `metadata`, so that every process that opens a Store (the CLI's `delete-user` included)
creates and clears them, whether or not it imports the service.
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

metadata = MetaData()

#: External ids (items, users, sessions, events): opaque strings, compared and ordered by their
#: bytes on every backend, as SQLite does; PostgreSQL would otherwise order them by the
#: database's language ("a" < "B" in en-US) and an index on them would cost locale comparisons.
ID = String(256).with_variant(String(256, collation="C"), "postgresql")

items = Table(
    "items",
    metadata,
    Column("id", ID, primary_key=True),
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

users = Table(
    "users",
    metadata,
    Column("id", ID, primary_key=True),
    Column("attributes", JSON, nullable=False),
    Column("created_at", Float, nullable=False),
)

events = Table(
    "events",
    metadata,
    Column(
        "seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("event_id", ID, nullable=False, unique=True),
    Column("user_id", ID, nullable=False),
    Column("session_id", ID, nullable=True),
    Column("item_id", ID, nullable=True),
    Column("kind", String(32), nullable=False),
    Column("value", Float, nullable=True),
    Column("query", Text, nullable=True),
    Column("ts", Float, nullable=False),
    Column("context", JSON, nullable=True),
    Index("ix_events_user_ts", "user_id", "ts", "seq"),
    Index("ix_events_item", "item_id"),
    Index("ix_events_ts", "ts"),
)

#: Event kinds the shop declared beside the built-in ones (`cartwise kinds add`): the name
#: written in files and over HTTP, and whether it expresses interest in the item.
event_kinds = Table(
    "event_kinds",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("positive", Boolean, nullable=False, default=True),
    Column("created_at", Float, nullable=False),
)

#: Vectors computed from item text, keyed by (model, sha256 of the text): re-encoding is skipped
#: for unchanged text. Holds no user data.
text_vectors = Table(
    "text_vectors",
    metadata,
    Column("model", String(200), primary_key=True),
    Column("text_sha256", String(64), primary_key=True),
    Column("dim", Integer, nullable=False),
    Column("vector", LargeBinary, nullable=False),
)

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
    # the experiment and variant that answered (both null outside experiments)
    Column("experiment_id", String(64), nullable=True),
    Column("variant", String(64), nullable=True),
    Index("ix_served_user", "user_id"),
    Index("ix_served_experiment", "experiment_id"),
    Index("ix_served_version", "model_version"),
    Index("ix_served_ts", "ts"),  # retention (cartwise purge) deletes the oldest first
)

#: Impressions, clicks and purchases on served items, joined to `served` by recommendation_id.
#: (recommendation_id, item_id, kind) is the natural key: a retried post stores nothing new.
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
    Column("value", Float, nullable=True),  # a purchase's revenue (null: the item's price)
    Index("ux_feedback_key", "recommendation_id", "item_id", "kind", unique=True),
    Index("ix_feedback_user", "user_id"),
)

#: A/B tests (:mod:`cartwise.data.experiments`): variants (name, model version, settings,
#: traffic weight) as JSON, the salt shoppers are hashed with, and the planned end in
#: impressions per variant (reading before it uses sequential tests). Holds no shopper data.
experiments = Table(
    "experiments",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("description", Text, nullable=False, default=""),
    Column("salt", String(64), nullable=False),
    Column("variants", JSON, nullable=False),
    Column("scenarios", JSON, nullable=True),
    Column("planned_impressions", Integer, nullable=False),
    Column("alpha", Float, nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("stopped_at", Float, nullable=True),
)

#: One row per shopper deletion: when, what was removed (rows per table) and a keyed hash of
#: the shopper's stored id (``key_id`` names the key), never the id itself. The hash lets a
#: deletion be looked up by id and a later request for the same id be recognised
#: (:mod:`cartwise.data.deletion`). No `user_id` column: a deletion keeps the receipt.
deletion_receipts = Table(
    "deletion_receipts",
    metadata,
    Column("receipt_id", String(32), primary_key=True),
    Column("id_hash", String(64), nullable=False),
    Column("key_id", String(16), nullable=False),
    Column("deleted_at", Float, nullable=False),
    Column("removed", JSON, nullable=False),
    Index("ix_deletion_receipts_hash", "id_hash"),
)

#: What the store must remember about its privacy settings (:mod:`cartwise.data.privacy`): how
#: shopper ids are stored ("user_ids": "raw" or the fingerprint of the pseudonymisation key)
#: and, when no receipt key is configured, the random key the receipts' hashes use.
privacy_state = Table(
    "privacy_state",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("value", String(256), nullable=False),
)

EVENT_COLUMNS: tuple[str, ...] = (
    "event_id",
    "user_id",
    "session_id",
    "item_id",
    "kind",
    "value",
    "query",
    "ts",
    "context",
)
