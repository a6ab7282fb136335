"""Online experiment arithmetic as pure functions: variant assignment and significance tests.

A leaf like :mod:`cartwise.evaluation.metrics` (numpy, scipy and :mod:`cartwise.errors` only), so
serving, the store's reports, the CLI and the loop simulation (``benchmarks/loop_sim.py``) share
one implementation.

Assignment: ``u = blake2b(salt ‖ 0x00 ‖ unit_id)[:8] / 2⁶⁴`` is uniform on [0, 1); the variant is
the first ``i`` with ``u < (w_0 + … + w_i) / Σw``. A pure function of salt and id, so the same
shopper gets the same variant in every process and after every restart, and a new salt (a new
experiment) reshuffles shoppers independently of earlier experiments.

Rates (CTR, add-to-cart, purchase rate) use the two-proportion z-test; revenue per impression is
a ratio of per-unit sums (shoppers are randomised, impressions are not independent), so its
interval comes from the delta method.

Sequential reading. The dashboard is read whenever someone looks, and a fixed-horizon p-value
read repeatedly before the planned end inflates false positives far above ``alpha`` (checking
daily for a month roughly triples it). We use the *mixture sequential probability ratio test*
(mSPRT, Johari, Koomen, Pekelis & Walsh, "Always Valid Inference", 2017/2022) rather than
alpha-spending: alpha-spending (O'Brien–Fleming, Pocock) needs the number and timing of looks
fixed in advance, while mSPRT gives *always-valid* p-values and confidence sequences valid at
any number of looks taken at any times, which is what a live dashboard does. The price is wider
intervals than the fixed-horizon test; after the planned end the fixed-horizon test applies.
With a normal prior ``N(0, τ²)`` on the effect and the estimate ``θ̂ ~ N(θ, V)``::

    Λ = sqrt(V / (V + τ²)) · exp(θ̂² τ² / (2 V (V + τ²)))        p = min(1, 1 / Λ)
    half-width = sqrt(2 V (V + τ²) / τ² · (log(1/α) + ½ log((V + τ²) / V)))

Strictly, the always-valid p-value is the running minimum of ``1/Λ`` over looks; a single read
returns the current value, which is conservative (never below the running minimum).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
from scipy import stats

from cartwise.errors import DataError

_HASH_SPACE = float(2**64)
# stdlib normal: scipy.stats.norm costs ~1 ms a call, too slow for per-look simulations
_NORMAL = NormalDist()


def assign_variant(salt: str, unit_id: str, weights: Sequence[float]) -> int:
    """Index of the variant that ``unit_id`` (a shopper or session id) falls into.

    ``u = int(blake2b(salt + "\\0" + unit_id, 8 bytes), big-endian) / 2⁶⁴``; returns the first
    ``i`` with ``u < cumsum(w)_i / Σw``. Deterministic across processes (no ``hash()``, whose
    seed changes per process).

    Args:
        salt: the experiment's salt (one per experiment, so experiments assign independently).
        unit_id: shopper id, or session id for anonymous traffic.
        weights: traffic weights, non-negative, summing to more than zero (need not sum to 1).

    Raises:
        DataError: empty, negative, non-finite or all-zero weights.
    """
    cumulative = _cumulative_weights(weights)
    digest = hashlib.blake2b(f"{salt}\0{unit_id}".encode(), digest_size=8).digest()
    u = int.from_bytes(digest, "big") / _HASH_SPACE
    for index, bound in enumerate(cumulative):
        if u < bound:
            return index
    # u < 1 always; float rounding of the last bound can only land here with a zero-weight tail.
    return max(i for i, w in enumerate(weights) if w > 0)


def _cumulative_weights(weights: Sequence[float]) -> list[float]:
    values = [float(w) for w in weights]
    if not values:
        raise DataError("weights is empty: give one traffic weight per variant, e.g. [0.5, 0.5]")
    if any(not math.isfinite(w) or w < 0 for w in values):
        raise DataError(f"weights {values} must be finite and ≥ 0; fix the negative/NaN entry")
    total = sum(values)
    if total <= 0:
        raise DataError(f"weights {values} sum to 0: give at least one variant a positive weight")
    out, running = [], 0.0
    for w in values:
        running += w
        out.append(running / total)
    return out


@dataclass(frozen=True)
class Comparison:
    """Variant B against variant A: ``effect = estimate_b − estimate_a`` with its interval.

    ``ci_low``/``ci_high`` is the ``1 − alpha`` interval (a confidence sequence when
    ``sequential``); ``p_value`` tests ``effect = 0`` (always-valid when ``sequential``).
    """

    estimate_a: float
    estimate_b: float
    effect: float
    ci_low: float
    ci_high: float
    p_value: float
    alpha: float
    sequential: bool = False

    @property
    def significant(self) -> bool:
        """``p_value < alpha``."""
        return self.p_value < self.alpha

    @property
    def verdict(self) -> str:
        """``"b better"``, ``"a better"`` or ``"no difference yet"``."""
        if not self.significant:
            return "no difference yet"
        return "b better" if self.effect > 0 else "a better"


def _z(alpha: float) -> float:
    if not 0 < alpha < 1:
        raise DataError(f"alpha={alpha} must be in (0, 1), e.g. 0.05")
    return _NORMAL.inv_cdf(1 - alpha / 2)


def _two_sided(z: float) -> float:
    """``2 (1 − Φ(|z|)) = erfc(|z| / √2)``."""
    return math.erfc(abs(z) / math.sqrt(2))


def _check_counts(successes: int, n: int, name: str) -> None:
    if n <= 0:
        raise DataError(f"n_{name}={n}: a rate needs at least one trial in variant {name}")
    if not 0 <= successes <= n:
        raise DataError(f"successes_{name}={successes} must be between 0 and n_{name}={n}")


def two_proportion_test(
    successes_a: int, n_a: int, successes_b: int, n_b: int, alpha: float = 0.05
) -> Comparison:
    """Two-sided two-proportion z-test of ``p_b − p_a`` (fixed horizon).

    ``z = (p̂_b − p̂_a) / sqrt(p̂ (1 − p̂) (1/n_a + 1/n_b))`` with the pooled
    ``p̂ = (x_a + x_b) / (n_a + n_b)``; ``p = 2 (1 − Φ(|z|))``. The interval is Wald's, unpooled:
    ``(p̂_b − p̂_a) ± z_{1−α/2} sqrt(p̂_a(1−p̂_a)/n_a + p̂_b(1−p̂_b)/n_b)``.

    Raises:
        DataError: ``n ≤ 0``, successes outside ``[0, n]`` or ``alpha`` outside (0, 1).
    """
    _check_counts(successes_a, n_a, "a")
    _check_counts(successes_b, n_b, "b")
    z_crit = _z(alpha)
    rate_a, rate_b = successes_a / n_a, successes_b / n_b
    effect = rate_b - rate_a
    pooled = (successes_a + successes_b) / (n_a + n_b)
    se_pooled = math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    p_value = 1.0 if se_pooled == 0 else _two_sided(effect / se_pooled)
    se = math.sqrt(rate_a * (1 - rate_a) / n_a + rate_b * (1 - rate_b) / n_b)
    return Comparison(
        rate_a, rate_b, effect, effect - z_crit * se, effect + z_crit * se, p_value, alpha
    )


def wilson_interval(successes: int, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """Wilson score interval of one rate ``x / n`` (good near 0, where CTRs live).

    ``(p̂ + z²/2n ± z sqrt(p̂(1−p̂)/n + z²/4n²)) / (1 + z²/n)``; ``(0, 1)`` when ``n = 0``.
    """
    if n == 0:
        return 0.0, 1.0
    _check_counts(successes, n, "x")
    z = _z(alpha)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def ratio_estimate(numerators: np.ndarray, denominators: np.ndarray) -> tuple[float, float]:
    """Ratio of sums ``R = Σy / Σx`` over units and its delta-method variance.

    Units (shoppers) are independent; the impressions inside one are not. With per-unit
    ``y_i`` (e.g. revenue) and ``x_i`` (impressions), ``n`` units::

        Var(R) ≈ (s_y² − 2 R s_xy + R² s_x²) / (n x̄²)

    Returns:
        ``(R, Var(R))``; the variance is ``inf`` with fewer than two units.

    Raises:
        DataError: different lengths, or no denominator mass.
    """
    y = np.asarray(numerators, dtype=np.float64)
    x = np.asarray(denominators, dtype=np.float64)
    if y.shape != x.shape or y.ndim != 1:
        raise DataError(f"numerators {y.shape} and denominators {x.shape} need one value per unit")
    if x.sum() <= 0:
        raise DataError("denominators sum to 0: the variant has no impressions yet")
    ratio = float(y.sum() / x.sum())
    n = y.size
    if n < 2:
        return ratio, math.inf
    cov = np.cov(np.stack([y, x]), ddof=1)
    var = (cov[0, 0] - 2 * ratio * cov[0, 1] + ratio**2 * cov[1, 1]) / (n * float(x.mean()) ** 2)
    return ratio, max(float(var), 0.0)


def difference_test(
    estimate_a: float, var_a: float, estimate_b: float, var_b: float, alpha: float = 0.05
) -> Comparison:
    """Fixed-horizon z-test of ``b − a`` for two independent normal estimates.

    ``z = (θ̂_b − θ̂_a) / sqrt(V_a + V_b)``, interval ``effect ± z_{1−α/2} sqrt(V_a + V_b)``.
    """
    z_crit = _z(alpha)
    effect = estimate_b - estimate_a
    se = math.sqrt(var_a + var_b)
    if not math.isfinite(se):
        p_value = 1.0
    elif se == 0:
        p_value = 1.0 if effect == 0 else 0.0
    else:
        p_value = _two_sided(effect / se)
    return Comparison(
        estimate_a, estimate_b, effect, effect - z_crit * se, effect + z_crit * se, p_value, alpha
    )


def msprt(effect: float, variance: float, tau: float, alpha: float = 0.05) -> tuple[float, float]:
    """Always-valid p-value and confidence-sequence half-width (mSPRT, normal mixture).

    ``Λ = sqrt(V/(V+τ²)) exp(θ̂² τ² / (2V(V+τ²)))``, ``p = min(1, 1/Λ)``;
    half-width ``sqrt(2V(V+τ²)/τ² (log(1/α) + ½ log((V+τ²)/V)))``.

    Args:
        effect: the estimate ``θ̂`` (b − a).
        variance: its variance ``V`` (> 0).
        tau: standard deviation of the mixing prior, in the effect's units: the size of effect
            the test is most sensitive to (e.g. the planned minimum detectable effect).
        alpha: level of the confidence sequence.

    Returns:
        ``(p_value, half_width)``.
    """
    _z(alpha)
    if tau <= 0 or not math.isfinite(tau):
        raise DataError(f"tau={tau} must be a positive effect size (the mixing prior's sd)")
    if variance <= 0 or not math.isfinite(variance):
        return 1.0, math.inf
    t2, v = tau * tau, variance
    log_lambda = 0.5 * math.log(v / (v + t2)) + effect * effect * t2 / (2 * v * (v + t2))
    p_value = 1.0 if log_lambda <= 0 else math.exp(-log_lambda)
    half = math.sqrt(2 * v * (v + t2) / t2 * (math.log(1 / alpha) + 0.5 * math.log((v + t2) / v)))
    return p_value, half


def sequential(comparison: Comparison, tau: float) -> Comparison:
    """The same comparison read before the planned end: mSPRT p-value and confidence sequence.

    The variance is recovered from the fixed-horizon interval:
    ``V = ((ci_high − ci_low) / (2 z_{1−α/2}))²``.
    """
    z_crit = _z(comparison.alpha)
    variance = ((comparison.ci_high - comparison.ci_low) / (2 * z_crit)) ** 2
    p_value, half = msprt(comparison.effect, variance, tau, comparison.alpha)
    return Comparison(
        comparison.estimate_a,
        comparison.estimate_b,
        comparison.effect,
        comparison.effect - half,
        comparison.effect + half,
        p_value,
        comparison.alpha,
        sequential=True,
    )


def minimum_detectable_effect(
    base_rate: float, n_per_variant: int, alpha: float = 0.05, power: float = 0.8
) -> float:
    """Smallest rate difference a fixed-horizon test detects with ``power``.

    ``MDE = (z_{1−α/2} + z_power) sqrt(2 p (1 − p) / n)``: a natural ``tau`` for :func:`msprt`.
    """
    if n_per_variant <= 0:
        raise DataError(f"n_per_variant={n_per_variant} must be positive (planned impressions)")
    p = min(max(base_rate, 1e-6), 1 - 1e-6)
    return (_z(alpha) + _NORMAL.inv_cdf(power)) * math.sqrt(2 * p * (1 - p) / n_per_variant)


def sample_ratio_test(counts: Sequence[int], weights: Sequence[float]) -> float:
    """χ² goodness-of-fit p-value of observed units per variant against the traffic weights.

    ``χ² = Σ (o_i − e_i)² / e_i`` with ``e_i = N w_i / Σw``, ``k − 1`` degrees of freedom. A tiny
    p-value (< 0.001) is a sample-ratio mismatch: assignment or logging is broken.
    """
    cumulative = _cumulative_weights(weights)
    if len(counts) != len(cumulative):
        raise DataError(f"{len(counts)} counts for {len(cumulative)} weights: give one per variant")
    shares = np.diff(np.concatenate([[0.0], cumulative]))
    observed = np.asarray(counts, dtype=np.float64)
    keep = shares > 0
    total = observed.sum()
    if total == 0 or keep.sum() < 2:
        return 1.0
    if (observed[~keep] > 0).any():
        return 0.0
    expected = total * shares[keep] / shares[keep].sum()
    return float(stats.chisquare(observed[keep], expected).pvalue)
