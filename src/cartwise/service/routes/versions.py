"""Model versions: list and show (read scope); activate, roll back, prune (admin scope)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

from cartwise.lifecycle.summary import describe, describe_all, online_by_version
from cartwise.service.routes.common import EngineDep, router
from cartwise.service.schemas import ActivatedOut, ModelsOut, PrunedOut, VersionOut

reader = router("read", "models")
admin = router("admin", "models")

Version = Annotated[str, Path(min_length=1, max_length=200, description="version name")]


@reader.get("/models", response_model=ModelsOut)
def models(engine: EngineDep) -> ModelsOut:
    """Saved model versions, oldest first, each with its training window, settings, offline
    (validation) and online metrics; the active one and the rollback target."""
    versions = engine.versions
    details = [VersionOut.model_validate(d) for d in describe_all(versions, engine.store)]
    return ModelsOut(
        versions=[d.version for d in details],
        active=versions.active(),
        rollback_target=versions.rollback_target(),
        details=details,
    )


@reader.get("/models/{version}", response_model=VersionOut)
def model_version(version: Version, engine: EngineDep) -> VersionOut:
    """One saved version in detail (404 when it is not saved)."""
    online = online_by_version(engine.store)
    return VersionOut.model_validate(describe(engine.versions, version, online))


@admin.post("/models/rollback", response_model=ActivatedOut)
def rollback(engine: EngineDep) -> ActivatedOut:
    """Activate the version that was active before the current one (404 when there is none);
    requests in flight finish on the current one."""
    now, was = engine.versions.rollback()
    return ActivatedOut(active=now, previous=was)


@admin.post("/models/prune", response_model=PrunedOut)
def prune(
    engine: EngineDep,
    keep: Annotated[int, Query(ge=0, le=100_000, description="newest versions to keep")],
) -> PrunedOut:
    """Delete all but the `keep` newest versions; never the active one or the rollback
    target."""
    deleted = engine.versions.prune(keep)
    return PrunedOut(deleted=deleted, kept=engine.versions.list())


@admin.post("/models/{version}/activate", response_model=ActivatedOut)
def activate(version: Version, engine: EngineDep) -> ActivatedOut:
    """Serve another saved version; requests in flight finish on the previous one."""
    previous = engine.versions.activate(version, reason="activated over HTTP")
    return ActivatedOut(active=version, previous=previous)
