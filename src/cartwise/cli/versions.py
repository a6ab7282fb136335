"""CLI commands for model versions: ``cartwise models list|show|activate|rollback|prune`` and
``cartwise retrain``."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from cartwise.cli.common import (
    ForceOpt,
    GateMarginOpt,
    ModelDirOpt,
    StoreOpt,
    command_on,
    console,
    model_dir,
    one_line_errors,
    open_store,
    parse_settings,
)
from cartwise.config import get_settings
from cartwise.errors import ConfigError

if TYPE_CHECKING:
    from cartwise.lifecycle import Gate, Trained

#: Exit code of ``train``/``retrain`` when the version was saved but the gate refused it.
REFUSED_EXIT = 3

models_app = typer.Typer(
    name="models",
    invoke_without_command=True,
    no_args_is_help=False,
    add_completion=False,
    pretty_exceptions_enable=False,
)
command = command_on(models_app)


@models_app.callback()
def models(ctx: typer.Context, models: ModelDirOpt = None) -> None:
    """List saved model versions; the active one is marked with *.

    Subcommands: list (with metrics), show, activate, rollback, prune.
    """
    ctx.obj = models
    if ctx.invoked_subcommand is not None:
        return
    from cartwise.lifecycle import Versions

    with one_line_errors():
        versions = Versions(model_dir(models))
        active = versions.active()
        for version in versions.list():
            console.print(("* " if version == active else "  ") + version, highlight=False)


def _folder(ctx: typer.Context, given: Path | None) -> Path | str:
    """The model folder: the subcommand's --model-dir, else the group's, else configured."""
    return model_dir(given or (ctx.obj if isinstance(ctx.obj, Path) else None))


def list_versions(ctx: typer.Context, store: StoreOpt = None, models: ModelDirOpt = None) -> None:
    """Versions side by side: training window, offline (validation) and online metrics."""
    from cartwise.lifecycle import Versions
    from cartwise.lifecycle.summary import describe_all

    rows = describe_all(Versions(_folder(ctx, models)), open_store(store))
    table = Table(title="model versions (* active, ↶ rollback target, ! has deleted shoppers)")
    for col in ("", "version", "trained on", "valid ndcg@10", "valid hr@10", "served",
                "impressions", "ctr"):  # fmt: skip
        table.add_column(col, no_wrap=col in ("version", "trained on"))
    for row in rows:
        window = row["window"] or {}
        flags = ("*" if row["active"] else "") + ("↶" if row["rollback_target"] else "")
        flags += "!" if row["deleted_shoppers"] else ""
        online = row["online"]
        table.add_row(
            flags, row["version"],
            f"{_day(window.get('first'))} – {_day(window.get('last'))}" if window else "",
            _num(row["offline"].get("ndcg@10")), _num(row["offline"].get("hr@10")),
            str(online["served"]), str(online["impressions"]), _num(online["ctr"]),
        )  # fmt: skip
    console.print(table)


def show(
    ctx: typer.Context,
    version: Annotated[str | None, typer.Argument(help="version name (default: active)")] = None,
    store: StoreOpt = None,
    models: ModelDirOpt = None,
) -> None:
    """Everything about one version, as JSON: window, settings, offline and online metrics,
    the gate's decision, deleted-shopper mark."""
    from cartwise.errors import NotFoundError
    from cartwise.lifecycle import Versions
    from cartwise.lifecycle.summary import describe, online_by_version

    versions = Versions(_folder(ctx, models))
    name = version or versions.active()
    if name is None:
        raise NotFoundError(f"no active version in {versions.root}; name one to show")
    info = describe(versions, name, online_by_version(open_store(store)))
    console.print_json(json.dumps(info, default=str))


def activate(
    ctx: typer.Context,
    version: Annotated[str, typer.Argument(help="version name ('cartwise models list')")],
    models: ModelDirOpt = None,
) -> None:
    """Make a saved version the active one (servers switch on their next request)."""
    from cartwise.lifecycle import Versions

    previous = Versions(_folder(ctx, models)).activate(version, reason="activated by hand")
    console.print(f"activated {version} (was {previous})", highlight=False)


def rollback(ctx: typer.Context, models: ModelDirOpt = None) -> None:
    """Activate the version that was active before the current one."""
    from cartwise.lifecycle import Versions

    now, was = Versions(_folder(ctx, models)).rollback()
    console.print(f"rolled back to {now} (was {was})", highlight=False)


def prune(
    ctx: typer.Context,
    keep: Annotated[int, typer.Option("--keep", min=0, help="newest versions to keep")],
    models: ModelDirOpt = None,
) -> None:
    """Delete all but the newest --keep versions (never the active one or the rollback
    target)."""
    from cartwise.lifecycle import Versions

    deleted = Versions(_folder(ctx, models)).prune(keep)
    said = ", ".join(deleted) if deleted else "nothing to delete"
    console.print(f"deleted {len(deleted)} versions: {said}", highlight=False)


