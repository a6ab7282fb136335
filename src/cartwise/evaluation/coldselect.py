"""Cold-start settings chosen on the cold validation users, never on the cold test users.

The hybrid's cold-start settings — id dropout (a training setting), borrowing and ``cold_boost``
(set after training; ``cold_boost=0`` is no borrowing at all) — are chosen on a small grid,
fixed before any run (:data:`GRID`):

1. Fit the hybrid once per training setting (points that differ only in ``cold_boost`` share a
   fit), early-stopping on the warm validation users as usual.
2. Score every point on the cold validation users (``split.cold_valid``: their validation
   target is an item that was new in the validation window) and on every validation user in
   the natural proportion of warm and new targets (``split.valid_everyone``).
3. Choose (:func:`choose`): the best cold validation NDCG@10 among the points whose
   everyone-validation NDCG@10 is at least `floor` (the caller passes SASRec's on the same
   split, so raising new items may not cost the others more than SASRec's level); if no point
   reaches it, the point with the best everyone-validation NDCG@10.

Nothing here reads ``split.test`` or ``split.everyone``: the caller scores the chosen model on
them once.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cartwise.evaluation.coldstart import KS, ColdStartSplit, hr_ndcg
from cartwise.models.base import Recommender

POST_TRAINING = ("cold_boost",)  # set on a fitted hybrid, no refit
GRID: tuple[dict[str, float], ...] = tuple(
    {"id_dropout": dropout, "cold_boost": boost}
    for dropout in (0.2, 0.5)
    for boost in (0.0, 1.0, 2.0)
)
METRIC = "ndcg@10"


@dataclass
class GridPoint:
    """One point of the grid and its validation figures.

    Attributes:
        settings: the hybrid settings of this point (on top of the base config).
        cold_valid: HR@K / NDCG@K on the cold validation users.
        valid_everyone: HR@K / NDCG@K on every validation user (warm and new targets).
        train_seconds: wall time of the fit this point was scored with.
    """

    settings: dict[str, float]
    cold_valid: dict[str, float]
    valid_everyone: dict[str, float]
    train_seconds: float


@dataclass
class Selection:
    """The grid's validation figures and the chosen point.

    Attributes:
        points: every grid point, in grid order.
        chosen: index of the chosen point.
        floor: the everyone-validation NDCG@10 a point had to reach (None: no floor).
        model: the fitted hybrid at the chosen settings.
        train_seconds: wall time of every fit of the grid together.
    """

    points: list[GridPoint]
    chosen: int
    floor: float | None
    model: Recommender = field(repr=False)
    train_seconds: float = 0.0

    @property
    def settings(self) -> dict[str, float]:
        """The chosen point's settings."""
        return self.points[self.chosen].settings

    def record(self) -> dict[str, Any]:
        """The selection as plain data for a result file's config."""
        return {
            "selected_on": "cold-valid",
            "selection_metric": f"cold-valid {METRIC}, valid-everyone {METRIC} >= floor",
            "selection_floor": None if self.floor is None else round(self.floor, 5),
            "selection_grid": [
                {
                    **p.settings,
                    "cold_valid": {k: round(v, 5) for k, v in p.cold_valid.items()},
                    "valid_everyone": {k: round(v, 5) for k, v in p.valid_everyone.items()},
                }
                for p in self.points
            ],
            "selected": dict(self.settings),
        }


def choose(points: Sequence[GridPoint], floor: float | None = None) -> int:
    """Index of the point with the best cold validation NDCG@10 among those whose
    everyone-validation NDCG@10 is ≥ `floor`; the best everyone-validation point if none is
    (ties: the earlier point)."""
    if not points:
        raise ValueError("choose: empty grid")
    ok = [i for i, p in enumerate(points) if floor is None or p.valid_everyone[METRIC] >= floor]
    if not ok:
        return max(range(len(points)), key=lambda i: (points[i].valid_everyone[METRIC], -i))
    return max(ok, key=lambda i: (points[i].cold_valid[METRIC], -i))


def _groups(grid: Sequence[Mapping[str, float]]) -> dict[tuple[Any, ...], list[int]]:
    """Grid indices per training setting (every key but the post-training ones)."""
    groups: dict[tuple[Any, ...], list[int]] = {}
    for i, point in enumerate(grid):
        key = tuple(sorted((k, v) for k, v in point.items() if k not in POST_TRAINING))
        groups.setdefault(key, []).append(i)
    return groups


def select_hybrid(
    split: ColdStartSplit,
    config: Mapping[str, Any],
    grid: Sequence[Mapping[str, float]] = GRID,
    *,
    floor: float | None = None,
    rng: int = 0,
    ks: Sequence[int] = KS,
) -> Selection:
    """Fit the hybrid at every point of `grid` (over `config`) on ``split.train``, score each
    on the cold validation sets and choose one (see the module docstring)."""
    from cartwise.models.fit import fit  # late, as in the protocol's tune
    from cartwise.models.hybrid import Hybrid

    if not len(split.cold_valid):
        raise ValueError("select_hybrid: the split has no cold validation users")
    points: list[GridPoint | None] = [None] * len(grid)
    models: dict[int, Hybrid] = {}
    total = 0.0
    for members in _groups(grid).values():
        began = time.perf_counter()
        base = {**config, **{k: v for k, v in grid[members[0]].items() if k not in POST_TRAINING}}
        model = fit("hybrid", base, split.train, valid=split.valid, rng=rng).model
        seconds = time.perf_counter() - began
        total += seconds
        assert isinstance(model, Hybrid)
        for i in members:
            model.set_cold_boost(float(grid[i].get("cold_boost", config.get("cold_boost", 1.0))))
            points[i] = GridPoint(
                dict(grid[i]), hr_ndcg(model, split.cold_valid, ks),
                hr_ndcg(model, split.valid_everyone, ks), seconds,
            )  # fmt: skip
            models[i] = model
    scored = [p for p in points if p is not None]
    chosen = choose(scored, floor)
    model = models[chosen]
    model.set_cold_boost(float(grid[chosen].get("cold_boost", config.get("cold_boost", 1.0))))
    return Selection(scored, chosen, floor, model, total)
