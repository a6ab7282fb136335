"""Shop-declared event kinds: the ``event_kinds`` table (``cartwise kinds add``).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Add the table of declared kinds (empty: the built-in kinds need no row)."""
    op.create_table(
        "event_kinds",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("positive", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    """Drop the declared kinds."""
    op.drop_table("event_kinds")
