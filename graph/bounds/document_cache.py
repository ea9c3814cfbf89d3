"""What one query text costs to check, paid once per text: its parsed document, and the fact that it
passed graphql-core's validation rules. Clients send the same few texts over and over (an app's
operations), and validation alone was a sixth of the API's CPU per `improveCv` (bench/mutations.py).

Only a text that was accepted (it parsed, its cost and introspection were allowed, and it validated)
is remembered; a refused one is parsed afresh each time, as before, and leaves nothing behind. The
cache is bounded in bytes, charged for the worst a parse tree may take per character of its text
(graphql-core keeps every token of a document alive through its locations: 10 KB of one-character
fields parse to 2.8 MB), so no choice of texts can make it hold more than CACHE_BUDGET_BYTES; the
least recently used text goes first. Parsed documents are shared between requests: graphql-core and
Strawberry only read them.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from graphql import DocumentNode, parse

# Measured: a 10 KB text of 5,000 one-character fields parses to about 2.8 MB.
WORST_BYTES_PER_CHAR = 300
CACHE_BUDGET_BYTES = 32 * 1024 * 1024
# A text over 1/16 of the budget (about 7 KB) is parsed each time: app operations are far smaller.
LARGEST_SHARE = 16


@dataclass(slots=True)
class _Entry:
    options: tuple[tuple[str, Any], ...]
    document: DocumentNode
    rules: set[tuple[type, ...]] = field(default_factory=set)


class DocumentCache:
    def __init__(self, budget: int = CACHE_BUDGET_BYTES) -> None:
        self._budget = budget
        self._charged = 0
        self._entries: OrderedDict[str, _Entry] = OrderedDict()

    @property
    def charged(self) -> int:
        return self._charged

    def parse(self, query: str, options: Mapping[str, Any]) -> DocumentNode:
        """graphql-core's `parse(query, **options)`, from memory when this text was accepted before."""
        entry = self._entries.get(query)
        if entry is not None and entry.options == _options_key(options):
            self._entries.move_to_end(query)
            return entry.document
        return parse(query, **options)

    def known_valid(self, query: str, rules: tuple[type, ...]) -> bool:
        """Whether this text passed these validation rules before (with this schema: one per process)."""
        entry = self._entries.get(query)
        return entry is not None and rules in entry.rules

    def passed(
        self, query: str, rules: tuple[type, ...], document: DocumentNode, options: Mapping[str, Any]
    ) -> None:
        """`document`, parsed from `query` with `options`, was accepted under `rules`: remember both."""
        cost = len(query) * WORST_BYTES_PER_CHAR
        if cost > self._budget // LARGEST_SHARE:
            return
        key = _options_key(options)
        entry = self._entries.get(query)
        if entry is None or entry.options != key or entry.document is not document:
            if entry is None:
                self._charged += cost
            entry = self._entries[query] = _Entry(key, document)
        entry.rules.add(rules)
        self._entries.move_to_end(query)
        while self._charged > self._budget:
            evicted, _ = self._entries.popitem(last=False)
            self._charged -= len(evicted) * WORST_BYTES_PER_CHAR


def _options_key(options: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted(options.items()))
