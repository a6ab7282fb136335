"""Search: a free-text query over the catalog, blended with the shopper's taste; items made for
the product the query refers to ("a case for my new phone") first."""

from __future__ import annotations

import numpy as np

from cartwise.data.history import recent_items
from cartwise.errors import InputError
from cartwise.models.base import Query
from cartwise.ranking.explain import Evidence, text_match_evidence
from cartwise.ranking.filters import Filters, catalog_mask, check_category
from cartwise.ranking.pipeline import Pick, pick
from cartwise.ranking.results import Recommendation, Served
from cartwise.search import SearchWeights, TextMatcher, owned_item, parse_query, rank, tokens
from cartwise.search.personal import Ranking
from cartwise.serving.active import ModelView
from cartwise.serving.context import Context
from cartwise.serving.scenarios.common import HISTORY_LIMIT, touches_of


def search(
    ctx: Context,
    query: str,
    k: int = 10,
    *,
    user_id: str | None = None,
    personalization: float = 0.3,
    filters: Filters | None = None,
) -> Served:
    """Catalog items matching `query` under the constraints it states ("under $50"),
    blended with the shopper's model scores if known; items made for the item the query
    refers to ("a case for my new phone") come first (see :func:`cartwise.search.rank`)."""
    if not tokens(query):
        raise InputError(f"query '{query}' has no words to search for", field="query")
    filters = filters or Filters()
    view = ctx.view_or_none() if user_id else None
    catalog = view.catalog if view is not None else ctx.snapshot()
    check_category(catalog, filters)
    matcher = ctx.matchers.get(catalog)
    parsed = parse_query(query, catalog)
    history = recent_items(ctx.store, user_id, HISTORY_LIMIT) if user_id else []
    personal = _personal_scores(ctx, view, history) if personalization > 0 else None
    compatible = ctx.compatible.get(catalog) if history else {}
    owned = owned_item(parsed, history, catalog, compatible) if history else None
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
    out = [
        _found(ctx, p, matcher, parsed.text, ranking, query, owned_title, personal, user_id)
        for p in picks
    ]
    version = view.version if personal is not None and view else None
    if not out:
        return Served(version, [], _nothing_matches(query, ranking, filters))
    return Served(version, out)


def _nothing_matches(query: str, ranking: Ranking, filters: Filters) -> str:
    """Why a search found nothing: no item's text is related to the words, or the filters
    left out every item that is."""
    if not (ranking.relevance > 0).any():
        return f"nothing in the catalog matches '{query}'; try other words"
    return f"no item matching '{query}' passes the filters; loosen them to see matches"


def _personal_scores(
    ctx: Context, view: ModelView | None, history: list[tuple[str, str]]
) -> np.ndarray | None:
    """The shopper's model scores per catalog row (-inf: unknown to the model), or None."""
    if view is None:
        return None
    touches = touches_of(view, history)
    if not touches:
        return None
    scores = ctx.scorer.score(view.model, Query.of([t.index for t in touches]))
    personal = np.full(view.catalog.size, -np.inf)
    known = view.rows >= 0
    personal[view.rows[known]] = scores[known]
    return personal


def _found(
    ctx: Context,
    p: Pick,
    matcher: TextMatcher,
    text: str,
    ranking: Ranking,
    query: str,
    owned_title: str,
    personal: np.ndarray | None,
    user_id: str | None,
) -> Recommendation:
    """One search result with its reason (phrased by the explainer when one is set)."""
    match = matcher.explain(text, p.index)
    fits = bool(ranking.fits[p.index]) and ranking.owned is not None
    suffix = "; ranked for you from your history" if personal is not None else ""
    reason = match + (f"; made for your '{owned_title}'" if fits else "") + suffix
    if ctx.explainer is not None:
        evidence = [text_match_evidence(match, ranking.relevance[p.index], query)]
        if fits:
            evidence.append(
                Evidence("history", f"it is made for your '{owned_title}'", owned_title)
            )
        shopper = [user_id] if user_id else []
        reason = ctx.explainer.explain(
            p.item.title or p.item.id, p.item.brand, evidence, user_ids=shopper
        ).reason
    relevance = {"relevance": float(ranking.relevance[p.index])}
    return Recommendation(p.item, p.score, reason, relevance)
