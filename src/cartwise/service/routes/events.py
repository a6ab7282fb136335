"""Events: idempotent batch appends, all or nothing."""

from __future__ import annotations

from cartwise.data.catalog import fetch_items
from cartwise.errors import BatchError
from cartwise.service.routes.common import EngineDep, router
from cartwise.service.schemas import EventsIn, EventsOut

writer = router("write", "events")


@writer.post("/events", response_model=EventsOut, response_model_exclude_defaults=True)
def post_events(body: EventsIn, engine: EngineDep) -> EventsOut:
    """Append events. A repeated ``event_id`` is skipped (safe retries); if any row is bad,
    nothing is stored and every bad row is listed with its index and field. Events of a deleted
    shopper dated at or before their deletion are left out (``deleted_history``)."""
    kinds = [k.name for k in engine.store.event_kinds()]
    problems = [
        (n, "kind", f"unknown event kind '{e.kind}'")
        for n, e in enumerate(body.events)
        if e.kind not in kinds
    ]
    if problems:
        fix = (
            f"allowed kinds: {', '.join(kinds)}; a shop's own kind is declared once with "
            "`cartwise kinds add NAME`"
        )
        raise BatchError("events", problems, fix)
    named = [e.item_id for e in body.events if e.item_id is not None]
    known = fetch_items(engine.store, named).keys()
    problems = [
        (n, "item_id", f"unknown item '{e.item_id}'")
        for n, e in enumerate(body.events)
        if e.item_id is not None and e.item_id not in known
    ]
    if problems:
        raise BatchError("events", problems, "add the items with PUT /items first")
    result = engine.store.append_events(body.events)
    return EventsOut(
        inserted=result.inserted,
        duplicates=result.duplicates,
        deleted_history=result.deleted_history,
    )
