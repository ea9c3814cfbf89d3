"""Dataclasses as Redis hashes, one field per attribute, by the attributes' types: text as it is,
numbers as decimal text, enums by value, booleans as "1" or "", nested shapes (dataclasses, lists,
dicts) as JSON, and None as "" (which an optional attribute reads back as None)."""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Hashable
from enum import Enum
from functools import cache
from typing import Any, TypeVar, cast, get_args, get_origin

from jobs.core.events import as_text

T = TypeVar("T")


def to_hash(obj: Any, exclude: tuple[str, ...] = ()) -> dict[str, str]:
    return {f.name: _encode(getattr(obj, f.name)) for f in dataclasses.fields(obj) if f.name not in exclude}


def from_hash(cls: type[T], raw: dict[Any, Any], **given: Any) -> T:
    """An instance of dataclass `cls` from its hash; `given` attributes are not read from it."""
    h = {as_text(k): as_text(v) for k, v in raw.items()}
    hints = _hints(cast(Hashable, cls))
    values = dict(given)
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name not in given and f.name in h:
            values[f.name] = _decode(hints[f.name], h[f.name])
    return cls(**values)


@cache
def _hints(cls: Any) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _encode(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else ""
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, int):
        return str(value)
    return json.dumps(value, default=dataclasses.asdict)


def _decode(hint: Any, text: str) -> Any:
    if get_origin(hint) in (typing.Union, types.UnionType):
        inner = [a for a in get_args(hint) if a is not type(None)]
        return None if text == "" else _decode(inner[0], text)
    if hint is bool:
        return text == "1"
    if hint is str:
        return text
    if isinstance(hint, type) and issubclass(hint, (Enum, int, float)):
        return hint(text)
    return _from_json(hint, json.loads(text))


def _from_json(hint: Any, value: Any) -> Any:
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return hint(**{k: _from_json(_hints(hint)[k], v) for k, v in value.items()})
    if get_origin(hint) is list:
        return [_from_json(get_args(hint)[0], v) for v in value]
    return value
