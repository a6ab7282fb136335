"""Bodies of the A/B test routes: a definition in, reports out (per variant and scenario)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


Name = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class VariantIn(_Body):
    """One arm: a saved model version (null: whichever is active), ranking settings that
    override the request's (``personalization``, ``diversity``, ``mmr_lambda``,
    ``max_per_category``) and a traffic weight."""

    name: str = Name
    model_version: str | None = Field(default=None, min_length=1, max_length=200)
    weight: float = Field(default=1.0, ge=0, le=1e6, allow_inf_nan=False)
    settings: dict[str, float | int | str] = Field(default_factory=dict, max_length=8)


class ExperimentIn(_Body):
    """A new A/B test; the first variant is the control."""

    id: str = Name
    description: str = Field(default="", max_length=2000)
    variants: list[VariantIn] = Field(min_length=2, max_length=20)
    scenarios: list[Literal["user", "session", "search"]] | None = Field(
        default=None, min_length=1, description="null: every scenario with a shopper/session id"
    )
    planned_impressions: int = Field(
        default=10_000, ge=1, le=10**12, description="per variant; reading before uses mSPRT"
    )
    alpha: float = Field(default=0.05, gt=0, lt=0.5, allow_inf_nan=False)
    salt: str | None = Field(
        default=None, min_length=1, max_length=64, description="null: a random one"
    )


class VariantOut(_Body):
    """A variant as stored."""

    name: str
    model_version: str | None
    weight: float
    settings: dict[str, float | int | str]


class ExperimentOut(_Body):
    """An experiment's definition and state."""

    id: str
    description: str
    status: Literal["running", "stopped"]
    variants: list[VariantOut]
    scenarios: list[str] | None
    planned_impressions: int
    alpha: float
    created_at: float = Field(description="Unix time")
    stopped_at: float | None


class MetricOut(_Body):
    """One metric of a variant, its interval and (not for the control) the difference from
    the control with its interval, p-value and verdict."""

    name: str = Field(description="ctr@k, add_to_cart_rate, purchase_rate, revenue_per_1000")
    value: float | None
    ci_low: float | None
    ci_high: float | None
    effect: float | None = Field(description="variant − control")
    effect_low: float | None
    effect_high: float | None
    p_value: float | None
    verdict: Literal["better", "worse", "no difference yet"] | None


class VariantReportOut(_Body):
    """What one variant served in one scenario, and the feedback on it."""

    variant: str
    model_version: str | None
    control: bool
    answers: int
    units: int = Field(description="distinct shoppers served")
    impressions: int
    clicks: int
    add_to_carts: int
    purchases: int
    revenue: float
    metrics: list[MetricOut]


class ScenarioReportOut(_Body):
    """The variants in one scenario. ``sequential``: read before every variant reached the
    planned impressions, so p-values are always-valid (mSPRT) and intervals are confidence
    sequences. ``sample_ratio_p`` < 0.001 means shoppers did not split as the weights say."""

    scenario: str
    sequential: bool
    sample_ratio_p: float
    variants: list[VariantReportOut]


class ExperimentReportOut(_Body):
    """An experiment and its online metrics per scenario and variant."""

    experiment: ExperimentOut
    k: int
    scenarios: list[ScenarioReportOut]


class ExperimentsOut(_Body):
    """Experiments (running first, then stopped, each oldest first) with their reports."""

    experiments: list[ExperimentReportOut]
