"""Privacy: deletion receipts, the store's privacy state, and served answers by time.

- ``deletion_receipts``: one row per deleted shopper (keyed hash of the id, counts, time).
- ``privacy_state``: how shopper ids are stored (raw or pseudonymised, and under which key's
  fingerprint) and the store's own receipt key when none is configured.
- ``ix_served_ts``: ``cartwise purge`` deletes the oldest served answers first.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Add the two privacy tables (empty) and the served-time index."""
    op.create_table(
        "deletion_receipts",
        sa.Column("receipt_id", sa.String(32), primary_key=True),
        sa.Column("id_hash", sa.String(64), nullable=False),
        sa.Column("key_id", sa.String(16), nullable=False),
        sa.Column("deleted_at", sa.Float, nullable=False),
        sa.Column("removed", sa.JSON, nullable=False),
    )
    op.create_index("ix_deletion_receipts_hash", "deletion_receipts", ["id_hash"])
    op.create_table(
        "privacy_state",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("value", sa.String(256), nullable=False),
    )
    op.create_index("ix_served_ts", "served", ["ts"])


def downgrade() -> None:
    """Drop the served-time index and the privacy tables (receipts are lost)."""
    op.drop_index("ix_served_ts", table_name="served")
    op.drop_table("privacy_state")
    op.drop_index("ix_deletion_receipts_hash", table_name="deletion_receipts")
    op.drop_table("deletion_receipts")
