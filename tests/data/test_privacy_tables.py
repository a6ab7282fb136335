"""Every table is classified: it holds shopper ids in a `user_id` column (so deletion and the
access export reach it), or it is listed here as holding none. A new table fails this test
until its author decides which (docs/privacy.md)."""

from __future__ import annotations

from cartwise.data import tables as t

#: Tables that hold no shopper id, and why.
NO_SHOPPER_DATA = {
    "items": "the catalog",
    "event_kinds": "the kinds the shop declared",
    "text_vectors": "vectors of item text",
    "deletion_receipts": "a keyed hash of the id, never the id (kept after the deletion)",
    "privacy_state": "how ids are stored; the store's receipt key",
    "experiments": "A/B test definitions (shoppers are assigned by hashing, never stored)",
}


def test_every_table_is_classified() -> None:
    unclassified = [
        table.name
        for table in t.metadata.sorted_tables
        if "user_id" not in table.c and table is not t.users and table.name not in NO_SHOPPER_DATA
    ]
    assert unclassified == [], (
        "name the column holding shopper ids `user_id`, or add the table to NO_SHOPPER_DATA"
    )


def test_classified_tables_exist_and_hold_no_user_column() -> None:
    for name in NO_SHOPPER_DATA:
        assert name in t.metadata.tables
        assert not any("user" in c.name for c in t.metadata.tables[name].columns), name


def test_ids_are_wide_enough_for_pseudonyms() -> None:
    """A pseudonym is 64 hex digits; every shopper id column takes it."""
    for table in t.metadata.sorted_tables:
        col = table.c.get("user_id", t.users.c.id if table is t.users else None)
        if col is not None:
            assert getattr(col.type, "length", 0) >= 64, table.name
