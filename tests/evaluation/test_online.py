"""Online experiment arithmetic against hand-computed values; assignment stable and uniform."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from scipy import stats

from cartwise.errors import DataError
from cartwise.evaluation.online import (
    assign_variant,
    difference_test,
    minimum_detectable_effect,
    msprt,
    ratio_estimate,
    sample_ratio_test,
    sequential,
    two_proportion_test,
    wilson_interval,
)


def test_two_proportion_hand_values() -> None:
    # 100/1000 vs 130/1000: pooled p = 0.115, se = sqrt(0.115·0.885·0.002) = 0.0142671,
    # z = 0.03 / 0.0142671 = 2.10274, p = 2(1 − Φ(2.10274)) = 0.035488;
    # unpooled se = sqrt(0.09/1000 + 0.1131/1000) = 0.0142513, CI = 0.03 ± 1.959964·0.0142513.
    result = two_proportion_test(100, 1000, 130, 1000)
    assert result.effect == pytest.approx(0.03)
    assert result.p_value == pytest.approx(0.035488, abs=2e-6)
    assert result.ci_low == pytest.approx(0.0020679, abs=1e-6)
    assert result.ci_high == pytest.approx(0.0579321, abs=1e-6)
    assert result.significant and result.verdict == "b better"
    flipped = two_proportion_test(130, 1000, 100, 1000)
    assert flipped.effect == pytest.approx(-0.03) and flipped.verdict == "a better"
    assert flipped.p_value == pytest.approx(result.p_value)


def test_two_proportion_degenerate_and_bad_input() -> None:
    same = two_proportion_test(0, 10, 0, 20)
    assert same.p_value == 1.0 and same.effect == 0.0 and not same.significant
    with pytest.raises(DataError, match="n_a=0"):
        two_proportion_test(0, 0, 1, 10)
    with pytest.raises(DataError, match="successes_b=11"):
        two_proportion_test(1, 10, 11, 10)
    with pytest.raises(DataError, match="alpha"):
        two_proportion_test(1, 10, 1, 10, alpha=1.5)


def test_wilson_hand_values() -> None:
    # 5/50, z = 1.959964: centre (0.1 + z²/100)/(1 + z²/50), half z·sqrt(0.0018 + z²/10⁴)/(…)
    low, high = wilson_interval(5, 50)
    assert low == pytest.approx(0.0434758, abs=1e-6)
    assert high == pytest.approx(0.2136023, abs=1e-6)
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_ratio_delta_method_hand_values() -> None:
    # y = [0, 10, 20], x = [1, 1, 2]: R = 30/4 = 7.5, s_y² = 100, s_x² = 1/3, s_xy = 5,
    # Var = (100 − 2·7.5·5 + 7.5²/3) / (3 · (4/3)²) = 43.75 / (16/3) = 8.203125
    ratio, var = ratio_estimate(np.array([0.0, 10.0, 20.0]), np.array([1.0, 1.0, 2.0]))
    assert ratio == 7.5
    assert var == pytest.approx(8.203125)
    assert ratio_estimate(np.array([3.0]), np.array([2.0]))[1] == math.inf
    with pytest.raises(DataError, match="no impressions"):
        ratio_estimate(np.array([1.0]), np.array([0.0]))


def test_difference_test_hand_values() -> None:
    # effect 2, se = sqrt(1 + 3) = 2: z = 1, p = 2(1 − Φ(1)) = 0.317311
    result = difference_test(1.0, 1.0, 3.0, 3.0)
    assert result.effect == 2.0
    assert result.p_value == pytest.approx(0.3173105, abs=1e-6)
    assert result.ci_low == pytest.approx(2 - 1.959964 * 2, abs=1e-5)


def test_msprt_hand_values() -> None:
    # θ̂ = 0.03, V = 0.0142513², τ = 0.02: Λ = sqrt(V/(V+τ²)) exp(θ̂²τ²/(2V(V+τ²))) = 2.522676
    variance = 0.1 * 0.9 / 1000 + 0.13 * 0.87 / 1000
    p_value, half = msprt(0.03, variance, tau=0.02)
    assert p_value == pytest.approx(1 / 2.5226757, rel=1e-6)
    assert half == pytest.approx(0.0465620, abs=1e-6)
    # the sequential reading is wider and less significant than the fixed-horizon one
    fixed = two_proportion_test(100, 1000, 130, 1000)
    seq = sequential(fixed, tau=0.02)
    assert seq.sequential and seq.p_value > fixed.p_value and not seq.significant
    assert seq.ci_low == pytest.approx(0.03 - 0.0465620, abs=1e-6)
    assert msprt(0.0, 1e-4, tau=0.01)[0] == 1.0
    with pytest.raises(DataError, match="tau"):
        msprt(0.1, 1e-4, tau=0.0)


def test_msprt_keeps_error_under_alpha_with_many_looks() -> None:
    # A/A test read 50 times: the fixed-horizon test at every look rejects far more than 5 %
    # of runs; the always-valid p-value stays below it.
    rng = np.random.default_rng(0)
    runs, looks, step, rate = 400, 50, 200, 0.1
    fixed_hits = seq_hits = 0
    for _ in range(runs):
        a = rng.random((looks * step,)) < rate
        b = rng.random((looks * step,)) < rate
        fixed_any = seq_any = False
        for look in range(1, looks + 1):
            n = look * step
            result = two_proportion_test(int(a[:n].sum()), n, int(b[:n].sum()), n)
            fixed_any |= result.significant
            seq_any |= sequential(result, tau=0.02).significant
        fixed_hits += fixed_any
        seq_hits += seq_any
    assert fixed_hits / runs > 0.15
    assert seq_hits / runs <= 0.07


def test_minimum_detectable_effect_hand_value() -> None:
    # (1.959964 + 0.841621) · sqrt(2 · 0.1 · 0.9 / 1000) = 2.801585 · 0.0134164 = 0.0375872
    assert minimum_detectable_effect(0.1, 1000) == pytest.approx(0.0375872, abs=1e-6)


def test_sample_ratio_hand_value() -> None:
    # [60, 40] vs 50/50: χ² = 2 · 10²/50 = 4, df 1, p = 0.0455003
    assert sample_ratio_test([60, 40], [0.5, 0.5]) == pytest.approx(0.0455003, abs=1e-6)
    assert sample_ratio_test([0, 0], [1, 1]) == 1.0
    with pytest.raises(DataError, match="one per variant"):
        sample_ratio_test([1, 2, 3], [1, 1])


def test_assignment_is_a_pure_function_of_salt_and_id() -> None:
    ids = [f"shopper-{i}" for i in range(200)]
    first = [assign_variant("exp-1", u, [0.5, 0.5]) for u in ids]
    assert first == [assign_variant("exp-1", u, [0.5, 0.5]) for u in ids]
    assert first == [assign_variant("exp-1", u, [1, 1]) for u in ids]  # weights are normalised
    # another process (another PYTHONHASHSEED) assigns the same way
    code = (
        "from cartwise.evaluation.online import assign_variant;"
        "print(''.join(str(assign_variant('exp-1', f'shopper-{i}', [0.5, 0.5]))"
        " for i in range(200)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "12345", "PYTHONPATH": ":".join(sys.path)},
    ).stdout.strip()
    assert out == "".join(map(str, first))
    # a different salt reshuffles
    other = [assign_variant("exp-2", u, [0.5, 0.5]) for u in ids]
    assert other != first


@pytest.mark.parametrize("weights", [[0.5, 0.5], [0.2, 0.8], [0.1, 0.3, 0.6]])
def test_assignment_is_balanced(weights: list[float]) -> None:
    n = 20_000
    counts = np.bincount(
        [assign_variant("balance", f"u{i}", weights) for i in range(n)], minlength=len(weights)
    )
    expected = n * np.asarray(weights) / sum(weights)
    assert stats.chisquare(counts, expected).pvalue > 0.001
    assert sample_ratio_test(counts.tolist(), weights) > 0.001


def test_assignment_zero_weight_and_bad_weights() -> None:
    assert {assign_variant("s", f"u{i}", [0, 1, 0]) for i in range(500)} == {1}
    with pytest.raises(DataError, match="empty"):
        assign_variant("s", "u", [])
    with pytest.raises(DataError, match="sum to 0"):
        assign_variant("s", "u", [0, 0])
    with pytest.raises(DataError, match="≥ 0"):
        assign_variant("s", "u", [1, -1])
