"""Offline evaluation: ranking metrics (:mod:`~cartwise.evaluation.metrics`, a leaf the models
may import), the full-ranking protocol, cold start, experiments and reports.

Nothing is imported here, so ``cartwise.evaluation.metrics`` can be imported without the
protocol (which imports the models).
"""
