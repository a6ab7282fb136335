"""The first versioned schema: items, users, events, text_vectors, served, feedback.

Every table of :mod:`cartwise.data.migrations.baseline` is created unless it exists: a store made
before schema versions (which has these tables, or some of them when very old) is brought to
this version without touching its rows, and a new store gets them all.

Revision ID: 0001
Revises:
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

from cartwise.data.migrations.baseline import baseline_metadata

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Create the tables of revision 0001 that are missing (with their indexes)."""
    baseline_metadata().create_all(op.get_bind(), checkfirst=True)


def downgrade() -> None:
    """Drop every table of revision 0001 (all data in them is lost)."""
    baseline_metadata().drop_all(op.get_bind(), checkfirst=True)
