"""The documents a deployment registered ahead of time: a JSON manifest, read once at startup.

Two formats are read, those the client tool chains write:
- Apollo's persisted query list (`npx generate-persisted-query-manifest`):
  `{"format": "apollo-persisted-query-manifest", "version": 1,
    "operations": [{"id", "name", "type", "body"}]}`;
- GraphQL Codegen's client preset (`persisted-documents.json`): `{"<hash>": "<document>"}`.

A document is known by its manifest id (whatever hash the tool used: Codegen's default is sha1)
and by the sha256 of its text, which Apollo's persisted query link sends and the
GraphQL-over-HTTP persisted documents appendix names `sha256:<hex>`. A full text is registered
when its sha256 is that of a body: the bytes must match, as both tools send exactly the text they
hashed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from graphql import GraphQLError, parse

APOLLO_FORMAT = "apollo-persisted-query-manifest"
OPERATION_TYPES = frozenset({"query", "mutation", "subscription"})
SHA256_PREFIX = "sha256:"


class ManifestError(Exception):
    """The manifest cannot serve: the API must not start with it."""


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Manifest:
    by_id: Mapping[str, str]
    by_sha256: Mapping[str, str]

    @classmethod
    def empty(cls) -> Manifest:
        return cls({}, {})

    @classmethod
    def of(cls, documents: Mapping[str, str]) -> Manifest:
        return cls(dict(documents), {sha256_hex(body): body for body in documents.values()})

    def __len__(self) -> int:
        return len(self.by_sha256)

    def document(self, document_id: str) -> str | None:
        """The body of a document by its manifest id, its sha256, or `sha256:<its sha256>`."""
        found = self.by_id.get(document_id) or self.by_sha256.get(document_id)
        if found is None and document_id.startswith(SHA256_PREFIX):
            found = self.by_sha256.get(document_id.removeprefix(SHA256_PREFIX))
        return found

    def registers(self, text: str, text_sha256: str | None = None) -> bool:
        return (text_sha256 or sha256_hex(text)) in self.by_sha256


def load_manifest(path: str, max_document_bytes: int) -> Manifest:
    """The manifest at `path`, every document checked to parse and to fit the byte limit (a
    document the API would refuse anyway is an error of the manifest, reported now rather than
    to every client)."""
    try:
        raw = json.loads(Path(path).read_bytes())
    except OSError as e:
        raise ManifestError(f"cannot read the persisted documents manifest {path!r}: {e.strerror}") from e
    except ValueError as e:
        raise ManifestError(f"the persisted documents manifest {path!r} is not JSON: {e}") from e
    documents = _apollo(raw, path) if isinstance(raw, dict) and "format" in raw else _codegen(raw, path)
    if not documents:
        raise ManifestError(f"the persisted documents manifest {path!r} has no documents")
    for document_id, body in documents.items():
        _check_body(document_id, body, path, max_document_bytes)
    return Manifest.of(documents)


def _apollo(raw: dict[str, Any], path: str) -> dict[str, str]:
    if raw.get("format") != APOLLO_FORMAT or raw.get("version") != 1:
        raise ManifestError(
            f"{path!r}: an Apollo manifest has \"format\": \"{APOLLO_FORMAT}\" and \"version\": 1, "
            f"got {raw.get('format')!r} and {raw.get('version')!r}"
        )
    operations = raw.get("operations")
    if not isinstance(operations, list):
        raise ManifestError(f"{path!r}: an Apollo manifest's \"operations\" must be a list")
    documents: dict[str, str] = {}
    for index, operation in enumerate(operations):
        where = f"{path!r}, operations[{index}]"
        if not isinstance(operation, dict):
            raise ManifestError(f"{where}: an operation must be an object")
        document_id, body = operation.get("id"), operation.get("body")
        if not isinstance(document_id, str) or not document_id or not isinstance(body, str):
            raise ManifestError(f"{where}: \"id\" and \"body\" must be strings")
        kind = operation.get("type")
        if kind is not None and kind not in OPERATION_TYPES:
            raise ManifestError(f"{where}: \"type\" must be one of {sorted(OPERATION_TYPES)}, got {kind!r}")
        _add(documents, document_id, body, where)
    return documents


def _codegen(raw: object, path: str) -> dict[str, str]:
    if not isinstance(raw, dict):
        raise ManifestError(
            f"{path!r}: a manifest is a JSON object: Apollo's persisted query list, or GraphQL "
            "Codegen's {\"<hash>\": \"<document>\"}"
        )
    documents: dict[str, str] = {}
    for document_id, body in raw.items():
        if not document_id or not isinstance(body, str):
            raise ManifestError(f"{path!r}: {document_id!r} must map a non-empty id to a document string")
        _add(documents, document_id, body, f"{path!r}")
    return documents


def _add(documents: dict[str, str], document_id: str, body: str, where: str) -> None:
    if documents.setdefault(document_id, body) != body:
        raise ManifestError(f"{where}: the id {document_id!r} names two different documents")


def _check_body(document_id: str, body: str, path: str, max_bytes: int) -> None:
    size = len(body.encode())
    if size > max_bytes:
        raise ManifestError(
            f"{path!r}: document {document_id!r} has {size} bytes, "
            f"over GRAPHQL_MAX_DOCUMENT_BYTES={max_bytes}"
        )
    try:
        parse(body, no_location=True)
    except GraphQLError as e:
        raise ManifestError(f"{path!r}: document {document_id!r} does not parse: {e.message}") from e
