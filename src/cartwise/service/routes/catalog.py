"""Catalog and shoppers: batch upserts, reads, deletes."""

from __future__ import annotations

from typing import Annotated

import numpy as np
from fastapi import Query

from cartwise.data.catalog import fetch_items
from cartwise.data.schema import Item, User
from cartwise.service.privacy_schemas import DeletedOut, ReceiptOut
from cartwise.service.routes.common import EngineDep, ItemId, UserId, router
from cartwise.service.schemas import (
    DeletedItemOut,
    EventList,
    ItemsIn,
    ItemsOut,
    UpsertOut,
    UsersIn,
    UsersOut,
)

reader = router("read", "catalog")
writer = router("write", "catalog")
admin = router("admin", "catalog")

Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0, le=10_000_000)]


@writer.put("/items", response_model=UpsertOut, response_model_exclude_defaults=True)
def put_items(body: ItemsIn, engine: EngineDep) -> UpsertOut:
    """Insert or replace items (by id), all in one transaction."""
    n = engine.store.upsert_items(body.items)
    engine.catalog_changed()
    return UpsertOut(upserted=n)


@reader.get("/items", response_model=ItemsOut)
def list_items(
    engine: EngineDep,
    category: Annotated[str | None, Query(max_length=256, description="any level")] = None,
    type: Annotated[str | None, Query(max_length=64, description="attributes.type")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> ItemsOut:
    """A page of the catalog ordered by id (unavailable items included)."""
    catalog = engine.catalog()
    rows = np.arange(catalog.size)
    if category is not None:
        rows = catalog.categories.get(category.strip().lower(), np.zeros(0, dtype=np.int64))
    if type is not None:
        rows = rows[catalog.types[rows] == type.strip().lower()]
    ids = [catalog.ids[r] for r in rows[offset : offset + limit]]
    fresh = fetch_items(engine.store, ids)
    return ItemsOut(items=[fresh[i] for i in ids if i in fresh], total=len(rows))


@reader.get("/items/{item_id}", response_model=Item)
def get_item(item_id: ItemId, engine: EngineDep) -> Item:
    """One item (404 when it is not in the catalog)."""
    return engine.store.get_item(item_id)


@writer.delete("/items/{item_id}", response_model=DeletedItemOut)
def delete_item(item_id: ItemId, engine: EngineDep) -> DeletedItemOut:
    """Remove an item from the catalog; its events stay as history."""
    engine.store.delete_item(item_id)
    engine.catalog_changed()
    return DeletedItemOut(item_id=item_id)


@writer.put("/users", response_model=UpsertOut, response_model_exclude_defaults=True)
def put_users(body: UsersIn, engine: EngineDep) -> UpsertOut:
    """Insert or replace shoppers (by id), all in one transaction. A deleted shopper is not
    re-created this way (``skipped_deleted``): new events bring them back."""
    written = engine.store.upsert_users(body.users)
    return UpsertOut(upserted=written, skipped_deleted=len(body.users) - written)


@reader.get("/users", response_model=UsersOut)
def list_users(engine: EngineDep, limit: Limit = 50, offset: Offset = 0) -> UsersOut:
    """A page of shoppers ordered by id."""
    users, total = engine.store.users(limit=limit, offset=offset)
    return UsersOut(users=users, total=total)


@reader.get("/users/{user_id}", response_model=User)
def get_user(user_id: UserId, engine: EngineDep) -> User:
    """One shopper (404 when unknown)."""
    return engine.store.get_user(user_id)


@reader.get("/users/{user_id}/events", response_model=EventList)
def user_events(
    user_id: UserId, engine: EngineDep, limit: Annotated[int, Query(ge=1, le=1000)] = 20
) -> EventList:
    """The shopper's most recent events, oldest first (empty for an unknown shopper)."""
    return EventList(events=engine.store.user_events(user_id, limit=limit))


@admin.delete("/users/{user_id}", response_model=DeletedOut)
def delete_user(user_id: UserId, engine: EngineDep) -> DeletedOut:
    """Forget a shopper: their record, events, served recommendations, feedback and every other
    row keyed by their id, in one transaction. A receipt is kept (keyed hash of the id, counts,
    time); the saved model versions are marked as containing a deleted shopper. Later events
    dated before the deletion are left out; answers for the id are logged without it."""
    done = engine.delete_user(user_id)
    return DeletedOut(
        user_id=user_id,
        removed=done.receipt.removed,
        receipt=ReceiptOut.model_validate(done.receipt.as_dict()),
        marked_versions=done.marked_versions,
    )
