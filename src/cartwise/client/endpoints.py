"""Every endpoint of the service as a function that builds its :class:`~.call.Call`.

The clients (:class:`cartwise.client.Client`, :class:`cartwise.client.AsyncClient`) expose each
of these as a method of the same name and signature that sends the call and returns the
answer's model. Request bodies are sent as given (records may be pydantic models or mappings):
the service validates them, so a bad request fails the same way whichever client sends it.
Recommendation endpoints are in :mod:`.endpoints_lists`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cartwise.client.call import Call, Route, drop_none, model, record, text
from cartwise.data.schema import Event, Item, User
from cartwise.service.privacy_schemas import DeletedOut, ExportOut, ReceiptsOut
from cartwise.service.schemas import (
    ActivatedOut,
    DeletedItemOut,
    EventList,
    EventsOut,
    HealthOut,
    ItemsOut,
    ModelsOut,
    ReadyOut,
    StatsOut,
    UpsertOut,
    UsersOut,
)

HEALTH = Route("GET", "/health")
READY = Route("GET", "/ready")
METRICS = Route("GET", "/metrics")
STATS = Route("GET", "/stats")
MODELS = Route("GET", "/models")
ACTIVATE = Route("POST", "/models/{version}/activate")
PUT_ITEMS = Route("PUT", "/items")
LIST_ITEMS = Route("GET", "/items")
GET_ITEM = Route("GET", "/items/{item_id}")
DELETE_ITEM = Route("DELETE", "/items/{item_id}", idempotent=False)
PUT_USERS = Route("PUT", "/users")
LIST_USERS = Route("GET", "/users")
GET_USER = Route("GET", "/users/{user_id}")
USER_EVENTS = Route("GET", "/users/{user_id}/events")
DELETE_USER = Route("DELETE", "/users/{user_id}", idempotent=False)
POST_EVENTS = Route("POST", "/events")
EXPORT_USER = Route("GET", "/users/{user_id}/export")
DELETIONS = Route("GET", "/deletions")

ItemRecord = Item | Mapping[str, Any]
UserRecord = User | Mapping[str, Any]
EventRecord = Event | Mapping[str, Any]


# -- status ---------------------------------------------------------------------------------------
def health() -> Call[HealthOut]:
    """Liveness: the process answers (``GET /health``, no key needed)."""
    return HEALTH.call(model(HealthOut))


def ready() -> Call[ReadyOut]:
    """Readiness (``GET /ready``, no key needed): ``ready`` is false while no model is loaded
    (``model_loaded``) or the store does not answer (``store``); the service answers 503 then,
    with this same body, so this call does not raise."""
    return READY.call(model(ReadyOut), ok=frozenset({200, 503}))


def metrics() -> Call[str]:
    """Request counts and latencies per route, in Prometheus' text format (``GET /metrics``)."""
    return METRICS.call(text)


def stats() -> Call[StatsOut]:
    """Store counts, the active model version and its offline metrics (``GET /stats``)."""
    return STATS.call(model(StatsOut))


def models() -> Call[ModelsOut]:
    """Saved model versions, oldest first, and the active one (``GET /models``)."""
    return MODELS.call(model(ModelsOut))


def activate(version: str) -> Call[ActivatedOut]:
    """Serve another saved version (``POST /models/{version}/activate``, admin key)."""
    return ACTIVATE.call(model(ActivatedOut), ids={"version": version})


# -- catalog and shoppers -------------------------------------------------------------------------
def put_items(items: Sequence[ItemRecord]) -> Call[UpsertOut]:
    """Insert or replace items by id, all in one transaction (``PUT /items``, write key)."""
    return PUT_ITEMS.call(model(UpsertOut), body={"items": [record(i) for i in items]})


def list_items(
    *, category: str | None = None, type: str | None = None, limit: int = 50, offset: int = 0
) -> Call[ItemsOut]:
    """A page of the catalog ordered by id, unavailable items included (``GET /items``)."""
    params = drop_none(category=category, type=type, limit=limit, offset=offset)
    return LIST_ITEMS.call(model(ItemsOut), params=params)


def get_item(item_id: str) -> Call[Item]:
    """One item (``GET /items/{item_id}``; :class:`~.errors.ApiNotFoundError` when unknown)."""
    return GET_ITEM.call(model(Item), ids={"item_id": item_id})


def delete_item(item_id: str) -> Call[DeletedItemOut]:
    """Remove an item from the catalog; its events stay (``DELETE /items/{item_id}``). Not
    retried after a lost answer: the repeat would be a 404 for the item just deleted."""
    return DELETE_ITEM.call(model(DeletedItemOut), ids={"item_id": item_id})


def put_users(users: Sequence[UserRecord]) -> Call[UpsertOut]:
    """Insert or replace shoppers by id, all in one transaction (``PUT /users``, write key)."""
    return PUT_USERS.call(model(UpsertOut), body={"users": [record(u) for u in users]})


def list_users(*, limit: int = 50, offset: int = 0) -> Call[UsersOut]:
    """A page of shoppers ordered by id (``GET /users``)."""
    return LIST_USERS.call(model(UsersOut), params=drop_none(limit=limit, offset=offset))


def get_user(user_id: str) -> Call[User]:
    """One shopper (``GET /users/{user_id}``; :class:`~.errors.ApiNotFoundError` when unknown)."""
    return GET_USER.call(model(User), ids={"user_id": user_id})


def user_events(user_id: str, *, limit: int = 20) -> Call[EventList]:
    """The shopper's latest events, oldest first (``GET /users/{user_id}/events``)."""
    return USER_EVENTS.call(
        model(EventList), ids={"user_id": user_id}, params=drop_none(limit=limit)
    )


def delete_user(user_id: str) -> Call[DeletedOut]:
    """Forget a shopper: every row keyed by their id; returns the rows removed per table, the
    receipt kept and the model versions marked (``DELETE /users/{user_id}``, admin key). Not
    retried after a lost answer."""
    return DELETE_USER.call(model(DeletedOut), ids={"user_id": user_id})


def export_user(user_id: str) -> Call[ExportOut]:
    """Everything stored about a shopper, an access request (``GET /users/{user_id}/export``,
    admin key; :class:`~.errors.ApiNotFoundError` when nothing is stored)."""
    return EXPORT_USER.call(model(ExportOut), ids={"user_id": user_id})


def deletions(*, user_id: str | None = None, limit: int = 100) -> Call[ReceiptsOut]:
    """Deletion receipts, newest first; with `user_id`, that shopper's (``GET /deletions``,
    admin key)."""
    return DELETIONS.call(model(ReceiptsOut), params=drop_none(user_id=user_id, limit=limit))


def post_events(events: Sequence[EventRecord]) -> Call[EventsOut]:
    """Append events, all or nothing (``POST /events``, write key). Every event has an
    ``event_id`` and a repeated id is skipped, so a retry after a lost answer stores nothing
    twice (the second answer counts them as ``duplicates``)."""
    return POST_EVENTS.call(model(EventsOut), body={"events": [record(e) for e in events]})
