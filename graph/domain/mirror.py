"""GraphQL types that mirror the shared dataclasses of `jobs/`, so a shape is declared once.

`mirror(Cls)` makes a Strawberry type with the same fields (nested dataclasses mirrored too),
and `build(Type, data)` fills one from the dataclass's `asdict` form, as stored in Redis.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, get_args, get_origin

import strawberry

_MIRRORS: dict[type, type] = {}


def mirror(
    cls: type,
    *,
    name: str | None = None,
    description: str | None = None,
    exclude: tuple[str, ...] = (),
    extra: dict[str, Any] | None = None,
) -> type:
    """A Strawberry type with the fields of dataclass `cls` (less `exclude`, plus `extra`)."""
    hints = typing.get_type_hints(cls)
    fields = [f for f in dataclasses.fields(cls) if f.name not in exclude]
    namespace: dict[str, Any] = {"__annotations__": {f.name: _graphql(hints[f.name]) for f in fields}}
    namespace["__annotations__"].update(extra or {})
    for f in fields:
        if "description" in f.metadata:
            namespace[f.name] = strawberry.field(description=f.metadata["description"])
    mirrored = strawberry.type(
        types.new_class(name or cls.__name__, (), {}, lambda ns: ns.update(namespace)),
        description=description or _docstring(cls),
    )
    _MIRRORS[cls] = mirrored
    return mirrored


def _docstring(cls: type) -> str | None:
    doc = cls.__doc__
    # A dataclass without a docstring gets its signature as one; that is no description.
    return None if doc is None or doc.startswith(f"{cls.__name__}(") else " ".join(doc.split())


def build(graphql_type: type, data: dict[str, Any]) -> Any:
    """An instance of a mirrored type from the `asdict` form of its dataclass."""
    hints = typing.get_type_hints(graphql_type)
    return graphql_type(**{key: _value(hints[key], value) for key, value in data.items() if key in hints})


def _graphql(hint: Any) -> Any:
    if dataclasses.is_dataclass(hint):
        return _MIRRORS.get(hint) or mirror(hint)  # type: ignore[arg-type]
    if get_origin(hint) is list:
        return list[_graphql(get_args(hint)[0])]  # type: ignore[misc]
    return hint


def _value(hint: Any, value: Any) -> Any:
    if get_origin(hint) is list:
        return [_value(get_args(hint)[0], v) for v in value]
    if isinstance(value, dict) and isinstance(hint, type) and hasattr(hint, "__strawberry_definition__"):
        return build(hint, value)
    return value
