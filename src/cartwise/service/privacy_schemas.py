"""Bodies of the privacy routes: deletion (with its receipt), receipts, access requests."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReceiptOut(_Body):
    """What a deletion left behind: a keyed hash of the id, counts and time; no personal data."""

    receipt_id: str
    id_hash: str = Field(description="HMAC-SHA256 of the stored id under the receipt key")
    key_id: str = Field(description="fingerprint of the receipt key")
    deleted_at: datetime
    removed: dict[str, int] = Field(description="rows removed per table")


class DeletedOut(_Body):
    """Rows removed per table, the receipt kept, and the model versions marked as containing
    a deleted shopper (retrain to leave them out)."""

    user_id: str
    removed: dict[str, int]
    receipt: ReceiptOut
    marked_versions: list[str]


class ReceiptsOut(_Body):
    """Deletion receipts, newest first."""

    receipts: list[ReceiptOut]


class ExportOut(_Body):
    """Everything stored about a shopper: the users row and the rows of every table with a
    ``user_id`` column, all columns, times in ISO 8601 (UTC)."""

    user_id: str = Field(description="the id asked for")
    stored_id: str = Field(description="the id as stored (a pseudonym when pseudonymised)")
    pseudonymised: bool
    exported_at: datetime
    tables: dict[str, list[dict[str, Any]]]
    deletions: list[ReceiptOut] = Field(description="receipts of earlier deletions of this id")
