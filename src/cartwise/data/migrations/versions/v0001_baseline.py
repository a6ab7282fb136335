"""The first versioned schema: items, users, events, text_vectors, served, feedback.

Every table of :mod:`cartwise.data.migrations.baseline` is created unless it exists, so a store
made before schema versions is brought to this version without touching its rows, and a new
store gets them all. A feedback table from before feedback was idempotent (indexed by
``ix_feedback_rec``, possibly holding repeated (recommendation, item, kind) rows from retried
posts) keeps the first of each repeated row and gets the unique ``ux_feedback_key`` instead.

Revision ID: 0001
Revises:
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from cartwise.data.migrations.baseline import OLD_FEEDBACK_INDEX, baseline_metadata

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Create the missing tables (with their indexes); make old feedback idempotent."""
    bind = op.get_bind()
    had_feedback = sa.inspect(bind).has_table("feedback")
    metadata = baseline_metadata()
    metadata.create_all(bind, checkfirst=True)
    if had_feedback:
        _unique_feedback(bind, metadata.tables["feedback"])


def _unique_feedback(bind: sa.Connection, table: sa.Table) -> None:
    names = {i["name"] for i in sa.inspect(bind).get_indexes("feedback")}
    if "ux_feedback_key" in names:
        return
    key = [table.c.recommendation_id, table.c.item_id, table.c.kind]
    first = sa.select(sa.func.min(table.c.seq)).group_by(*key)
    op.execute(table.delete().where(table.c.seq.not_in(first)))
    if OLD_FEEDBACK_INDEX in names:
        op.drop_index(OLD_FEEDBACK_INDEX, "feedback")
    op.create_index(
        "ux_feedback_key", "feedback", ["recommendation_id", "item_id", "kind"], unique=True
    )


def downgrade() -> None:
    """Drop every table of revision 0001 (all data in them is lost)."""
    baseline_metadata().drop_all(op.get_bind(), checkfirst=True)
