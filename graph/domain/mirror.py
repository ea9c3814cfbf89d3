"""GraphQL types that mirror the shared dataclasses of `jobs/`, so a shape is declared once.

Every GraphQL type with a dataclass twin is made one way:

    @mirror(outputs.PdfFile, fields=("id", "url", "size_bytes", "pages", "created_at"),
            rename={"size": "size_bytes"})
    class PdfFile:
        @strawberry.field
        def url(self) -> str: ...

The decorated class adds what the dataclass cannot say: resolvers, descriptions
(`text = strawberry.field(description=...)`, its type still the dataclass's), private fields the
resolvers read (`resume_id: strawberry.Private[str | None]`) and fields it fills from a flattened
dict. `fields` is what the API exposes, in its order: a dataclass field not named there is not
exposed (owner ids, raw hashes), so a field added to a dataclass stays hidden until named.

The conversions happen here only: a dataclass `str` named `id` or `*_id` is an ID; a `float` named
`at` or `*_at` is an epoch time, shown as a DateTime (UTC); a nested dataclass is its own mirror (made
with every field if nobody declared it). `build(Type, stored)` fills a type from a dataclass
instance or its `asdict` form (as stored in Redis), converting each value to the field's type.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import operator
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from enum import Enum
from typing import Any, TypeVar, get_args, get_origin

import strawberry
from strawberry.types import get_object_definition
from strawberry.types.base import StrawberryObjectDefinition
from strawberry.types.private import is_private

T = TypeVar("T")
_Convert = Callable[[Any], Any]

_MIRRORS: dict[type, type] = {}


@dataclasses.dataclass(frozen=True)
class _Source:
    """How a mirror's stored form becomes its constructor's arguments."""

    flatten: tuple[str, ...]
    rename: Mapping[str, str]


_SOURCES: dict[type, _Source] = {}
_PLANS: dict[type, dict[str, _Convert | None]] = {}


def mirror(
    cls: type,
    *,
    description: str | None = None,
    fields: Sequence[str] | None = None,
    rename: Mapping[str, str] | None = None,
    flatten: tuple[str, ...] = (),
) -> Callable[[type[T]], type[T]]:
    """Make the decorated class the Strawberry type of dataclass `cls`.

    `fields`: the GraphQL fields in order, by their Python names (after `rename`), the
    dataclass's and the class's own resolvers alike; None: every dataclass field in its order,
    then the class's own. `flatten`: fields whose contents lie flat in the type (a nested
    dataclass's fields take its place; a dict's keys fill what the class declares).
    The description is `description`, else the dataclass's docstring.
    """
    renames = dict(rename or {})

    def make(declared: type[T]) -> type[T]:
        own: dict[str, Any] = dict(inspect.get_annotations(declared))
        annotations: dict[str, Any] = {}
        for field, hint in _mirrored(cls, renames, flatten):
            if fields is not None and field.name not in fields and field.name not in own:
                continue
            annotations[field.name] = own.pop(field.name, None) or _graphql(field.stored, hint)
            if "description" in field.metadata and field.name not in declared.__dict__:
                setattr(declared, field.name, strawberry.field(description=field.metadata["description"]))
        annotations.update(own)
        declared.__annotations__ = annotations
        made = strawberry.type(declared, description=description or _docstring(cls))
        if fields is not None:
            _order(get_object_definition(made, strict=True), fields)
        _MIRRORS[cls] = made
        _SOURCES[made] = _Source(flatten=flatten, rename=renames)
        return made

    return make


class _Field(typing.NamedTuple):
    name: str  # in the GraphQL type (Python spelling)
    stored: str  # in the dataclass, whose name tells an id or a time
    metadata: Mapping[str, Any]


def _mirrored(cls: type, rename: Mapping[str, str], flatten: tuple[str, ...]) -> list[tuple[_Field, Any]]:
    """The fields of dataclass `cls` as the GraphQL type names them, with their dataclass types."""
    hints = typing.get_type_hints(cls)
    found: list[tuple[_Field, Any]] = []
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        if f.name in flatten:
            if dataclasses.is_dataclass(hint):
                found.extend(_mirrored(hint, rename, ()))  # type: ignore[arg-type]
            continue
        found.append((_Field(rename.get(f.name, f.name), f.name, f.metadata), hint))
    return found


def _order(definition: StrawberryObjectDefinition, fields: Sequence[str]) -> None:
    # Private fields stay among the definition's fields until the schema is built; they go last.
    shown = [f for f in definition.fields if not is_private(f.type)]
    named = {f.python_name for f in shown}
    if named != set(fields) or len(fields) != len(named):
        raise TypeError(
            f"{definition.name}: `fields` must name each field once; "
            f"unnamed {sorted(named - set(fields))}, unknown {sorted(set(fields) - named)}"
        )
    position = {name: i for i, name in enumerate(fields)}
    definition.fields.sort(key=lambda f: position.get(f.python_name, len(fields)))


def _docstring(cls: type) -> str | None:
    doc = cls.__doc__
    # A dataclass without a docstring gets its signature as one; that is no description.
    return None if doc is None or doc.startswith(f"{cls.__name__}(") else " ".join(doc.split())


def _graphql(name: str, hint: Any) -> Any:
    """The GraphQL type of the dataclass field `name: hint`."""
    if dataclasses.is_dataclass(hint):
        return _MIRRORS.get(hint) or mirror(hint)(types.new_class(hint.__name__))  # type: ignore[arg-type, union-attr]
    origin = get_origin(hint)
    if origin is list:
        return list[_graphql(name, get_args(hint)[0])]  # type: ignore[misc]
    if origin in (typing.Union, types.UnionType):
        return functools.reduce(operator.or_, (_graphql(name, a) for a in get_args(hint)))
    if hint is str and (name == "id" or name.endswith("_id")):
        return strawberry.ID
    if hint is float and (name == "at" or name.endswith("_at")):
        return datetime
    return hint


def build(graphql_type: type[T], stored: Any) -> T:
    """An instance of a mirrored type from a dataclass instance or its `asdict` form."""
    source = _SOURCES[graphql_type]
    values = _values(stored)
    for name in source.flatten:
        inner = values.pop(name, None)
        values.update(_values(inner) if inner else {})
    for old, new in source.rename.items():
        if old in values:
            values[new] = values.pop(old)
    plan = _PLANS.get(graphql_type) or _PLANS.setdefault(graphql_type, _plan(graphql_type))
    given = {name: values[name] for name in plan if name in values}
    return graphql_type(**{name: (plan[name] or _as_is)(value) for name, value in given.items()})


def _values(stored: Any) -> dict[str, Any]:
    if isinstance(stored, Mapping):
        return dict(stored)
    return {f.name: getattr(stored, f.name) for f in dataclasses.fields(stored)}


def _plan(graphql_type: type) -> dict[str, _Convert | None]:
    """Each field the type is built with, and how a stored value becomes its value (None: as is)."""
    return {name: _converter(hint) for name, hint in typing.get_type_hints(graphql_type).items()}


def _converter(hint: Any) -> _Convert | None:
    origin = get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        present = [a for a in get_args(hint) if a is not type(None)]
        inner = _converter(present[0]) if len(present) == 1 else None
        return None if inner is None else functools.partial(_unless_none, inner)
    if origin is list:
        item = _converter(get_args(hint)[0])
        return None if item is None else functools.partial(_each, item)
    if hint is datetime:
        return _time
    if isinstance(hint, type) and issubclass(hint, Enum):
        return hint  # a stored value becomes its member; a member stays itself
    if hint in _SOURCES:
        return functools.partial(build, hint)
    return None


def _as_is(value: Any) -> Any:
    return value


def _time(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)


def _unless_none(convert: _Convert, value: Any) -> Any:
    return None if value is None else convert(value)


def _each(convert: _Convert, values: list[Any]) -> list[Any]:
    return [convert(v) for v in values]
