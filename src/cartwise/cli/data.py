"""CLI commands for data: ingest and demo."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from cartwise.cli.common import ModelDirOpt, StoreOpt, console, model_dir, open_store


class RecordKind(StrEnum):
    """What a file holds."""

    items = "items"
    users = "users"
    events = "events"


def ingest(
    kind: Annotated[RecordKind, typer.Argument(help="what the file holds")],
    file: Annotated[Path, typer.Argument(help="CSV, Parquet or JSONL file, optionally .gz")],
    mapping: Annotated[
        list[str] | None,
        typer.Option("--map", help="field=column, e.g. --map user_id=CustomerID (repeatable)"),
    ] = None,
    unknown_items: Annotated[
        str, typer.Option(help="events naming items not in the catalog: reject | placeholder")
    ] = "reject",
    on_duplicate: Annotated[
        str, typer.Option(help="the same id twice in one file: error | first | last")
    ] = "error",
    kind_default: Annotated[
        str | None,
        typer.Option("--kind", help="event kind for every row when the file has no kind column"),
    ] = None,
    negative_value: Annotated[
        str,
        typer.Option(help="events with a negative value (cancellations): return | skip | error"),
    ] = "error",
    missing_user: Annotated[
        str, typer.Option(help="events without a user id: error | skip (counted)")
    ] = "error",
    kind_map: Annotated[
        list[str] | None,
        typer.Option(
            "--kind-map",
            help="the file's kind values as Cartwise kinds, e.g. --kind-map "
            "pv=view,cart=add_to_cart,buy=purchase (repeatable)",
        ),
    ] = None,
    store: StoreOpt = None,
) -> None:
    """Import items, users or events from a file, all or nothing."""
    from cartwise.data.ingest.files import ingest_file, parse_kind_map, parse_mapping

    summary = ingest_file(
        open_store(store),
        kind.value,
        file,
        mapping=parse_mapping(mapping or []),
        unknown_items=unknown_items,  # type: ignore[arg-type]
        on_duplicate=on_duplicate,  # type: ignore[arg-type]
        default_kind=kind_default,
        negative_value=negative_value,  # type: ignore[arg-type]
        missing_user=missing_user,  # type: ignore[arg-type]
        progress=True,
        kind_map=parse_kind_map(kind_map or []),
    )
    for line in summary.lines():
        console.print(line, highlight=False)


def demo(
    seed: Annotated[int, typer.Option(help="seed of the synthetic store")] = 7,
    items: Annotated[int, typer.Option(min=110, help="products in the demo catalog")] = 3000,
    shoppers: Annotated[int, typer.Option(min=1, help="shoppers in the demo store")] = 5000,
    users: Annotated[int, typer.Option(help="how many shoppers to show")] = 3,
    model: Annotated[str, typer.Option(help="model to train if none is active")] = "",
    fresh: Annotated[bool, typer.Option(help="rebuild the store and retrain")] = False,
    serve: Annotated[
        bool, typer.Option(help="then serve the HTTP API on 127.0.0.1:8000 (Ctrl-C stops it)")
    ] = True,
    store: StoreOpt = None,
    models: ModelDirOpt = None,
) -> None:
    """Build the demo store, train a model, show recommendations for a few shoppers, serve."""
    from cartwise.cli import service as cli_service
    from cartwise.cli.demo import run_demo
    from cartwise.data.sources.demo import DemoConfig

    run_demo(
        open_store(store),
        model_dir(models),
        demo=DemoConfig(seed=seed, n_items=items, n_users=shoppers),
        show=users,
        model=model or None,
        fresh=fresh,
        console=console,
    )
    if serve:
        cli_service.serve(store=store, models=models, insecure_local=True)


def register(command: Callable[..., Any]) -> None:
    """Add this module's commands to the app."""
    for fn in (ingest, demo):
        command(fn)
