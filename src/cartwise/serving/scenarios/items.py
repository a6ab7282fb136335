"""Item pages: similar items (the model's notion of likeness) and bought together (co-purchases,
completed from declared compatibility and text similarity when they are too few)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from cartwise.data.copurchase import co_purchase_counts
from cartwise.data.schema import Item
from cartwise.errors import ModelError
from cartwise.models.base import Query
from cartwise.ranking.complements import (
    CoPurchase,
    accessory_rows,
    lifts,
    made_for,
    made_for_others,
)
from cartwise.ranking.explain import Evidence
from cartwise.ranking.filters import Filters, catalog_mask, check_category, rejection
from cartwise.ranking.pipeline import pick
from cartwise.ranking.reasons import POPULAR, Touch, evidence_queries, reasons_from_scores
from cartwise.ranking.results import Recommendation, Served
from cartwise.serving.active import ModelView
from cartwise.serving.cache import Seen
from cartwise.serving.context import Context
from cartwise.serving.scenarios.explain import with_explanations

_SIMILAR_POOL = 500


def similar(
    ctx: Context, item_id: str, k: int = 10, *, filters: Filters | None = None,
    explain: bool = False,
) -> Served:  # fmt: skip
    """Items like `item_id` (NotFoundError when it is not in the catalog); with `explain`,
    each item's evidence (the item the page shows) and a sentence phrased from it."""
    anchor = ctx.store.get_item(item_id)
    view = ctx.view()
    filters = filters or Filters()
    check_category(view.catalog, filters)
    # what the answer reads of the anchor's row is part of the key
    key = ("similar", item_id, anchor.title, tuple(anchor.category), k, filters)
    served = ctx.answers.answer(
        view, key, ctx.rows, lambda seen: _similar(ctx, view, anchor, k, filters, seen)
    )
    if not explain or not served.items:
        return served
    title = anchor.title or anchor.id
    seen = Evidence("history", f"you are looking at '{title}'", title, anchor.brand or None, 1.0)
    evidence = [[seen, Evidence("popular", r.reason)] if r.reason else [seen] for r in served.items]
    keys = [("similar", view.version, item_id, r.item.id) for r in served.items]
    return with_explanations(ctx, served, keys, evidence, None)


def _similar(
    ctx: Context, view: ModelView, anchor: Item, k: int, filters: Filters, seen: Seen
) -> Served:
    idx = view.index(anchor.id)
    title = anchor.title or anchor.id
    if idx is None:  # new item: popular items of its own leaf category
        leaf = anchor.category[-1] if anchor.category else None
        filters = replace(filters, category=leaf)
        scores = ctx.scorer.score(view.model, Query.of([])).astype(np.float64)
        reason, by_history = (f"popular in {leaf}" if leaf else POPULAR), False
    else:
        scores, reason, by_history = _neighbours(ctx, view, idx, title)
    view.hide(scores, filters)
    picks = pick(ctx.rows.fetch, scores, view.decode, k, filters, seen=seen)
    reasons = [reason] * len(picks)
    if by_history and idx is not None:
        touch = [Touch(idx, "view", title)]
        rows = ctx.scorer.score_many(view.model, evidence_queries(touch, view.query))
        evidence = reasons_from_scores(rows, touch, [p.index for p in picks])
        liked = f"shoppers who liked '{title}' also liked this"
        reasons = [POPULAR if r == POPULAR else liked for r in evidence]
    out = [Recommendation(p.item, p.score, r) for p, r in zip(picks, reasons, strict=True)]
    return Served(view.version, out)


def _neighbours(
    ctx: Context, view: ModelView, idx: int, title: str
) -> tuple[np.ndarray, str, bool]:
    """Scores of the items like model index `idx`: the model's item-to-item similarity, or
    (models without one) its scores for a one-item history. Also the reason to show and
    whether reasons come from history evidence."""
    model = view.model
    scores = np.full(len(view.rows), -np.inf)
    try:
        pool = min(_SIMILAR_POOL, model.n_items)
        for s in ctx.scorer.call(lambda: model.similar_items(idx, k=pool)):
            scores[s.item] = s.score
        return scores, f"similar to '{title}'", False
    except ModelError:  # no item-to-item notion: score the item as a one-item history
        scores = ctx.scorer.score(model, view.query([Touch(idx, "view", "")])).astype(np.float64)
        scores[idx] = -np.inf
        return scores, "", True


