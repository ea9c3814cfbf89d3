"""What a job's work hands back when it is done: the result, the final message, and the writes
that store its outputs.

The writes are not made by the work itself: they travel with the SUCCEEDED event and are applied
by the emit script in the same atomic step, after its guards (C11). A run that was cancelled or
superseded meanwhile therefore stores nothing, and an output never exists without the success
that links it, nor a success without its outputs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

Value = str | bytes | int | float


@dataclass(frozen=True, slots=True)
class Write:
    command: str
    key: str
    args: list[Value]
    # Made only while the key exists: an object deleted meanwhile stays deleted.
    only_if_exists: bool = False


class Writes:
    """Redis writes recorded for later, with the subset of the pipeline interface that the
    stores use (`save_response`, `save_pdf`, ...), so they can write into either."""

    def __init__(self) -> None:
        self.commands: list[Write] = []

    def update_if_exists(self, name: str, mapping: Mapping[str, Value]) -> None:
        """HSET on a hash only if it still exists when the writes are made."""
        self.commands.append(Write("HSET", name, _pairs(mapping), only_if_exists=True))

    def hset(
        self,
        name: str,
        key: str | None = None,
        value: Value | None = None,
        mapping: Mapping[str, Value] | None = None,
    ) -> None:
        args: list[Value] = [key, value] if key is not None and value is not None else []
        args += _pairs(mapping or {})
        if args:
            self.commands.append(Write("HSET", name, args))

    def set(self, name: str, value: Value) -> None:
        self.commands.append(Write("SET", name, [value]))

    def lpush(self, name: str, *values: Value) -> None:
        self.commands.append(Write("LPUSH", name, list(values)))

    def zadd(self, name: str, mapping: Mapping[str, float]) -> None:
        args: list[Value] = []
        for member, score in mapping.items():
            args += [score, member]
        self.commands.append(Write("ZADD", name, args))

    def zrem(self, name: str, *values: Value) -> None:
        self.commands.append(Write("ZREM", name, list(values)))

    def delete(self, *names: str) -> None:
        for name in names:
            self.commands.append(Write("DEL", name, []))

    def __len__(self) -> int:
        return len(self.commands)


def _pairs(mapping: Mapping[str, Value]) -> list[Value]:
    return [item for pair in mapping.items() for item in pair]


@dataclass(frozen=True)
class Outcome:
    result: Mapping[str, Any]
    writes: Writes = field(default_factory=Writes)
    message: str = "Done"
