"""Evidence for each recommendation, and a one-sentence reason phrased from that evidence only.

The evidence is computed by the system, never by a language model:

- **history** (:func:`history_evidence`): which of the shopper's recent events drove the item.
  Each recent history item is scored alone by the model (item-item similarity as the model sees
  it); an event counts when it lifts the candidate's score above that row's floor, strongest
  first.
- **history by attention** (:func:`attention_evidence`): for a Transformer
  (:class:`HasAttention`, e.g. SASRec), the history events its last position attends to most,
  with their attention weights. One set per request: the last position's hidden state scores
  every item of the list.
- **text match** (:func:`text_match_evidence`): which query words matched which fields, or how
  close the item's text is to the query, for search.
- **new arrival** (:func:`new_arrival_evidence`): a cold item (no events yet) is tied to the
  history item whose text vector is closest: "new arrival similar to X".
- **popular**: no history item changes the score.

:class:`Explainer` turns evidence into a sentence: by template, or by a
:class:`~cartwise.text.generator.TextGenerator` whose prompt holds the evidence lines only,
redacted by :func:`cartwise.text.privacy.redact`. A generated sentence is rejected, and the
template used instead, when it names a catalog title or brand that is not in the evidence, quotes
text that is not in it, has a capitalised word or a number the evidence does not contain, or is
not one short sentence (:func:`grounding_problem`). A rejected sentence is asked for once more,
with the reason (:func:`retry_prompt`); the retry is checked against the same evidence.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Literal, Protocol, runtime_checkable

import numpy as np

from cartwise.errors import CartwiseError
from cartwise.ranking.reasons import VERBS, Touch
from cartwise.text.generator import TextGenerator
from cartwise.text.privacy import redact

_log = logging.getLogger(__name__)

EvidenceKind = Literal["history", "text_match", "new_arrival", "popular"]

#: Most history events quoted per recommendation.
MAX_HISTORY = 2
#: Lowest text cosine for "new arrival similar to X".
MIN_NEW_ARRIVAL_SIMILARITY = 0.3
_MAX_WORDS = 40


@dataclass(frozen=True)
class Evidence:
    """One fact behind a recommendation.

    Attributes:
        kind: what sort of fact.
        text: the fact in words ("you bought 'Galaxy S23'", "matches 'case' in title").
        title: title of the history item it names, if any.
        brand: brand of that item, if any.
        weight: strength (share of the score lift, cosine, or relevance), for ordering.
    """

    kind: EvidenceKind
    text: str
    title: str | None = None
    brand: str | None = None
    weight: float = 0.0


@dataclass(frozen=True)
class Explanation:
    """A recommended item, the evidence behind it and the sentence phrased from it.

    Attributes:
        title: the recommended item's title.
        brand: its brand.
        evidence: the facts, strongest first.
        reason: one sentence.
        source: ``"generator"`` when the generator's sentence passed the checks, else
            ``"template"``.
        blocked: why the generator's sentence was not shown (it named something outside the
            evidence, or the generator failed), or None.
    """

    title: str
    brand: str | None
    evidence: tuple[Evidence, ...]
    reason: str
    source: Literal["template", "generator"]
    blocked: str | None = None

    def names(self) -> set[str]:
        """Titles and brands the evidence holds (the recommended item's own included)."""
        out = {self.title, self.brand or ""}
        for e in self.evidence:
            out |= {e.title or "", e.brand or ""}
        return {n for n in out if n}


# -- evidence -------------------------------------------------------------------------------------
def _did(touch: Touch) -> str:
    return f"you {VERBS.get(touch.kind, 'interacted with')} '{touch.title}'"


def history_evidence(
    rows: np.ndarray,
    touches: Sequence[Touch],
    chosen: Sequence[int],
    brands: Sequence[str | None] | None = None,
) -> list[list[Evidence]]:
    """Per chosen model index, the history events that lift its score, strongest first.

    Args:
        rows: scores from :func:`cartwise.ranking.reasons.evidence_queries` — one row per touch
            (that item alone as the history), then the empty history.
        touches: the touches the rows were computed for.
        chosen: model indices of the recommended items.
        brands: brand per touch (optional).

    Returns:
        Up to :data:`MAX_HISTORY` history facts per item, or one "popular" fact when no history
        item lifts it (a popularity model, or an unrelated history).
    """
    alone = rows[:-1].astype(np.float64)
    floors = np.array([r[np.isfinite(r)].min(initial=np.inf) for r in alone])
    out = []
    for j in chosen:
        col, full = alone[:, j], rows[:, j].astype(np.float64)
        lift = np.where(np.isfinite(col), col - floors, 0.0)
        tol = 1e-6 * max(1.0, float(np.abs(full[np.isfinite(full)]).max(initial=0.0)))
        unmoved = not np.isfinite(full).all() or np.ptp(full) <= tol  # same with or without
        if unmoved or lift.max(initial=0.0) <= tol:
            out.append([Evidence("popular", "popular with shoppers right now")])
            continue
        order = [int(i) for i in np.argsort(-lift, kind="stable") if lift[i] > tol]
        top = float(lift[order[0]])
        out.append(
            [
                Evidence(
                    "history",
                    _did(touches[i]),
                    touches[i].title,
                    brands[i] if brands is not None else None,
                    float(lift[i] / top),
                )
                for i in order[:MAX_HISTORY]
            ]
        )
    return out


@runtime_checkable
class HasAttention(Protocol):
    """A model that can say how much its last position attends to each history item."""

    def attention_weights(self, history: Sequence[int] | np.ndarray) -> np.ndarray:
        """Weights over the last ``len(result)`` items of `history`, summing to 1."""
        ...


def attention_evidence(
    weights: np.ndarray,
    touches: Sequence[Touch],
    brands: Sequence[str | None] | None = None,
    *,
    top: int = MAX_HISTORY,
) -> list[Evidence]:
    """The history items with the highest attention weight, strongest first.

    Args:
        weights: per history position, the attention weight (``attention_weights`` of the
            touches' model indices); aligned with the *last* ``len(weights)`` touches.
        touches: the history, oldest first.
        brands: brand per touch (optional).
        top: most items returned.

    Returns:
        One "history" fact per distinct item (an item seen at several positions gets the sum of
        their weights and its latest event's verb), its weight the attention share in [0, 1].
    """
    offset = len(touches) - len(weights)
    total: dict[int, float] = {}
    latest: dict[int, int] = {}
    for pos, w in enumerate(weights):
        i = offset + pos
        index = touches[i].index
        total[index] = total.get(index, 0.0) + float(w)
        latest[index] = i
    ranked = sorted(total, key=lambda index: (-total[index], -latest[index]))[:top]
    return [
        Evidence(
            "history",
            _did(touches[latest[index]]),
            touches[latest[index]].title,
            brands[latest[index]] if brands is not None else None,
            total[index],
        )
        for index in ranked
    ]


def text_match_evidence(match: str, relevance: float, query: str) -> Evidence:
    """The search's text match: what the matcher says about the row (``matcher.explain``)."""
    return Evidence("text_match", f"your search '{query}' {match}", weight=float(relevance))


def new_arrival_evidence(
    item_vector: np.ndarray,
    history_vectors: np.ndarray,
    touches: Sequence[Touch],
    brands: Sequence[str | None] | None = None,
) -> Evidence | None:
    """ "New arrival similar to X": the history item whose text vector is closest to the cold
    item's, when the cosine reaches :data:`MIN_NEW_ARRIVAL_SIMILARITY` (unit vectors)."""
    if not len(touches):
        return None
    sims = history_vectors @ item_vector
    best = int(np.argmax(sims))
    if float(sims[best]) < MIN_NEW_ARRIVAL_SIMILARITY:
        return None
    t = touches[best]
    return Evidence(
        "new_arrival",
        f"new arrival similar to '{t.title}', which you {VERBS.get(t.kind, 'interacted with')}",
        t.title,
        brands[best] if brands is not None else None,
        float(sims[best]),
    )


# -- phrasing ------------------------------------------------------------------------------------
def template(evidence: Sequence[Evidence]) -> str:
    """A sentence from the evidence by fixed wording."""
    history = [e for e in evidence if e.kind == "history"]
    parts: list[str] = []
    if history:
        parts.append("because " + " and ".join(e.text for e in history))
    parts += [e.text for e in evidence if e.kind in ("text_match", "new_arrival")]
    if not parts:
        parts = [e.text for e in evidence] or ["more from the catalog"]
    sentence = "; ".join(parts)
    return sentence[0].upper() + sentence[1:] + "."


SYSTEM = (
    "You write one short, friendly sentence telling a shopper why an item is recommended. "
    "Use only the facts given. Do not mention any product, brand, price or number that is not "
    "in the facts."
)


def build_prompt(title: str, brand: str | None, evidence: Sequence[Evidence]) -> str:
    """The generator's prompt: the recommended item and the evidence lines, nothing else."""
    lines = [f"Recommended item: '{title}'" + (f" by {brand}" if brand else "")]
    lines += [f"Fact: {e.text}" for e in evidence]
    lines.append("One sentence:")
    return "\n".join(lines)


_QUOTED = re.compile(r"'([^']{2,})'|\"([^\"]{2,})\"|“([^”]{2,})”")
_CAPITAL = re.compile(r"\b[A-Z][\w-]*")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
# Capitalised words a sentence may use without the evidence holding them: pronouns and common
# sentence openers. Any other capitalised word (a brand, a model) must be in the evidence; a
# rejection only costs the template sentence.
_OPENERS = (
    "I You Your We It Its This That These Because A An The Since As If For With Here Try Based "
    "Fits Pairs Goes Great Perfect Recommended Matches Made Ideal Picked Chosen Similar New "
    "Popular Works Keep Protect Complete Love Enjoy Shoppers Other Many"
)
_ALWAYS_OK = set(_OPENERS.split())


def _contains(haystack: str, needle: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(needle.lower())}(?!\w)", haystack.lower()) is not None


def grounding_problem(
    sentence: str, prompt: str, evidence_names: set[str], known_names: Iterable[str]
) -> str | None:
    """Why a generated sentence may not be shown, or None when it only uses the evidence.

    Args:
        sentence: the generator's reply.
        prompt: the evidence as sent (after redaction).
        evidence_names: titles and brands in the evidence.
        known_names: every catalog title and brand (names the sentence must not bring in).
    """
    words = sentence.split()
    if not words or len(words) > _MAX_WORDS or "\n" in sentence.strip():
        return "not one short sentence"
    allowed = {n.lower() for n in evidence_names}
    for name in known_names:
        inside_evidence = name.lower() in allowed or any(_contains(a, name) for a in allowed)
        if not inside_evidence and _contains(sentence, name):
            return f"names '{name}', which is not in the evidence"
    for groups in _QUOTED.findall(sentence):
        quoted = next(g for g in groups if g)
        if quoted.lower() not in prompt.lower():
            return f"quotes '{quoted}', which is not in the evidence"
    for word in _CAPITAL.findall(sentence):
        if word not in _ALWAYS_OK and not _contains(prompt, word):
            return f"'{word}' is not in the evidence"
    for number in _NUMBER.findall(sentence):
        if number not in prompt:
            return f"the number {number} is not in the evidence"
    return None


class Explainer:
    """Phrases explanations by template, or by a generator checked against the evidence.

    Args:
        generator: language model to phrase with; None uses the template only.
        known_names: every catalog title and brand (a sentence naming one that is not in the
            evidence is rejected).
        max_new_tokens: reply length bound for the generator.
        retries: times a rejected sentence is asked for again, told why it was rejected (the
            check always reads the original evidence, never the retry's wording).
    """

    def __init__(
        self,
        generator: TextGenerator | None = None,
        known_names: Iterable[str] = (),
        *,
        max_new_tokens: int = 48,
        retries: int = 1,
    ) -> None:
        self.generator = generator
        self.known_names = catalog_names(known_names, ())
        self.max_new_tokens = max_new_tokens
        self.retries = max(0, retries)

    def explain(
        self,
        title: str,
        brand: str | None,
        evidence: Sequence[Evidence],
        *,
        user_ids: Iterable[str] = (),
        known_names: Sequence[str] | None = None,
    ) -> Explanation:
        """The evidence with a sentence; the template whenever the generator's fails a check
        (`known_names`: the catalog's titles and brands, longest first, instead of the ones
        given at construction)."""
        evidence = tuple(evidence)
        fallback = Explanation(title, brand, evidence, template(evidence), "template")
        if self.generator is None:
            return fallback
        ids = tuple(user_ids)
        prompt = redact(build_prompt(title, brand, evidence), user_ids=ids)
        names = self.known_names if known_names is None else known_names
        request, problem = prompt, ""
        for _ in range(1 + self.retries):
            try:
                reply = self.generator.generate(
                    request, system=SYSTEM, max_new_tokens=self.max_new_tokens, user_ids=ids
                )
            except CartwiseError as exc:
                _log.warning("generator failed (%s); using the template", exc)
                return replace(fallback, blocked=f"generator failed: {exc}")
            sentence = reply.strip().strip('"').strip()
            problem = grounding_problem(sentence, prompt, fallback.names(), names) or ""
            if not problem:
                return Explanation(title, brand, evidence, sentence, "generator")
            _log.info("generated explanation rejected: %s", problem)
            request = retry_prompt(prompt, problem)
        return replace(fallback, blocked=problem)


def retry_prompt(prompt: str, problem: str) -> str:
    """The prompt again, told why the last sentence was rejected (the grounding check still
    reads the original prompt, so a name the problem repeats is no more allowed than before)."""
    facts = prompt.removesuffix("One sentence:").rstrip()
    return f"{facts}\nRejected: {problem}.\nOne sentence using only these facts:"


def catalog_names(titles: Iterable[str], brands: Iterable[str]) -> list[str]:
    """Every title and brand, longest first: what a sentence must not name unless its evidence
    does (see :func:`grounding_problem`)."""
    return sorted({n for n in (*titles, *brands) if n}, key=len, reverse=True)
