"""Which document a request runs, when it may name one instead of sending its text
(PERSISTED_DOCUMENTS):

- `apq` (the default): Apollo's automatic persisted queries. A request may carry
  `extensions.persistedQuery {version: 1, sha256Hash}` and no text: it runs the document the API
  stored under that hash, or is answered PersistedQueryNotFound (PERSISTED_QUERY_NOT_FOUND), and
  the client sends the text with the hash; the hash must be the text's sha256, and the text is
  stored (graph/bounds/apq_store.py) once it has parsed, validated within our bounds and run for a
  caller with a token, so each document stored is one charged API call of its sender.
- `only`: the API runs the documents of a manifest read at startup (graph/bounds/persisted_manifest.py)
  and nothing else: by id (`documentId`, the GraphQL-over-HTTP appendix, or the hash in
  `extensions.persistedQuery`) or by a full text that is one of them. Every other text is
  PERSISTED_QUERY_NOT_ALLOWED, whichever transport brings it (graph.schema.Schema admits every
  HTTP request and WebSocket operations run by Strawberry; graph/live/transport.py admits each
  `subscribe` before its compiled or general run).
- `off`: every request carries its text; a persisted query is PersistedQueryNotSupported, which
  makes Apollo's link send full texts from then on.

A manifest configured in `apq` mode is honoured too: its documents are known by id there as well.
"""

from __future__ import annotations

import logging
import re
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Literal

from graphql import GraphQLError
from redis.exceptions import RedisError

from graph.bounds.apq_store import ApqStore
from graph.bounds.persisted_manifest import SHA256_PREFIX, Manifest, ManifestError, load_manifest, sha256_hex
from graph.context import Context, Services
from jobs.core.errors import Unavailable
from settings import Settings, get_settings

log = logging.getLogger(__name__)

# The messages are Apollo Server's, which Apollo's and urql's persisted query links match.
NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"
NOT_SUPPORTED = "PERSISTED_QUERY_NOT_SUPPORTED"
NOT_ALLOWED = "PERSISTED_QUERY_NOT_ALLOWED"
HASH_MISMATCH = "PERSISTED_QUERY_HASH_MISMATCH"
BAD_REQUEST = "BAD_REQUEST"
SHA256_HEX = re.compile(r"[0-9a-f]{64}")

# The `documentId` of the HTTP request being executed (GraphQL over HTTP's persisted documents
# appendix): a request parameter beside `query`, which Strawberry does not pass on. Set by the
# view for the request's task (graph/edges/view.py), read by the schema's admission in the same task.
REQUESTED_DOCUMENT_ID: ContextVar[str | None] = ContextVar("requested_document_id", default=None)

Mode = Literal["off", "apq", "only"]


@dataclass(frozen=True, slots=True)
class Admitted:
    """The document a request runs (None: it sent none, which Strawberry answers), and the
    sha256 to store it under once it ran (APQ's registration), if any."""

    query: str | None
    register: str | None = None


def _refusal(message: str, code: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": code})


@dataclass(frozen=True, slots=True)
class PersistedDocuments:
    mode: Mode
    manifest: Manifest
    apq_max_bytes: int
    apq_ttl_seconds: float

    @classmethod
    def from_settings(cls, settings: Settings) -> PersistedDocuments:
        """Raises ManifestError when the manifest is required or configured, and cannot serve."""
        path, mode = settings.persisted_documents_manifest, settings.persisted_documents
        if mode == "only" and not path:
            raise ManifestError("PERSISTED_DOCUMENTS=only needs a PERSISTED_DOCUMENTS_MANIFEST (JSON)")
        manifest = Manifest.empty()
        if path and mode != "off":
            manifest = load_manifest(path, settings.graphql_max_document_bytes)
            log.info("%d persisted documents read from %s (mode %s)", len(manifest), path, mode)
        return cls(mode, manifest, settings.apq_max_bytes, settings.apq_ttl_seconds)

    async def admit(
        self,
        query: str | None,
        extensions: dict[str, Any] | None,
        document_id: str | None,
        services: Services | None,
    ) -> Admitted:
        """The document a request runs; raises a typed GraphQLError refusing the request."""
        asked = _asked_hash(extensions)
        if self.mode == "off":
            if asked is not None or document_id is not None:
                raise _refusal("PersistedQueryNotSupported", NOT_SUPPORTED)
            return Admitted(query)
        if not query:
            named = document_id if document_id is not None else asked
            return Admitted(query if named is None else await self._by_id(named, services))
        if document_id is not None:
            raise _refusal("send a document's text (query) or its documentId, not both", BAD_REQUEST)
        digest = None if asked is None else self._checked_digest(query, asked)
        if self.mode == "only":
            if not self.manifest.registers(query, digest):
                message = "this API runs only its registered documents (PERSISTED_DOCUMENTS=only)"
                raise _refusal(message, NOT_ALLOWED)
            return Admitted(query)
        stored_ahead = digest is None or self.manifest.registers(query, digest)
        return Admitted(query, None if stored_ahead else digest)

    def _checked_digest(self, query: str, asked: str) -> str | None:
        """The text's sha256, when the client named the text by it (APQ); None when it named a
        manifest document by its manifest id (Codegen's sha1, say). Raises on any other hash."""
        if self.manifest.by_id.get(asked) == query:
            return None
        digest = sha256_hex(query)
        if digest != asked:
            raise _refusal("provided sha does not match query", HASH_MISMATCH)
        return digest

    async def _by_id(self, document_id: str, services: Services | None) -> str:
        found = self.manifest.document(document_id)
        digest = document_id.removeprefix(SHA256_PREFIX)
        if found is None and self.mode == "apq" and services is not None and SHA256_HEX.fullmatch(digest):
            try:
                found = await self._store(services).lookup(digest)
            except (RedisError, OSError) as e:
                message = "A backing service is unavailable; try again shortly."
                raise _refusal(message, Unavailable.code) from e
        if found is None:
            raise _refusal("PersistedQueryNotFound", NOT_FOUND)
        return found

    async def remember(self, admitted: Admitted, context: object) -> None:
        """APQ's registration, once the document ran: only for a caller with a token, whose
        operation was charged to its API_CALLS quota (graph/domain/quotas.py)."""
        if admitted.register is None or admitted.query is None:
            return
        if not isinstance(context, Context) or context.user is None:
            return
        try:
            await self._store(context.services).store(admitted.register, admitted.query)
        except (RedisError, OSError):
            # The answer is made; the client sends the text again next time, nothing is lost.
            log.warning("could not store a persisted query", exc_info=True)

    def _store(self, services: Services) -> ApqStore:
        return ApqStore(services.redis, services.keys, self.apq_max_bytes, self.apq_ttl_seconds)


def _asked_hash(extensions: dict[str, Any] | None) -> str | None:
    persisted = (extensions or {}).get("persistedQuery")
    if persisted is None:
        return None
    # `type(...) is int`: JSON's true is Python's 1 too, and is no version.
    version = persisted.get("version") if isinstance(persisted, dict) else None
    if type(version) is not int or version != 1:
        raise _refusal("Unsupported persisted query version", BAD_REQUEST)
    asked = persisted.get("sha256Hash")
    if not isinstance(asked, str) or not asked:
        raise _refusal("extensions.persistedQuery needs a sha256Hash string", BAD_REQUEST)
    return asked


# This process's policy, its manifest read once, as the API starts (graph.schema imports this
# module): a manifest that cannot serve stops the API there, with ManifestError's message.
PERSISTED_DOCUMENTS = PersistedDocuments.from_settings(get_settings())
