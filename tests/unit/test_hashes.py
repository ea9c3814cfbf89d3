"""The hash codec (jobs/core/hashes.py): dataclasses as Redis hashes and back, by their attributes' types."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from jobs.core.hashes import from_hash, to_hash


class Colour(Enum):
    RED = "red"
    BLUE = "blue"


@dataclass(frozen=True)
class Part:
    name: str
    size: int


@dataclass(frozen=True)
class Record:
    title: str
    count: int
    ratio: float
    done: bool
    colour: Colour
    note: str | None = None
    limit: int | None = None
    parts: list[Part] = field(default_factory=list)
    meta: dict[str, int] = field(default_factory=dict)


FULL = Record(
    title="CV | 2024",
    count=42,
    ratio=0.1,
    done=True,
    colour=Colour.BLUE,
    note="",
    limit=7,
    parts=[Part("a", 1), Part("b", 2)],
    meta={"x": 1},
)


def test_each_attribute_is_one_field_written_by_its_type():
    assert to_hash(FULL) == {
        "title": "CV | 2024",
        "count": "42",
        "ratio": "0.1",
        "done": "1",
        "colour": "blue",
        "note": "",
        "limit": "7",
        "parts": '[{"name": "a", "size": 1}, {"name": "b", "size": 2}]',
        "meta": '{"x": 1}',
    }


def test_none_and_false_are_empty_text():
    empty = Record("t", 0, 0.0, False, Colour.RED)
    encoded = to_hash(empty)
    assert (encoded["done"], encoded["note"], encoded["limit"], encoded["count"]) == ("", "", "", "0")


def test_a_record_reads_back_equal_nested_dataclasses_included():
    assert from_hash(Record, to_hash(FULL)) == Record(
        title="CV | 2024",
        count=42,
        ratio=0.1,
        done=True,
        colour=Colour.BLUE,
        note=None,  # an empty optional text reads back as None: the codec's one lossy case
        limit=7,
        parts=[Part("a", 1), Part("b", 2)],
        meta={"x": 1},
    )


def test_bytes_from_redis_are_read_as_text():
    raw = {k.encode(): v.encode() for k, v in to_hash(Record("t", 3, 2.5, False, Colour.RED)).items()}
    decoded = from_hash(Record, raw)
    assert decoded == Record("t", 3, 2.5, False, Colour.RED)


def test_excluded_attributes_are_not_written_and_given_ones_not_read():
    encoded = to_hash(FULL, exclude=("parts", "meta"))
    assert "parts" not in encoded and "meta" not in encoded
    assert from_hash(Record, encoded, title="given", parts=[]).title == "given"


def test_a_field_missing_from_the_hash_takes_its_default():
    decoded = from_hash(Record, {"title": "t", "count": "1", "ratio": "1.5", "done": "", "colour": "red"})
    assert decoded == Record("t", 1, 1.5, False, Colour.RED, note=None, limit=None, parts=[], meta={})
