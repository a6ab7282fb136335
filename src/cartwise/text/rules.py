"""Rule-based reading of a shopper's request: prices, price level, brands, category, device.

The fallback of :func:`cartwise.text.constraints.parse_request` and its reference: regexes for
price phrases ("under $50", "between 20 and 40 euros", "$20-$40", "over 100", "2k"), words for
the price level ("cheap", "premium"), and fuzzy-ish matching of the store's own category and
brand names (case, plural and one-letter typos forgiven).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from typing import Literal

_NUM = r"(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)(k)?"
_CUR_SYM = r"(?:[$€£]|usd\s?|eur\s?|gbp\s?)"
_CUR_BEFORE = _CUR_SYM + "?"
_CUR_WORD = r"(?:[$€£]|dollars?|bucks|euros?|eur|usd|pounds?|gbp)\b"
_CUR_AFTER = rf"(?:\s?{_CUR_WORD})?"
_NOT_UNIT = r"(?![\w.%\"'])"  # "65W", "256GB", "5.5in", "50%" are not prices
_PRICE = _CUR_BEFORE + _NUM + _NOT_UNIT + _CUR_AFTER

_RANGE = re.compile(
    rf"(?:between|from)\s+{_PRICE}\s*(?:and|to|-|–)\s*{_PRICE}"
    rf"|{_CUR_SYM}{_NUM}{_NOT_UNIT}\s*(?:-|–|to)\s*{_PRICE}"
    rf"|{_NUM}{_NOT_UNIT}\s*(?:-|–|to)\s*{_NUM}{_NOT_UNIT}\s?{_CUR_WORD}",
    re.IGNORECASE,
)
_MAX = re.compile(
    r"(?:under|below|less\s+than|cheaper\s+than|at\s+most|up\s+to|no\s+more\s+than|max(?:imum)?"
    rf"|within|budget\s+of|<=?)\s*{_PRICE}",
    re.IGNORECASE,
)
_MIN = re.compile(
    rf"(?:over|above|more\s+than|at\s+least|min(?:imum)?|starting\s+at|>=?)\s*{_PRICE}",
    re.IGNORECASE,
)
_BUDGET = re.compile(r"\b(?:cheap(?:est|er)?|budget|affordable|inexpensive|low[- ]cost)\b", re.I)
_PREMIUM = re.compile(
    r"\b(?:premium|high[- ]end|luxury|luxurious|top[- ]of[- ]the[- ]line)\b", re.I
)
_COMPAT = re.compile(
    r"\b(?:for|compatible\s+with|fits?|fitting|works\s+with)\s+(?:my\s+|an?\s+|the\s+|new\s+)*"
    r"([a-z][\w-]*(?:\s+(?:\d[\w-]*|[a-z]{1,2}\d[\w-]*|pro|max|plus|mini|ultra|lite|fe|se))+)",
    re.IGNORECASE,
)
_TOKEN = re.compile(r"[^\W_]+(?:[-'][^\W_]+)*")
_STOP_TEXT = """
a an the for with and or of to in on at by my me i im i'm we you it is are be want need
looking look find show get buy some any something that this which who please good nice new
under below over above between from than less more most least up no max min around about
cheap cheaper cheapest budget affordable inexpensive premium luxury high-end low-cost
dollars dollar bucks euros euro eur usd pounds pound gbp price priced costing cost k
"""
STOPWORDS = frozenset(re.split(r"\s+", _STOP_TEXT.strip()))


def _amount(number: str, thousands: str | None) -> float:
    value = float(number.replace(",", ""))
    return value * 1000 if thousands else value


def _singular(word: str) -> str:
    if len(word) > 4 and word.endswith(("ches", "shes", "sses", "xes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def tokens(text: str) -> list[str]:
    """Lower-cased, singularised word tokens."""
    return [_singular(t) for t in _TOKEN.findall(text.lower())]


@dataclass
class RuleResult:
    """What the rules found, and which character spans of the text they used."""

    min_price: float | None = None
    max_price: float | None = None
    price_level: Literal["budget", "premium"] | None = None
    category: str | None = None
    brands: list[str] = field(default_factory=list)
    compatible_with: str | None = None
    used: list[tuple[int, int]] = field(default_factory=list)
    used_words: set[str] = field(default_factory=set)


def read_prices(text: str, out: RuleResult) -> None:
    """Fill min/max price from range, upper-bound and lower-bound phrases (first one wins)."""
    if m := _RANGE.search(text):
        nums = [g for g in m.groups()]
        values = [_amount(nums[i], nums[i + 1]) for i in range(0, len(nums), 2) if nums[i]]
        low, high = sorted(values[:2])
        out.min_price, out.max_price = low, high
        out.used.append(m.span())
        return
    if m := _MAX.search(text):
        out.max_price = _amount(m.group(1), m.group(2))
        out.used.append(m.span())
    if m := _MIN.search(text):
        out.min_price = _amount(m.group(1), m.group(2))
        out.used.append(m.span())
    if out.min_price is not None and out.max_price is not None and out.min_price > out.max_price:
        out.min_price, out.max_price = out.max_price, out.min_price


def _close(a: list[str], b: list[str]) -> bool:
    """Token lists equal, or (for names of 5+ letters) at most about one typo apart."""
    if a == b:
        return True
    joined_a, joined_b = " ".join(a), " ".join(b)
    if min(len(joined_a), len(joined_b)) < 5:
        return False
    return SequenceMatcher(None, joined_a, joined_b).ratio() >= 0.85


def _matches(text: str, names: Iterable[str]) -> list[tuple[str, list[str]]]:
    """(name, the text's words it matched), longest names first, then by position."""
    words = tokens(text)
    found: list[tuple[int, int, str, list[str]]] = []
    for name in names:
        target = tokens(name)
        if not target:
            continue
        if len(name.strip()) <= 2:
            if re.search(rf"(?<!\w){re.escape(name.strip())}(?!\w)", text):
                found.append((len(target), 0, name, target))
            continue
        n = len(target)
        for start in range(len(words) - n + 1):
            if _close(words[start : start + n], target):
                found.append((n, start, name, words[start : start + n]))
                break
    found.sort(key=lambda f: (-f[0], f[1]))
    return [(name, used) for _, _, name, used in found]


def read_rules(
    text: str, *, known_categories: Iterable[str], known_brands: Iterable[str]
) -> RuleResult:
    """Everything the rules can read from `text` (keywords are added by the caller)."""
    out = RuleResult()
    read_prices(text, out)
    if _BUDGET.search(text):
        out.price_level = "budget"
    elif _PREMIUM.search(text):
        out.price_level = "premium"
    categories = _matches(text, known_categories)
    if categories:
        out.category = categories[0][0]
        out.used_words.update(categories[0][1])
    brands = _matches(text, known_brands)
    out.brands = [name for name, _ in brands]
    for _, used in brands:
        out.used_words.update(used)
    if m := _COMPAT.search(text):
        out.compatible_with = m.group(1).strip()
        out.used.append(m.span(1))
    return out


def keywords(text: str, out: RuleResult, extra_stop: Iterable[str] = ()) -> list[str]:
    """Content words of `text` not used by a price phrase, a device, a brand or the category."""
    masked = list(text)
    for start, end in out.used:
        masked[start:end] = " " * (end - start)
    named = out.used_words | {_singular(w.lower()) for w in extra_stop}
    seen: list[str] = []
    for raw in _TOKEN.findall("".join(masked).lower()):
        word = _singular(raw)
        if raw in STOPWORDS or word in STOPWORDS or word in named or raw.isdigit():
            continue
        if word not in seen:
            seen.append(word)
    return seen
