"""Pieces the scenarios share: the history limit, model-known history events, item checks."""

from __future__ import annotations

from collections.abc import Sequence

from cartwise.data.catalog import fetch_items
from cartwise.data.history import Touched, recent_items
from cartwise.data.schema import Item
from cartwise.data.store import Store
from cartwise.errors import NotFoundError
from cartwise.ranking.reasons import Touch
from cartwise.serving.active import ModelView
from cartwise.serving.context import Context

#: Most recent positive events read per request: the history the models see.
HISTORY_LIMIT = 200


def touches_of(view: ModelView, events: Sequence[Touched]) -> list[Touch]:
    """The (item_id, kind, time) events the model knows, as evidence with their titles."""
    titles = view.catalog.fields["title"]
    out = []
    for item_id, kind, when in events:
        idx = view.index(item_id)
        if idx is None:
            continue
        row = int(view.rows[idx])
        out.append(Touch(idx, kind, (titles[row] if row >= 0 else "") or item_id, when))
    return out


def history(ctx: Context, view: ModelView, user_id: str) -> list[Touched]:
    """The shopper's latest events of the kinds the view's model reads, oldest first."""
    return recent_items(ctx.store, user_id, HISTORY_LIMIT, kinds=view.read_kinds(ctx.store))


def require_items(store: Store, ids: Sequence[str]) -> dict[str, Item]:
    """Fresh rows of `ids`; NotFoundError naming up to five ids the catalog lacks."""
    fresh = fetch_items(store, ids)
    missing = [i for i in dict.fromkeys(ids) if i not in fresh]
    if missing:
        shown = ", ".join(f"'{m}'" for m in missing[:5])
        raise NotFoundError(f"unknown item {shown}; add it with PUT /items first")
    return fresh
