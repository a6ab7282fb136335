"""Serving: the :class:`~cartwise.serving.engine.Engine` facade over the active model, the
catalog snapshot, the scorer, the answer cache and the scenarios (personal, session, item page,
search, sponsored, explain): plain functions over a :class:`~cartwise.serving.context.Context`.
"""
