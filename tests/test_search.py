"""Keyword search (BM25 over weighted fields) and the personalisation blend, by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cartwise.ranking.catalog import CatalogIndex
from cartwise.search import KeywordMatcher, blend, tokens


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
