"""Versions side by side: training window, settings, offline metrics and online metrics.

What ``cartwise models list|show`` prints and ``GET /models`` returns. Offline metrics are the
validation figures of the version's ``metrics.json``; online metrics are what shoppers did with
the answers that version served (:func:`cartwise.data.feedback.online_metrics`).
"""

from __future__ import annotations

from typing import Any

from cartwise.data.feedback import online_metrics
from cartwise.data.store import Store
from cartwise.errors import CartwiseError
from cartwise.lifecycle.versions import Versions

_COUNTS = ("served", "impressions", "clicks", "purchases")


def online_by_version(store: Store) -> dict[str, dict[str, Any]]:
    """Per model version: answers served, impressions, clicks, purchases and CTR, in total
    and per scenario."""
    found: dict[str, dict[str, Any]] = {}
    for row in online_metrics(store):
        version = row["model_version"]
        if not isinstance(version, str):
            continue
        entry = found.setdefault(version, {**{k: 0 for k in _COUNTS}, "scenarios": {}})
        for key in _COUNTS:
            entry[key] += int(row[key])  # type: ignore[call-overload]
        entry["scenarios"][str(row["scenario"])] = {k: row[k] for k in (*_COUNTS, "ctr")}
    for entry in found.values():
        entry["ctr"] = entry["clicks"] / entry["impressions"] if entry["impressions"] else None
    return found


def no_online() -> dict[str, Any]:
    """The online metrics of a version that served nothing yet."""
    return {**{k: 0 for k in _COUNTS}, "ctr": None, "scenarios": {}}


def describe(
    versions: Versions,
    version: str,
    online: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """One version: name, model, whether it is active or the rollback target, when and on
    what it was trained, its settings, offline (validation) and online metrics, the gate's
    decision and whether it contains shoppers deleted since."""
    if not versions.exists(version):
        versions.require(version)  # the NotFoundError that names the fix
    info = versions.info(version)
    try:
        meta: dict[str, Any] = versions.meta(version)
    except CartwiseError as exc:  # listed, but unreadable: say so rather than hide it
        meta = {"model": None, "config": {}, "error": str(exc)}
    holdout = info.get("holdout") or {}
    return {
        "version": version,
        "model": meta.get("model"),
        "active": version == versions.active(),
        "rollback_target": version == versions.rollback_target(),
        "trained_at": info.get("trained_at"),
        "window": info.get("window"),
        "settings": info.get("settings", meta.get("config", {})),
        "config": meta.get("config", {}),
        "data": {k: info.get(k) for k in ("users", "items", "interactions")},
        "holdout": holdout,
        "offline": info.get("validation", {}),
        "online": (online or {}).get(version, no_online()),
        "gate": info.get("gate"),
        "deleted_shoppers": versions.deletion_mark(version),
        "error": meta.get("error"),
    }


def describe_all(versions: Versions, store: Store | None) -> list[dict[str, Any]]:
    """:func:`describe` of every saved version, oldest first (online metrics from `store`)."""
    online = online_by_version(store) if store is not None else {}
    return [describe(versions, v, online) for v in versions.list()]
