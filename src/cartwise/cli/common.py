"""Pieces shared by the CLI modules: console, common options, one-line error handling."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from cartwise.config import get_settings
from cartwise.data.store import Store
from cartwise.errors import CartwiseError

console = Console()
err_console = Console(stderr=True)

StoreOpt = Annotated[
    str | None,
    typer.Option("--store", help="SQLite path or SQLAlchemy URL [env CARTWISE_STORE_URL]"),
]
ModelDirOpt = Annotated[
    Path | None, typer.Option("--model-dir", help="folder of saved models [env CARTWISE_MODEL_DIR]")
]


class DebugFlag:
    """Whether --debug was given (set by the app callback for this invocation)."""

    on = False


@contextmanager
def one_line_errors() -> Iterator[None]:
    """Turn exceptions into a one-line message and a non-zero exit (traceback with --debug)."""
    try:
        yield
    except (typer.Exit, typer.Abort):
        raise
    except CartwiseError as exc:
        if DebugFlag.on:
            raise
        err_console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        err_console.print("interrupted: nothing partial was saved")
        raise typer.Exit(130) from None
    except Exception as exc:
        if DebugFlag.on:
            raise
        err_console.print(
            f"[red]error:[/red] {type(exc).__name__}: {exc} (run with --debug for the traceback)",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(1) from None


def command_on(app: typer.Typer) -> Callable[[Callable[..., Any]], Any]:
    """Decorator registering a function as a command of `app`, with one-line errors."""

    def register(fn: Callable[..., Any]) -> Any:
        @functools.wraps(fn)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            with one_line_errors():
                return fn(*args, **kwargs)

        return app.command(name=fn.__name__.replace("_", "-"))(wrapped)

    return register


def open_store(store: str | None) -> Store:
    """Open the store named on the command line, else the configured one."""
    return Store.open(store or get_settings().store_url)


def model_dir(path: Path | None) -> Path:
    """The model folder named on the command line, else the configured one."""
    return path or get_settings().model_dir
