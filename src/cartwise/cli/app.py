"""Command-line interface: thin typer commands over the Store, ingestion and the Engine.

Every command prints a one-line error and exits non-zero on failure; ``--debug`` shows the
traceback too. Commands live by area in :mod:`cartwise.cli.data`, `.models` and `.service`.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from cartwise.cli import data as cli_data
from cartwise.cli import db as cli_db
from cartwise.cli import experiments as cli_experiments
from cartwise.cli import kinds as cli_kinds
from cartwise.cli import models as cli_models
from cartwise.cli import privacy as cli_privacy
from cartwise.cli import service as cli_service
from cartwise.cli import versions as cli_versions
from cartwise.cli.common import (
    DebugFlag,
    StoreOpt,
    command_on,
    console,
    open_store,
)

app = typer.Typer(
    name="cartwise",
    help="Cartwise: recommendations for online stores.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
command = command_on(app)


#: Loggers whose INFO lines are progress (one line per training epoch, per fitted model, per
#: import): written to stderr when it is not a terminal (where bars show progress instead).
PROGRESS_LOGGERS = ("cartwise.training", "cartwise.models.fit", "cartwise.data.ingest")


@app.callback()
def main(
    debug: Annotated[bool, typer.Option("--debug", help="show tracebacks on errors")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="log progress details")] = False,
    log_file: Annotated[
        Path | None, typer.Option("--log-file", help="also write progress and details here")
    ] = None,
) -> None:
    """Cartwise: ingest a store's data, train recommenders, serve recommendations."""
    DebugFlag.on = debug
    setup_logging(verbose, log_file, terminal=sys.stderr.isatty())


def setup_logging(verbose: bool, log_file: Path | None, *, terminal: bool) -> None:
    """Warnings to stderr (everything with --verbose); progress lines to stderr too when it is
    not a terminal (a log file, a CI job); everything at INFO to `log_file` when given.
    Calling it again (another command in the same process) replaces what it set up."""
    logging.basicConfig(force=True)
    root = logging.getLogger()
    for handler in root.handlers:
        handler.setLevel(logging.INFO if verbose else logging.WARNING)
    root.setLevel(logging.INFO if verbose or log_file is not None else logging.WARNING)
    fmt = logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s")
    for name in PROGRESS_LOGGERS:
        logger = logging.getLogger(name)
        for old in [h for h in logger.handlers if getattr(h, "_cartwise_cli", False)]:
            logger.removeHandler(old)
        logger.setLevel(logging.INFO if not terminal or verbose or log_file else logging.NOTSET)
        if not terminal and not verbose:
            _attach(logger, logging.StreamHandler(sys.stderr), fmt)
    if log_file is not None:
        _attach(root, logging.FileHandler(log_file), fmt)


def _attach(logger: logging.Logger, handler: logging.Handler, fmt: logging.Formatter) -> None:
    handler.setFormatter(fmt)
    handler.setLevel(logging.INFO)
    handler._cartwise_cli = True  # type: ignore[attr-defined]
    logger.addHandler(handler)


@command
def stats(store: StoreOpt = None) -> None:
    """Show counts of items, users and events, and the event time range."""
    info = open_store(store).stats()
    table = Table(title="Cartwise store", show_header=False)
    for key in ("items", "users", "events", "first_event", "last_event"):
        table.add_row(key, str(info[key]))
    for kind, n in info["events_by_kind"].items():
        table.add_row(f"  {kind}", str(n))
    console.print(table)


@command
def export(
    folder: Annotated[Path, typer.Argument(help="output folder for the Parquet files")],
    store: StoreOpt = None,
) -> None:
    """Export items, users and events to Parquet files."""
    paths = open_store(store).export(folder)
    for name, path in paths.items():
        console.print(f"{name}: {path}", highlight=False)


cli_data.register(command)
cli_privacy.register(command)
cli_models.register(command)
cli_versions.register(command)
cli_service.register(command)
app.add_typer(cli_db.db_app, name="db")
app.add_typer(cli_kinds.app)
app.add_typer(cli_privacy.deletions_app)
app.add_typer(cli_versions.models_app, name="models")
app.add_typer(cli_experiments.experiments_app, name="experiments")
app.add_typer(cli_experiments.report_app, name="report")
