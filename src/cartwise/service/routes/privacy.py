"""Privacy: access requests (a shopper's data as JSON) and deletion receipts; admin keys only.

``DELETE /users/{id}`` is with the other shopper routes (:mod:`.catalog`).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from cartwise.data.access import export_user
from cartwise.service.privacy_schemas import ExportOut, ReceiptOut, ReceiptsOut
from cartwise.service.routes.common import EngineDep, UserId, router
from cartwise.service.schemas import MAX_ID

admin = router("admin", "privacy")


@admin.get("/users/{user_id}/export", response_model=ExportOut)
def export(user_id: UserId, engine: EngineDep) -> ExportOut:
    """Everything stored about a shopper (access request): their record, events, served
    answers, feedback and every other row keyed by their id, with receipts of earlier
    deletions of the id. 404 when nothing is stored about them."""
    return ExportOut.model_validate(export_user(engine.store, user_id))


@admin.get("/deletions", response_model=ReceiptsOut)
def deletions(
    engine: EngineDep,
    user_id: Annotated[
        str | None,
        Query(min_length=1, max_length=MAX_ID, description="only this shopper's receipts"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> ReceiptsOut:
    """Deletion receipts, newest first: keyed hash of the id, rows removed per table, time."""
    found = engine.store.deletion_receipts(user_id=user_id, limit=limit)
    return ReceiptsOut(receipts=[ReceiptOut.model_validate(r.as_dict()) for r in found])
