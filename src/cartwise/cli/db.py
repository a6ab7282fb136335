"""CLI commands for the store's schema version: ``cartwise db upgrade | current | revision``."""

from __future__ import annotations

from typing import Annotated

import typer

from cartwise.cli.common import StoreOpt, command_on, console
from cartwise.config import get_settings

db_app = typer.Typer(
    help="Schema version of the store: show it, upgrade an older store in place.",
    no_args_is_help=True,
)
command = command_on(db_app)


def _url(store: str | None) -> str:
    return store or get_settings().store_url


@command
def upgrade(
    store: StoreOpt = None,
    revision: Annotated[str, typer.Option(help="version to upgrade to")] = "head",
) -> None:
    """Upgrade the store's schema to the newest version, in place and in one transaction."""
    from cartwise.data import migrate
    from cartwise.data.connect import shown_url, store_url

    before, after = migrate.upgrade(_url(store), revision)
    shown = shown_url(store_url(_url(store)))
    if before == after:
        console.print(f"store {shown}: already at schema version {after}", highlight=False)
    else:
        was = before or "none (made before schema versions)"
        console.print(f"store {shown}: schema version {was} → {after}", highlight=False)


@command
def current(store: StoreOpt = None) -> None:
    """Show the store's schema version and the newest this Cartwise knows."""
    from cartwise.data import migrate

    state = migrate.inspect_store(_url(store))
    newest = migrate.head()
    if state.version == newest:
        verdict = "up to date"
    elif state.empty:
        verdict = "empty: opening it creates the newest schema"
    elif not migrate.is_known(state.version):
        verdict = "newer than this Cartwise: upgrade Cartwise"
    else:
        verdict = "older: run `cartwise db upgrade` (SQLite stores are also upgraded on opening)"
    console.print(
        f"schema version {state.version or 'none'} (newest known: {newest}): {verdict}",
        highlight=False,
    )


@command
def revision(
    message: Annotated[str, typer.Option("--message", "-m", help="what the change does")],
    store: StoreOpt = None,
    autogenerate: Annotated[
        bool, typer.Option(help="fill in the operations by comparing the store with the tables")
    ] = True,
) -> None:
    """For developers: write a new migration after changing cartwise.data.tables."""
    from cartwise.data import migrate

    path = migrate.new_revision(message, _url(store), autogenerate=autogenerate)
    console.print(f"wrote {path}; review it before committing", highlight=False)
