"""Exceptions raised by Cartwise.

Every message names the input (file, line, field or id) and says how to fix it. The CLI prints
the message on one line; the service maps each class to a 4xx JSON body with the same text.
"""

from __future__ import annotations

from collections.abc import Sequence


class CartwiseError(Exception):
    """Base class of every error Cartwise raises on purpose."""


class ConfigError(CartwiseError):
    """A setting or model configuration is invalid."""


class InputError(CartwiseError):
    """Input data (a file, a record or a request body) is invalid.

    Attributes:
        source: file name or request part the problem is in, if known.
        line: 1-based line (or row) number, if known.
        field: the offending field or column, if known.
    """

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.source = source
        self.line = line
        self.field = field
        self.detail = message
        where = []
        if source is not None:
            where.append(str(source))
        if line is not None:
            where.append(f"line {line}")
        if field is not None:
            where.append(f"field '{field}'")
        prefix = ", ".join(where)
        super().__init__(f"{prefix}: {message}" if prefix else message)


class BatchError(InputError):
    """A batch with bad rows: every problem as (row index, field, message); nothing was stored."""

    def __init__(self, what: str, problems: Sequence[tuple[int, str, str]], fix: str) -> None:
        self.problems = list(problems)
        index, field, message = self.problems[0]
        super().__init__(
            f"{len(self.problems)} bad row(s), nothing was stored; first: {message}. {fix}",
            source=what,
            line=index + 1,
            field=field,
        )


class IngestError(InputError):
    """A file could not be imported; nothing from it was written to the store."""


class NotFoundError(CartwiseError):
    """An item, user or model version does not exist."""


class StoreError(CartwiseError):
    """The store could not be opened or written."""


class DataError(CartwiseError):
    """A dataset is unusable for the requested operation (e.g. empty, too small)."""


class ModelError(CartwiseError):
    """A model cannot be trained, used, saved or loaded as asked."""


class NotFittedError(ModelError):
    """A model was used before `fit` (or `load`)."""


class ResourceError(CartwiseError):
    """An operation would need more memory or time than is available."""
