"""What one query text costs to check, paid once per text: its parsed document, and the fact that it
passed graphql-core's validation rules. Clients send the same few texts over and over (an app's
operations), and validation alone was a sixth of the API's CPU per `improveCv` (bench/mutations.py).

Bounded (least recently used first out), so that unique texts cannot grow memory; a text that fails to
parse or to validate is never remembered (its errors are made afresh each time, as before). Parsed
documents are shared between requests: graphql-core and Strawberry only read them.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Mapping
from typing import Any

from graphql import DocumentNode, parse

# Texts remembered: an app sends tens of distinct operations, a crawler of unique texts evicts only itself.
DOCUMENTS_KEPT = 256


class DocumentCache:
    def __init__(self, size: int = DOCUMENTS_KEPT) -> None:
        self._size = size
        self._documents: OrderedDict[Hashable, DocumentNode] = OrderedDict()
        self._valid: OrderedDict[Hashable, None] = OrderedDict()

    def parse(self, query: str, options: Mapping[str, Any]) -> DocumentNode:
        """graphql-core's `parse(query, **options)`, from memory when this text was parsed so before."""
        key = (query, tuple(sorted(options.items())))
        document = self._documents.get(key)
        if document is None:
            document = parse(query, **options)
            self._remember(self._documents, key, document)
        else:
            self._documents.move_to_end(key)
        return document

    def known_valid(self, query: str, rules: tuple[type, ...]) -> bool:
        """Whether this text passed these validation rules before (with this schema: one per process)."""
        key = (query, rules)
        if key in self._valid:
            self._valid.move_to_end(key)
            return True
        return False

    def passed(self, query: str, rules: tuple[type, ...]) -> None:
        self._remember(self._valid, (query, rules), None)

    def _remember(self, entries: OrderedDict[Hashable, Any], key: Hashable, value: Any) -> None:
        entries[key] = value
        if len(entries) > self._size:
            entries.popitem(last=False)
