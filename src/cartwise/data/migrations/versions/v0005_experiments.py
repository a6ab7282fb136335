"""A/B tests: the ``experiments`` table, the variant on every served answer, feedback values.

- ``experiments``: definitions created with ``cartwise experiments create`` or
  ``POST /experiments``.
- ``served.experiment_id`` / ``served.variant`` (null for answers outside experiments, as every
  answer before this version was) and ``ix_served_experiment``.
- ``feedback.value``: a purchase's revenue (null: the item's price counts).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Add the experiments table and the new nullable columns (existing rows keep nulls)."""
    op.create_table(
        "experiments",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("salt", sa.String(64), nullable=False),
        sa.Column("variants", sa.JSON, nullable=False),
        sa.Column("scenarios", sa.JSON, nullable=True),
        sa.Column("planned_impressions", sa.Integer, nullable=False),
        sa.Column("alpha", sa.Float, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("stopped_at", sa.Float, nullable=True),
    )
    with op.batch_alter_table("served") as batch:
        batch.add_column(sa.Column("experiment_id", sa.String(64), nullable=True))
        batch.add_column(sa.Column("variant", sa.String(64), nullable=True))
    op.create_index("ix_served_experiment", "served", ["experiment_id"])
    with op.batch_alter_table("feedback") as batch:
        batch.add_column(sa.Column("value", sa.Float, nullable=True))


def downgrade() -> None:
    """Drop the new columns and the experiments table (experiments and variants are lost)."""
    with op.batch_alter_table("feedback") as batch:
        batch.drop_column("value")
    op.drop_index("ix_served_experiment", table_name="served")
    with op.batch_alter_table("served") as batch:
        batch.drop_column("variant")
        batch.drop_column("experiment_id")
    op.drop_table("experiments")
