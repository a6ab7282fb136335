"""Offline evaluation: ranking metrics and the full-ranking protocol."""

from cartwise.evaluation.protocol import EvalResult, evaluate, tune

__all__ = ["EvalResult", "evaluate", "tune"]
