"""Search: a free-text query over the catalog, blended with the shopper's taste; items made for
the product the query refers to ("a case for my new phone") first."""

from __future__ import annotations

import numpy as np

from cartwise.data.history import DEFAULT_KINDS, Touched, recent_items
from cartwise.data.schema import EventKind
from cartwise.errors import InputError
from cartwise.ranking.explain import Evidence, text_match_evidence
from cartwise.ranking.filters import Filters, catalog_mask, check_category
from cartwise.ranking.pipeline import Pick, pick
from cartwise.ranking.results import Recommendation, Served
from cartwise.search import SearchWeights, TextMatcher, owned_item, parse_query, rank, tokens
from cartwise.search.personal import Ranking
from cartwise.serving.active import ModelView
from cartwise.serving.context import Context
from cartwise.serving.scenarios.common import HISTORY_LIMIT, touches_of
from cartwise.serving.scenarios.explain import with_explanations


def search(
    ctx: Context,
    query: str,
    k: int = 10,
    *,
    user_id: str | None = None,
    personalization: float = 0.3,
    filters: Filters | None = None,
    explain: bool = False,
) -> Served:
    """Catalog items matching `query` under the constraints it states ("under $50"),
    blended with the shopper's model scores if known; items made for the item the query
    refers to ("a case for my new phone") come first (see :func:`cartwise.search.rank`).
    With `explain`, each item carries its evidence (the text match, the owned item it fits)
    and a sentence phrased from it."""
    if not tokens(query):
        raise InputError(f"query '{query}' has no words to search for", field="query")
    filters = filters or Filters()
    view = ctx.view_or_none() if user_id else None
    catalog = view.catalog if view is not None else ctx.snapshot()
    check_category(catalog, filters)
    matcher = ctx.matchers.get(catalog)
    parsed = parse_query(query, catalog)
    history = _history(ctx, view, user_id) if user_id else []
    personal = _personal_scores(ctx, view, history) if personalization > 0 else None
    compatible = ctx.compatible.get(catalog) if history else {}
    pairs = [(item, kind) for item, kind, _ in history]
    owned = owned_item(parsed, pairs, catalog, compatible) if history else None
    ranking = rank(
        parsed,
        matcher,
        catalog,
        allowed=catalog_mask(catalog, filters),
        personal=personal,
        owned=owned,
        compatible=compatible if owned else None,
        weights=SearchWeights(personal=personalization),
        blender=ctx.blender,
    )
    picks = pick(ctx.rows.fetch, ranking.scores, lambda rows: [catalog.ids[r] for r in rows], k,
                 filters)  # fmt: skip
    owned_title = catalog.fields["title"][catalog.position[owned]] if owned else ""
    found = [_found(p, matcher, parsed.text, ranking, owned_title, personal) for p in picks]
    version = view.version if personal is not None and view else None
    if not found:
        return Served(version, [], _nothing_matches(query, ranking, filters))
    served = Served(version, [r for r, _ in found])
    if not explain:
        return served
    evidence = [
        [text_match_evidence(match, r.details["relevance"], query), *fits]
        for r, (match, fits) in found
    ]
    keys = [("search", query, user_id, r.item.id) for r in served.items]
    return with_explanations(ctx, served, keys, evidence, user_id)


def _nothing_matches(query: str, ranking: Ranking, filters: Filters) -> str:
    """Why a search found nothing: no item's text is related to the words, or the filters
    left out every item that is."""
    if not (ranking.relevance > 0).any():
        return f"nothing in the catalog matches '{query}'; try other words"
    return f"no item matching '{query}' passes the filters; loosen them to see matches"


def _history(ctx: Context, view: ModelView | None, user_id: str) -> list[Touched]:
    """The shopper's latest events: the kinds the model reads, and purchases (what the shopper
    owns is read from them)."""
    kinds = set(view.read_kinds(ctx.store)) if view is not None else set(DEFAULT_KINDS)
    kinds.add(EventKind.PURCHASE.value)
    return recent_items(ctx.store, user_id, HISTORY_LIMIT, kinds=sorted(kinds))


def _personal_scores(
    ctx: Context, view: ModelView | None, history: list[Touched]
) -> np.ndarray | None:
    """The shopper's model scores per catalog row (-inf: unknown to the model), or None."""
    if view is None:
        return None
    touches = touches_of(view, history)
    if not touches:
        return None
    scores = ctx.scorer.score(view.model, view.query(touches))
    personal = np.full(view.catalog.size, -np.inf)
    known = view.rows >= 0
    personal[view.rows[known]] = scores[known]
    return personal


def _found(
    p: Pick,
    matcher: TextMatcher,
    text: str,
    ranking: Ranking,
    owned_title: str,
    personal: np.ndarray | None,
) -> tuple[Recommendation, tuple[str, list[Evidence]]]:
    """One search result with its template reason, and what an explanation needs: the
    matcher's words for the match and the fact that it fits the owned item."""
    match = matcher.explain(text, p.index)
    fits = bool(ranking.fits[p.index]) and ranking.owned is not None
    suffix = "; ranked for you from your history" if personal is not None else ""
    reason = match + (f"; made for your '{owned_title}'" if fits else "") + suffix
    made = (
        [Evidence("history", f"it is made for your '{owned_title}'", owned_title)] if fits else []
    )
    relevance = {"relevance": float(ranking.relevance[p.index])}
    return Recommendation(p.item, p.score, reason, relevance), (match, made)
