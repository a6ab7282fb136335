"""Recommendation models.

:mod:`cartwise.models.base` defines the :class:`Recommender` API every model implements and
:mod:`cartwise.models.registry` maps model names to classes (``create("ease", {"reg": 300})``,
``load(path)``). Import the registry explicitly: it pulls in every model, torch included.
"""

from cartwise.models.base import Query, Recommender, Scored, top_k

__all__ = ["Query", "Recommender", "Scored", "top_k"]
