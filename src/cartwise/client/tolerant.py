"""Reading the service's answers tolerantly: fields a newer service added are dropped before
validation. The service's models forbid unknown fields, which is right for the requests it
validates and wrong for a client that may be older than the service it talks to.
"""

from __future__ import annotations

import logging
import types
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel

_log = logging.getLogger(__name__)


def known_fields(cls: type[BaseModel], data: Any) -> Any:
    """`data` without the keys `cls` (and the models inside it) does not declare."""
    if not isinstance(data, dict):
        return data
    out: dict[str, Any] = {}
    for name, value in data.items():
        info = cls.model_fields.get(name)
        if info is None:
            _log.debug("dropping field %r the service sent in a %s", name, cls.__name__)
            continue
        out[name] = _known_as(info.annotation, value)
    return out


def _known_as(annotation: Any, value: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return known_fields(annotation, value)
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is list and isinstance(value, list) and args:
        return [_known_as(args[0], v) for v in value]
    if origin is dict and isinstance(value, dict) and len(args) == 2:
        return {k: _known_as(args[1], v) for k, v in value.items()}
    if origin in (Union, types.UnionType) and isinstance(value, dict):
        for arg in args:
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                return known_fields(arg, value)
    return value
