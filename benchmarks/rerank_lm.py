"""The language-model reranking experiment (not part of the engine).

It was an optional serving stage until issue 16 asked it to prove itself: on ml-100k it left
every list unchanged (NDCG@10 0.1177 before and after, 51 users) at 50.7 s per user on this
2-core CPU, so it was removed from the engine, the settings and the docs. It stays here, with
:mod:`rerank`, as a reproducible experiment.

Given the titles of a shopper's recent items and the titles of the candidates a model ranked,
:class:`LMReranker` asks a :class:`~cartwise.text.generator.TextGenerator` for an order. The
reply is parsed leniently (:func:`parse_order`: candidate titles quoted back, or candidate
numbers in any wrapping); candidates the reply leaves out keep their original order after the
ones it named, and anything unusable — no valid title or number, a generator error — keeps the
original order. The generator only reorders what the system retrieved: it cannot add an item.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from cartwise.errors import CartwiseError
from cartwise.text.generator import TextGenerator

_log = logging.getLogger(__name__)

T = TypeVar("T")


class RerankConfig(BaseModel):
    """Settings of the reranking stage.

    Attributes:
        enabled: off by default; the stage costs a generator call per request.
        max_candidates: candidates shown to the generator (the rest keep their place after them).
        max_history: most recent history titles shown.
        max_new_tokens: reply length bound.
    """

    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    max_candidates: int = Field(default=20, ge=2, le=99)
    max_history: int = Field(default=10, ge=1)
    max_new_tokens: int = Field(default=48, ge=4)


SYSTEM = (
    "You rank items for a shopper. Reply with candidate numbers only, best match first, "
    "separated by commas, like: 4, 1, 7"
)


def build_prompt(history: Sequence[str], candidates: Sequence[str]) -> str:
    """Recent items, numbered candidates and the instruction; nothing else."""
    lines = ["The shopper recently liked:"]
    lines += [f"- {title}" for title in history]
    lines += ["", "Candidates:"]
    lines += [f"{n}. {title}" for n, title in enumerate(candidates, start=1)]
    lines += ["", "Best 10 candidate numbers, best first:"]
    return "\n".join(lines)


_MARKER = re.compile(r"^\s*\d{1,2}[.)](?=\s)", re.MULTILINE)  # "1. " list markers, not answers
_NUMBER = re.compile(r"(?<![\w.])(\d{1,2})(?!\w|\.\d)")


def parse_order(reply: str, candidates: Sequence[str]) -> list[int] | None:
    """Candidate positions (0-based) the reply names, in its order, or None if it names none.

    Candidate titles quoted back count first, by where they appear (small models like to copy
    the list, whose own "1." markers are then no candidate numbers); without any, numbers 1..n
    count, except line-start list markers ("1. 7" names candidate 7); duplicates and
    out-of-range numbers are skipped.
    """
    lowered = reply.lower()
    found = sorted(
        (lowered.find(title.lower()), pos)
        for pos, title in enumerate(candidates)
        if title and title.lower() in lowered
    )
    if found:
        return [pos for _, pos in found]
    seen: dict[int, None] = {}
    for token in _NUMBER.findall(_MARKER.sub(" ", reply)):
        pos = int(token) - 1
        if 0 <= pos < len(candidates):
            seen.setdefault(pos, None)
    return list(seen) or None


@dataclass(frozen=True)
class Reranked:
    """The new order of the candidates and where it came from.

    Attributes:
        order: candidate positions (0-based), every candidate exactly once.
        source: ``"lm"`` when the reply was used, ``"original"`` when it was not.
        reply: the generator's raw reply ("" when it was not called or failed).
    """

    order: list[int]
    source: Literal["lm", "original"]
    reply: str


class LMReranker:
    """Reorders candidates with a generator (see the module docstring).

    Args:
        generator: the language model.
        config: limits; ``enabled`` is for callers that build the stage from settings.
    """

    def __init__(self, generator: TextGenerator, config: RerankConfig | None = None) -> None:
        self.generator = generator
        self.config = config or RerankConfig()

    def rerank(
        self, history: Sequence[str], candidates: Sequence[str], *, user_ids: Iterable[str] = ()
    ) -> Reranked:
        """The candidates' new order (original order on an unusable reply)."""
        n = len(candidates)
        original = list(range(n))
        shown = list(candidates[: self.config.max_candidates])
        if len(shown) < 2:
            return Reranked(original, "original", "")
        prompt = build_prompt(list(history)[-self.config.max_history :], shown)
        try:
            reply = self.generator.generate(
                prompt,
                system=SYSTEM,
                max_new_tokens=self.config.max_new_tokens,
                user_ids=user_ids,
            )
        except CartwiseError as exc:
            _log.warning("reranking generator failed (%s); keeping the original order", exc)
            return Reranked(original, "original", "")
        named = parse_order(reply, shown)
        if named is None:
            _log.info("reranking reply unusable (%r); keeping the original order", reply[:80])
            return Reranked(original, "original", reply)
        used = set(named)
        rest = [i for i in original if i not in used]
        return Reranked(named + rest, "lm", reply)

    def reorder(
        self,
        history: Sequence[str],
        items: Sequence[T],
        titles: Sequence[str],
        k: int,
        *,
        user_ids: Iterable[str] = (),
    ) -> list[T]:
        """The first `k` of `items` (titled `titles`, best first) in the generator's order."""
        if not history:  # nothing to rank against: the model's order stands
            return list(items[:k])
        order = self.rerank(history, titles, user_ids=user_ids).order
        return [items[i] for i in order[:k]]