IfNewEventsOpt = Annotated[
    int | None,
    typer.Option(
        "--if-new-events",
        min=1,
        help="only when at least N events arrived since the active version read the store "
        "(otherwise exit 0, doing nothing: for cron)",
    ),
]
ExcludeDeletedOpt = Annotated[
    bool,
    typer.Option(
        "--exclude-deleted",
        help="retrain when the active version contains shoppers deleted after its training "
        "(a retrain never contains them: their events are gone from the store)",
    ),
]
RetrainModelOpt = Annotated[
    str | None, typer.Option("--model", "-m", help="another model (default: the active one's)")
]
IncrementalOpt = Annotated[
    bool,
    typer.Option(
        "--incremental",
        help="fine-tune the active Transformer (sasrec, hybrid) from its weights on the "
        "events since its training instead of training from scratch; --set changes the "
        "update's learning_rate, epochs, time_budget, ...",
    ),
]


def retrain(
    if_new_events: IfNewEventsOpt = None,
    exclude_deleted: ExcludeDeletedOpt = False,
    model: RetrainModelOpt = None,
    setting: Annotated[
        list[str] | None, typer.Option("--set", help="change a setting key=value (repeatable)")
    ] = None,
    incremental: IncrementalOpt = False,
    gate_margin: GateMarginOpt = None,
    force: ForceOpt = False,
    store: StoreOpt = None,
    models: ModelDirOpt = None,
) -> None:
    """Train the active version's model and settings again on the store up to now and
    activate it through the gate (exit code 3: saved, but the gate refused it).

    With --if-new-events and/or --exclude-deleted it runs only when one of them holds, and
    otherwise exits 0 doing nothing. `cartwise serve --retrain-every 6h` runs it on schedule.
    With --incremental the active version is fine-tuned on the new events instead.
    """
    from cartwise.lifecycle import Versions
    from cartwise.lifecycle.incremental import update_version
    from cartwise.lifecycle.retrain import due, retrain

    if incremental and (model is not None or exclude_deleted):
        raise ConfigError(
            "--incremental fine-tunes the active version: it cannot switch --model, and its "
            "weights still hold what deleted shoppers taught it (--exclude-deleted); drop "
            "--incremental for a full retrain"
        )
    shop, versions = open_store(store), Versions(model_dir(models))
    why = due(shop, versions, if_new_events=if_new_events, exclude_deleted=exclude_deleted)
    if not why.run:
        console.print(f"nothing to do: {why.reason}", highlight=False, soft_wrap=True)
        return
    gate, settings = gate_of(gate_margin, force), parse_settings(setting)
    if incremental:
        console.print(f"updating incrementally: {why.reason}", highlight=False, soft_wrap=True)
        show_trained(update_version(shop, versions, gate=gate, settings=settings, progress=True))
        return
    console.print(f"retraining: {why.reason}", highlight=False, soft_wrap=True)
    show_trained(retrain(shop, versions, gate=gate, model=model, settings=settings,
                         progress=True))  # fmt: skip


def gate_of(margin: float | None, force: bool) -> Gate | None:
    """The activation gate with `margin` (default: the settings'), None with --force."""
    from cartwise.lifecycle import Gate

    if force:
        return None
    return Gate(margin=get_settings().gate_margin if margin is None else margin)


def show_trained(trained: Trained) -> None:
    """Print a training run's outcome; exit with :data:`REFUSED_EXIT` when the gate refused."""
    valid = trained.info.get("validation", {})
    shown = "  ".join(f"{k} {v:.4f}" for k, v in valid.items() if k in ("ndcg@10", "hr@10"))
    name, version = trained.info.get("model"), trained.version
    state = "is active" if trained.activated else "is saved, NOT active"
    console.print(f"trained {name}: version {version} {state}"
                  + (f" (validation {shown})" if shown else ""), highlight=False,
                  soft_wrap=True)  # fmt: skip
    if trained.info.get("incremental"):
        grown = trained.info.get("update", {})
        console.print(f"  incremental update of {trained.info.get('parent')}: "
                      f"{grown.get('new_events', '?')} new events, "
                      f"{grown.get('items_added', '?')} new items", highlight=False,
                      soft_wrap=True)  # fmt: skip
    decision = trained.decision
    if decision is not None:
        console.print(f"  activation gate: {decision.reason}", highlight=False, soft_wrap=True)
        if decision.override:
            console.print(f"  activated anyway: {decision.override}", highlight=False,
                          soft_wrap=True)  # fmt: skip
    if not trained.activated:
        console.print(
            f"  the active version stays; activate this one anyway with 'cartwise models "
            f"activate {version}', or train with --force",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(REFUSED_EXIT)


def _day(iso: str | None) -> str:
    return iso[:10] if iso else "?"


def _num(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, int | float) else "-"


command(list_versions, name="list")
for _fn in (show, activate, rollback, prune):
    command(_fn)


def register(command: Callable[..., Any]) -> None:
    """Add ``retrain`` to the app (``models`` is added as a group by the app)."""
    command(retrain)
