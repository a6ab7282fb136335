"""Ids in byte order on PostgreSQL: the id columns get the "C" collation.

SQLite compares text by its bytes; a PostgreSQL database usually sorts by its language's rules,
so the same store listed its items in another order there. Nothing changes on SQLite. On
PostgreSQL each table is altered in one statement, so its indexes are rebuilt once.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

ID_COLUMNS = {
    "items": ["id"],
    "users": ["id"],
    "events": ["event_id", "user_id", "session_id", "item_id"],
    "served": ["user_id"],
    "feedback": ["user_id", "item_id"],
}


def _collate(collation: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, columns in ID_COLUMNS.items():
        changes = ", ".join(
            f'ALTER COLUMN {c} TYPE VARCHAR(256) COLLATE "{collation}"' for c in columns
        )
        op.execute(f"ALTER TABLE {table} {changes}")


def upgrade() -> None:
    """PostgreSQL: id columns compared and ordered by bytes."""
    _collate("C")


def downgrade() -> None:
    """PostgreSQL: id columns back to the database's default collation."""
    _collate("default")
