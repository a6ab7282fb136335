"""CLI commands for event kinds: ``cartwise kinds add NAME`` and ``cartwise kinds list``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from cartwise.cli.common import StoreOpt, console, one_line_errors, open_store

app = typer.Typer(
    name="kinds",
    help="Event kinds: the built-in ones and those the shop declares (e.g. favourite).",
    no_args_is_help=True,
)


@app.command()
def add(
    name: Annotated[
        str, typer.Argument(help="the kind as files and HTTP write it, e.g. favourite")
    ],
    positive: Annotated[
        bool,
        typer.Option(
            "--positive/--not-positive",
            help="whether the kind expresses interest in the item (then it feeds every model)",
        ),
    ] = True,
    store: StoreOpt = None,
) -> None:
    """Declare a shop-defined event kind; files and POST /events accept it from then on."""
    with one_line_errors():
        found = open_store(store).declare_kind(name, positive=positive)
    what = "positive (interest)" if found.positive else "not positive"
    console.print(f"event kind '{found.name}' declared: {what}", highlight=False)


@app.command(name="list")
def list_kinds(store: StoreOpt = None) -> None:
    """List the event kinds the store accepts."""
    table = Table(title="Event kinds")
    for column in ("kind", "positive", "origin", "declared at"):
        table.add_column(column)
    with one_line_errors():
        kinds = open_store(store).event_kinds()
    for kind in kinds:
        origin = "built-in" if kind.builtin else "declared"
        when = kind.created_at.isoformat(timespec="seconds") if kind.created_at else ""
        table.add_row(kind.name, "yes" if kind.positive else "no", origin, when)
    console.print(table)
