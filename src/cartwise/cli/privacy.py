"""CLI commands for privacy: delete-user, export-user, purge, and ``cartwise deletions list``."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from cartwise.cli.common import (
    ModelDirOpt,
    StoreOpt,
    console,
    err_console,
    model_dir,
    one_line_errors,
    open_store,
)
from cartwise.data.retention import PurgeReport

deletions_app = typer.Typer(
    name="deletions",
    help="Deletion receipts: keyed hash of the shopper's id, rows removed, time.",
    no_args_is_help=True,
)


def delete_user(
    user_id: Annotated[str, typer.Argument(help="external id of the shopper to forget")],
    store: StoreOpt = None,
    models: ModelDirOpt = None,
) -> None:
    """Delete a shopper, their events and everything derived from them; keep a receipt and
    mark the saved model versions as containing a deleted shopper."""
    from cartwise.lifecycle import Versions
    from cartwise.serving.privacy import forget_shopper

    done = forget_shopper(open_store(store), Versions(model_dir(models)), user_id)
    receipt = done.receipt
    console.print(f"deleted user {user_id}: " + json.dumps(receipt.removed), highlight=False)
    marked = ", ".join(done.marked_versions) or "none"
    console.print(
        f"receipt {receipt.receipt_id} at {receipt.deleted_at.isoformat(timespec='seconds')}; "
        f"model versions marked as containing a deleted shopper: {marked}",
        highlight=False,
    )


def export_user(
    user_id: Annotated[str, typer.Argument(help="external id of the shopper")],
    out: Annotated[
        Path | None, typer.Option("--out", help="write the JSON here (default: standard output)")
    ] = None,
    store: StoreOpt = None,
) -> None:
    """Everything stored about a shopper, as JSON (an access request)."""
    from cartwise.data.access import export_user as export

    text = json.dumps(export(open_store(store), user_id), indent=2, default=str)
    if out is None:
        typer.echo(text)
        return
    out.write_text(text + "\n")
    console.print(f"wrote everything stored about {user_id} to {out}", highlight=False)


def purge(
    older_than: Annotated[
        str, typer.Option("--older-than", help="age of what to delete: 365d, 90d, 12h, 2w")
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="count what would be deleted; delete nothing")
    ] = False,
    batch_size: Annotated[
        int, typer.Option(min=1, help="most rows of one table per transaction")
    ] = 5000,
    store: StoreOpt = None,
) -> None:
    """Delete events, served answers and their feedback older than an age (retention).

    Oldest first, one transaction per batch: safe to stop with Ctrl-C (what is gone is what a
    purge with an earlier cut-off would have removed) and to run again to finish."""
    from cartwise.data import retention

    age = retention.parse_age(older_than, name="--older-than")
    opened = open_store(store)
    last: list[PurgeReport] = []
    try:
        report = retention.purge(
            opened, age, dry_run=dry_run, batch_size=batch_size, on_batch=last.append
        )
    except KeyboardInterrupt:
        if last:
            err_console.print(f"interrupted: {_counts(last[-1])} deleted so far (each batch "
                              "complete); run the same command again to finish")  # fmt: skip
        else:
            err_console.print("interrupted: nothing was deleted")
        raise typer.Exit(130) from None
    verb = "would delete" if report.dry_run else "deleted"
    console.print(f"{verb} {_counts(report)} dated before {report.cutoff.isoformat()}",
                  highlight=False)  # fmt: skip


def _counts(report: PurgeReport) -> str:
    return (
        f"{report.events:,} events, {report.served:,} served answers, "
        f"{report.feedback:,} feedback rows"
    )


@deletions_app.command(name="list")
def list_deletions(
    user: Annotated[
        str | None, typer.Option("--user", help="only the receipts of this shopper's id")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="most receipts shown")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON lines")] = False,
    store: StoreOpt = None,
) -> None:
    """List deletion receipts, newest first."""
    with one_line_errors():
        found = open_store(store).deletion_receipts(user_id=user, limit=limit)
    if as_json:
        for receipt in found:
            typer.echo(json.dumps(receipt.as_dict()))
        return
    table = Table(title="Deletion receipts")
    for column in ("receipt", "deleted at", "rows removed", "id hash"):
        table.add_column(column)
    for r in found:
        removed = ", ".join(f"{k} {v}" for k, v in r.removed.items() if v)
        when = r.deleted_at.isoformat(timespec="seconds")
        table.add_row(r.receipt_id, when, removed, r.id_hash[:16] + "…")
    console.print(table)


def register(command: Callable[[Callable[..., Any]], Any]) -> None:
    """Add this module's commands to the app."""
    for fn in (delete_user, export_user, purge):
        command(fn)
