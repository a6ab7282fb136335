"""Keyword search (BM25 over weighted fields) and the personalisation blend, by hand."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pytest

from cartwise.data.catalog import CatalogIndex
from cartwise.errors import ConfigError
from cartwise.search import (
    HybridMatcher,
    KeywordMatcher,
    SemanticMatcher,
    blend,
    content_words,
    hybrid_factory,
    owned_item,
    parse_query,
    rank,
    tokens,
)
from cartwise.text.encoder import normalise


def _catalog() -> CatalogIndex:
    rows = [
        ("d0", "Red Shoes", "", [], "", 10.0, True, {}, False),
        ("d1", "Blue Socks", "", [], "", 5.0, True, {}, False),
    ]
    return CatalogIndex._from_rows(rows)


def test_tokens_lowercase_and_strip_plurals() -> None:
    assert tokens("Running SHOES, glass & USB-C!") == ["running", "shoe", "glass", "usb", "c"]


def test_bm25_known_value() -> None:
    m = KeywordMatcher(_catalog())
    rel = m.relevance("shoe")
    # both docs: 2 title words × weight 3 → |d| = avg|d| = 6, so the length norm is k1 = 1.2;
    # tf = 3 (weight of the title), idf = ln(1 + (2 − 1 + 0.5) / (1 + 0.5)) = ln 2
    expected = math.log(2) * 3 * 2.2 / (3 + 1.2)
    assert rel.tolist() == pytest.approx([expected, 0.0])
    assert m.relevance("green hat").tolist() == [0.0, 0.0]


def test_explain_names_the_matched_words_and_fields() -> None:
    m = KeywordMatcher(_catalog())
    assert m.explain("red shoes", 0) == "matches 'red', 'shoe' in title"


def test_blend_mixes_scaled_relevance_and_personal_scores() -> None:
    rel = np.array([2.0, 1.0, 0.0, 3.0])
    personal = np.array([0.0, 10.0, 99.0, 5.0])
    out = blend(rel, personal, 0.5)
    # matched rows 0, 1, 3: relevance scaled [0.5, 0, 1], personal scaled [0, 1, 0.5]
    assert out[2] == -np.inf
    assert out[[0, 1, 3]].tolist() == pytest.approx([0.25, 0.5, 0.75])
    assert blend(rel, None, 0.5)[[0, 1, 3]].tolist() == pytest.approx([0.5, 0.0, 1.0])


# -- semantic, hybrid, request parsing, ranking ---------------------------------------------------
class SynonymEncoder:
    """Deterministic fake: each word adds the unit axis of its synonym group."""

    GROUPS = ({"sneaker", "shoe", "running"}, {"sock"}, {"phone", "smartphone"}, {"case"})

    name = "synonyms"
    dim = len(GROUPS)

    def encode(
        self, texts: Sequence[str], *, batch_size: int = 64, progress: bool = False
    ) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in tokens(text):
                for g, group in enumerate(self.GROUPS):
                    if word in group:
                        out[i, g] += 1.0
        return normalise(out)


def _shop() -> CatalogIndex:
    # (id, title, description, category, brand, price, available, attributes, placeholder)
    rows = [
        ("p1", "Trail Running Shoe", "", ["Sports", "Running Shoes"], "Acme", 100.0, True, {}, 0),
        ("p2", "Wool Socks", "", ["Sports", "Socks"], "Woolly", 10.0, True, {}, 0),
        ("p3", "Fonix X Smartphone", "", ["Electronics", "Phones"], "Fonix", 500.0, True, {}, 0),
        (
            "p4",
            "Slim Case for Fonix X",
            "",
            ["Electronics", "Phone Cases"],
            "Shell",
            20.0,
            True,
            {"compatible_with": "p3"},
            0,
        ),
        (
            "p5",
            "Rugged Case for Fonix Y",
            "",
            ["Electronics", "Phone Cases"],
            "Shell",
            25.0,
            True,
            {"compatible_with": "p6"},
            0,
        ),
        ("p6", "Fonix Y Smartphone", "", ["Electronics", "Phones"], "Fonix", 400.0, True, {}, 0),
    ]
    return CatalogIndex._from_rows(rows)


def test_semantic_matcher_finds_synonyms_bm25_cannot() -> None:
    catalog = _shop()
    semantic = SemanticMatcher(catalog, SynonymEncoder())
    assert KeywordMatcher(catalog).relevance("sneakers").max() == 0.0
    rel = semantic.relevance("sneakers")
    # "sneakers" → axis 0; p1's text (shoe, running, running shoe…) lies on axis 0 alone
    assert rel[0] == pytest.approx(1.0)
    assert rel[[1, 2, 3, 4, 5]].tolist() == [0.0] * 5
    assert semantic.explain("sneakers", 0) == "close in meaning to the query (cosine 1.00)"


def test_hybrid_matcher_weights_by_hand() -> None:
    catalog = _shop()
    keyword, semantic = KeywordMatcher(catalog), SemanticMatcher(catalog, SynonymEncoder())
    hybrid = HybridMatcher(keyword, semantic, keyword_weight=3.0, semantic_weight=1.0)
    bm25 = keyword.relevance("slim phone")
    cos = np.clip(semantic.similarity("slim phone"), 0, None)
    expected = (3 * bm25 / bm25.max() + cos / cos.max()) / 4
    assert hybrid.relevance("slim phone").tolist() == pytest.approx(expected.tolist())
    assert hybrid.relevance("slim phone").argmax() == 3  # "slim" only in p4's title
    only_keyword = HybridMatcher(keyword, None, keyword_weight=1.0, semantic_weight=0.0)
    assert only_keyword.relevance("socks").tolist() == pytest.approx([0, 1, 0, 0, 0, 0])
    with pytest.raises(ConfigError):
        HybridMatcher(keyword, None, keyword_weight=0.0, semantic_weight=1.0)


def test_title_tail_after_for_weighs_like_description() -> None:
    catalog = _shop()
    rel = KeywordMatcher(catalog).relevance("fonix x")
    assert rel[2] > rel[3] > 0  # the phone before the case "for Fonix X"


def test_stop_words_do_not_match() -> None:
    assert content_words("a case for my new phone") == ["case", "phone"]
    assert content_words("for my") == ["for", "my"]


def test_parse_query_reads_prices_brands_and_possessions() -> None:
    catalog = _shop()
    cheap = parse_query("woolly socks under $15", catalog)
    assert (cheap.constraints.max_price, cheap.constraints.brands) == (15.0, ["Woolly"])
    assert cheap.text == "woolly socks"
    mine = parse_query("a case for my new phone", catalog)
    assert mine.refers_to == "phone"
    assert mine.constraints.category is None  # "phone" names the device, not the category
    device = parse_query("case for Fonix X", catalog)
    assert device.constraints.brands == []  # a case for a Fonix phone, made by anyone


def test_owned_item_prefers_purchases_and_the_leaf_head_noun() -> None:
    catalog = _shop()
    compatible = {"p3": np.array([3]), "p6": np.array([4])}

    def owned(query: str, history: list[tuple[str, str]]) -> str | None:
        return owned_item(parse_query(query, catalog), history, catalog, compatible)

    history = [("p6", "purchase"), ("p4", "view"), ("p3", "view")]
    assert owned("a case for my new phone", history) == "p6"  # bought, though p3 seen later
    assert owned("a case for my new phone", [("p3", "view"), ("p4", "view")]) == "p3"
    assert owned("a camera for my camera", history) is None


def test_owned_item_is_read_from_the_shoppers_purchases() -> None:
    catalog = _shop()
    compatible = {"p3": np.array([3]), "p6": np.array([4])}
    both = [("p6", "purchase"), ("p3", "purchase")]  # p3 (Fonix X) is the latest

    def owned(query: str, history: list[tuple[str, str]]) -> str | None:
        return owned_item(parse_query(query, catalog), history, catalog, compatible)

    # names the product: "Fonix Y" shares two words with p6, one with p3
    assert owned("I just bought a new Fonix Y and need a case", both) == "p6"
    # only asks for an accessory: the latest purchase that has one in that category
    assert owned("case", both) == "p3"
    assert owned("case", [("p6", "purchase")]) == "p6"
    # an unrelated request, or nothing bought with accessories: no owned item
    assert owned("running shoes", both) is None
    assert owned("case", [("p1", "purchase")]) is None


def test_rank_puts_what_fits_the_owned_item_first_and_relaxes_impossible_constraints() -> None:
    catalog = _shop()
    matcher = KeywordMatcher(catalog)
    compatible = {"p3": np.array([3]), "p6": np.array([4])}
    allowed = np.ones(catalog.size, dtype=bool)
    parsed = parse_query("a case for my new phone", catalog)
    for owned, first in (("p3", 3), ("p6", 4)):
        out = rank(parsed, matcher, catalog, allowed=allowed, owned=owned, compatible=compatible)
        assert int(np.argmax(out.scores)) == first
        assert out.fits.tolist() == [i == first for i in range(6)]
    impossible = parse_query("socks under $1", catalog)
    out = rank(impossible, matcher, catalog, allowed=allowed)
    assert out.relaxed and np.isfinite(out.scores[1])
    priced = rank(parse_query("case under $22", catalog), matcher, catalog, allowed=allowed)
    assert not priced.relaxed
    assert np.isfinite(priced.scores).tolist() == [False, False, False, True, False, False]


@pytest.mark.slow
def test_minilm_semantic_search_understands_synonyms() -> None:
    from cartwise.text.encoder import SentenceTransformerEncoder

    catalog = _shop()
    semantic = SemanticMatcher(catalog, SentenceTransformerEncoder())
    assert int(np.argmax(semantic.relevance("sneakers for jogging"))) == 0
    assert int(np.argmax(semantic.relevance("mobile phone"))) in (2, 5)


def test_hybrid_factory_builds_what_the_weights_ask_for() -> None:
    catalog = _shop()
    assert isinstance(hybrid_factory(None)(catalog), KeywordMatcher)
    built = hybrid_factory(SynonymEncoder(), keyword_weight=1.0, semantic_weight=1.0)(catalog)
    assert isinstance(built, HybridMatcher) and built.weights == (1.0, 1.0)
    with pytest.raises(ConfigError):
        hybrid_factory(None, keyword_weight=0.0)(catalog)