def complements(
    ctx: Context,
    item_id: str,
    k: int = 10,
    *,
    window_days: float = 30.0,
    min_support: int = 2,
    filters: Filters | None = None,
) -> Served:
    """Items bought together with `item_id` (by co-purchase lift), completed with items
    declared to fit it, then with accessories whose text is closest to it (no model needed)."""
    anchor = ctx.store.get_item(item_id)
    filters = filters or Filters()
    counts = co_purchase_counts(
        ctx.store, item_id, window_days=window_days, min_support=min_support
    )
    catalog = ctx.snapshot()
    check_category(catalog, filters)
    compatible = ctx.compatible.get(catalog)
    others = made_for_others(compatible, item_id, catalog.size)
    ranked = lifts(counts, limit=max(200, 10 * k))
    found = [c for c in ranked if not _declared_elsewhere(catalog.position, others, c.item_id)]
    title = anchor.title or anchor.id
    out = _co_purchased(ctx, found, title, window_days, k, filters)
    if len(out) < k:
        taken = {r.item.id for r in out} | {item_id}
        out += _declared(ctx, anchor, compatible, others, taken, k - len(out), filters)
    return Served(ctx.active.version(), out)


def _co_purchased(
    ctx: Context, found: list[CoPurchase], title: str, window_days: float, k: int,
    filters: Filters,
) -> list[Recommendation]:  # fmt: skip
    fresh = ctx.rows.fetch([c.item_id for c in found])
    out: list[Recommendation] = []
    for c in found:
        item = fresh.get(c.item_id)
        if item is None or rejection(item, filters) is not None:
            continue
        reason = (
            f"{c.together} of {c.anchor_buyers} shoppers who bought '{title}' bought this "
            f"within {window_days:g} days (lift {c.lift:.1f})"
        )
        details = {"together": c.together, "lift": c.lift, "item_buyers": c.item_buyers}
        out.append(Recommendation(item, c.lift, reason, details))
        if len(out) == k:
            break
    return out


def _declared(
    ctx: Context,
    anchor: Item,
    compatible: dict[str, np.ndarray],
    others: np.ndarray,
    taken: set[str],
    k: int,
    filters: Filters,
) -> list[Recommendation]:
    """Up to `k` items declared to fit `anchor` (most popular first), then accessories by
    text similarity to it; never one declared for another product."""
    catalog = ctx.snapshot()
    allowed = catalog_mask(catalog, filters) & ~others
    for taken_id in taken:
        row = catalog.position.get(taken_id)
        if row is not None:
            allowed[row] = False
    title = anchor.title or anchor.id
    fits = made_for(compatible, anchor.id, catalog.size) & allowed
    scores = np.where(fits, 1.0 + _popularity(ctx, catalog.size), -np.inf)
    reasons = {True: f"made for '{title}'", False: f"an accessory like '{title}'"}
    if int(fits.sum()) < k:
        anchor_row = catalog.position.get(anchor.id)
        near = accessory_rows(compatible, catalog.leaf, anchor_row) & allowed & ~fits
        relevance = ctx.matchers.get(catalog).relevance(title)
        scores = np.where(near & (relevance > 0), relevance / (1.0 + relevance), scores)
    picks = pick(ctx.rows.fetch, scores, lambda rows: [catalog.ids[r] for r in rows], k, filters)
    return [Recommendation(p.item, p.score, reasons[bool(fits[p.index])]) for p in picks]


def _popularity(ctx: Context, size: int) -> np.ndarray:
    """Per catalog row, the active model's cold-start score squashed into [0, 1) (0 for every
    row when no model is trained): orders the declared items by how much shoppers like them."""
    view = ctx.view_or_none()
    out = np.zeros(size)
    if view is None:
        return out
    cold = ctx.scorer.score(view.model, Query.of([])).astype(np.float64)
    known = view.rows >= 0
    values = cold[known]
    finite = np.isfinite(values)
    if finite.any():
        ranks = np.argsort(np.argsort(np.where(finite, values, -np.inf)))
        out[view.rows[known]] = ranks / max(1, len(values))
    return out


def _declared_elsewhere(position: dict[str, int], others: np.ndarray, item_id: str) -> bool:
    row = position.get(item_id)
    return row is not None and bool(others[row])
