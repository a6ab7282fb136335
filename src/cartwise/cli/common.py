"""Pieces shared by the CLI modules: console, common options, one-line error handling."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from typer.core import TyperCommand

from cartwise.config import get_settings, model_root
from cartwise.data.store import Store
from cartwise.errors import CartwiseError, ConfigError

console = Console()
err_console = Console(stderr=True)

StoreOpt = Annotated[
    str | None,
    typer.Option("--store", help="SQLite path or SQLAlchemy URL [env CARTWISE_STORE_URL]"),
]
ModelDirOpt = Annotated[
    Path | None, typer.Option("--model-dir", help="folder of saved models [env CARTWISE_MODEL_DIR]")
]
GateMarginOpt = Annotated[
    float | None,
    typer.Option(
        "--gate-margin",
        min=0.0,
        max=0.99,
        help="activate the new version only if its validation NDCG@10 is at least "
        "(1 - margin) x the active version's on the same holdout [env CARTWISE_GATE_MARGIN, 0.02]",
    ),
]
ForceOpt = Annotated[
    bool, typer.Option("--force", help="activate the new version whatever the gate says")
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


def command_on(app: typer.Typer) -> Callable[..., Any]:
    """Decorator registering a function as a command of `app`, with one-line errors (keyword
    arguments go to ``app.command``, e.g. ``cls=BareStoreCommand``)."""

    def register(fn: Callable[..., Any], **options: Any) -> Any:
        @functools.wraps(fn)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            with one_line_errors():
                return fn(*args, **kwargs)

        options.setdefault("name", fn.__name__.replace("_", "-"))
        return app.command(**options)(wrapped)

    return register


#: What a bare ``--store`` (no URL) stands for: the configured store (see :func:`open_store`).
CONFIGURED_STORE = ""


class BareStoreCommand(TyperCommand):
    """A command whose ``--store`` may come without a URL (last, or before another option):
    it then names the configured store, as in ``cartwise evaluate --store``."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:  # ctx: typer's click Context
        fixed: list[str] = []
        for pos, arg in enumerate(args):
            fixed.append(arg)
            following = args[pos + 1] if pos + 1 < len(args) else None
            if arg == "--store" and (following is None or following.startswith("-")):
                fixed.append(CONFIGURED_STORE)
        return super().parse_args(ctx, fixed)


def open_store(store: str | None) -> Store:
    """Open the store named on the command line, else the configured one."""
    return Store.open(store or get_settings().store_url)


def model_dir(path: Path | None) -> Path | str:
    """The model folder named on the command line, else the configured one
    (``CARTWISE_MODEL_URL`` when set, else ``CARTWISE_MODEL_DIR``)."""
    return path or model_root(get_settings())


def parse_settings(pairs: list[str] | None) -> dict[str, Any]:
    """``["epochs=5", "loss=sampled"]`` → ``{"epochs": 5, "loss": "sampled"}`` (JSON values)."""
    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set '{pair}': expected key=value, e.g. --set epochs=5")
        try:
            out[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            out[key.strip()] = raw
    return out
