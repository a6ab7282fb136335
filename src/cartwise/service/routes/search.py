"""Search and sponsored ranking."""

from __future__ import annotations

from cartwise.data.feedback import log_served
from cartwise.ranking.filters import Filters
from cartwise.service.routes.common import EngineDep, answer, finite, router
from cartwise.service.schemas import AdOut, AdRejected, AdsIn, AdsOut, RecommendationsOut, SearchIn

reader = router("read", "search")


@reader.post("/search", response_model=RecommendationsOut)
def search(body: SearchIn, engine: EngineDep) -> RecommendationsOut:
    """Search over title, brand, category and description: BM25 plus sentence-encoder similarity
    (all-MiniLM-L6-v2 by default when the lm extra is installed; ``CARTWISE_SEARCH_MODE=keyword``
    for BM25 only). When nothing is related to the query the list is empty and ``message``
    says so. Price ranges and brands written in the query ("under $50")
    filter the results; with ``user_id`` they are blended with the shopper's model scores
    (weight ``personalization``), and items made for what the shopper owns come first when the
    query refers to it ("a case for my new phone")."""
    served = engine.search(
        body.query,
        body.k,
        user_id=body.user_id,
        personalization=body.personalization,
        filters=Filters(
            body.category, body.min_price, body.max_price, body.type, body.all_variants
        ),
        explain=body.explain,
    )
    return answer(engine, "search", body.user_id, served, logged=body.log)


@reader.post("/ads/rank", response_model=AdsOut)
def rank_ads(body: AdsIn, engine: EngineDep) -> AdsOut:
    """Rank sponsored candidates for a shopper by expected value = engagement probability × bid,
    among those whose relevance reaches ``relevance_floor``; unavailable ones are left out."""
    ranking = engine.rank_ads(
        body.user_id,
        [(c.item_id, c.bid) for c in body.candidates],
        body.k,
        relevance_floor=body.relevance_floor,
    )
    ids = [c.item.id for c in ranking.ranked]
    rec_id = (
        log_served(engine.store, "ads", body.user_id, ranking.version, ids) if body.log else None
    )
    return AdsOut(
        recommendation_id=rec_id,
        model_version=ranking.version,
        user_id=body.user_id,
        ranked=[
            AdOut(
                item_id=c.item.id,
                bid=c.bid,
                probability=finite(c.probability),
                relevance=c.relevance,
                expected_value=finite(c.expected_value),
                item=c.item,
            )
            for c in ranking.ranked
        ],
        rejected=[AdRejected(item_id=i, reason=r) for i, r in ranking.rejected],
    )
