"""Bounds on one GraphQL document, so that any document costs bounded work before it runs (C10):
its size in bytes (checked before it is parsed), its lexical tokens (checked while it is
parsed, comments included) and what it would select once its fragments are expanded (checked
before any other validation rule, graph/bounds/document_cost.py).

Strawberry's general execution applies them through `DocumentLimits` (the schema's extension)
and `graph.schema.Schema` (the byte limit); the compiled subscription path applies the same
`DocumentBounds` itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import suppress
from contextvars import ContextVar
from dataclasses import dataclass

from graphql import DocumentNode, GraphQLError, GraphQLSyntaxError, OperationDefinitionNode, parse
from strawberry.extensions import SchemaExtension

from graph.bounds.document_cache import DocumentCache
from graph.bounds.document_cost import CostLimits, cost_refusal
from graph.bounds.introspection_cost import IntrospectionCost
from settings import Settings

DOCUMENT_TOO_LARGE = "DOCUMENT_TOO_LARGE"
# The operationName of the request being executed, as the client sent it (None: none), set by
# the schema for the task that executes it (each request and each WebSocket operation has its
# own). Strawberry runs the first operation when several are sent without a name; the spec asks
# for an error, and only the request tells a missing name from the first operation's.
_UNSET = object()
REQUESTED_OPERATION: ContextVar[str | object | None] = ContextVar("requested_operation", default=_UNSET)
# Every request's parse and validation go through it (graph/bounds/document_cache.py).
DOCUMENTS = DocumentCache()


@dataclass(frozen=True, slots=True)
class DocumentBounds:
    max_bytes: int
    max_tokens: int
    cost: CostLimits

    @classmethod
    def from_settings(cls, settings: Settings, cost: CostLimits) -> DocumentBounds:
        return cls(settings.graphql_max_document_bytes, settings.graphql_max_tokens, cost)

    def size_refusal(self, query: str | None) -> GraphQLError | None:
        """The error refusing a document over the byte limit, without encoding a text that is
        certainly within it (UTF-8 takes at most 4 bytes a character) or certainly beyond it."""
        if query is None or len(query) * 4 <= self.max_bytes:
            return None
        size = len(query) if len(query) > self.max_bytes else len(query.encode())
        if size <= self.max_bytes:
            return None
        message = f"The document is larger than {self.max_bytes} bytes."
        return GraphQLError(message, extensions={"code": DOCUMENT_TOO_LARGE})

    def parse(self, query: str, *, no_location: bool = False) -> DocumentNode:
        """graphql-core's parse within the token limit (a GraphQLSyntaxError past it)."""
        return parse(query, no_location=no_location, max_tokens=self.max_tokens)

    def cost_refusal(self, document: DocumentNode) -> GraphQLError | None:
        return cost_refusal(document, self.cost)


class DocumentLimits(SchemaExtension):
    """The token limit for Strawberry's parser, and the cost rule before its validation: a
    refused document never reaches graphql-core's rules. A text parsed, or found valid, before is
    not parsed, or validated, again (`DOCUMENTS`)."""

    def __init__(
        self, bounds: DocumentBounds, introspection: IntrospectionCost, documents: DocumentCache = DOCUMENTS
    ) -> None:
        self.bounds = bounds
        self.introspection = introspection
        self.documents = documents

    def on_operation(self) -> Iterator[None]:
        self.execution_context.parse_options["max_tokens"] = self.bounds.max_tokens
        yield

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        if context.query and context.graphql_document is None:
            # On a syntax error Strawberry's own parse, next, fails alike and answers as it always has.
            with suppress(GraphQLSyntaxError):
                context.graphql_document = self.documents.parse(context.query, context.parse_options)
        yield

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        if context.graphql_document is not None and context.pre_execution_errors is None:
            document = context.graphql_document
            refusal = (
                self.bounds.cost_refusal(document)
                or self.introspection.refusal(document)
                or _unnamed_choice(document)
            )
            if refusal is not None:
                # Strawberry skips validation once errors are set, and answers with them.
                context.pre_execution_errors = [refusal]
        rules = tuple(context.validation_rules)
        known = context.query and self.documents.known_valid(context.query, rules)
        if known and context.pre_execution_errors is None:
            context.pre_execution_errors = []  # what graphql-core's rules found last time: nothing
        yield
        # An empty list: Strawberry's validation (or ours, remembered) ran and found nothing.
        accepted = context.graphql_document
        if context.query and accepted is not None and context.pre_execution_errors == []:
            self.documents.passed(context.query, rules, accepted, context.parse_options)


def _unnamed_choice(document: DocumentNode) -> GraphQLError | None:
    """The spec's GetOperation: with several operations, operationName must say which."""
    if REQUESTED_OPERATION.get() is not None:
        return None  # named, or not requested through the schema
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if len(operations) < 2 or any(o.name is None for o in operations):
        return None  # one operation; or an anonymous one among others, which validation refuses
    return GraphQLError(
        "the document has several operations: send operationName to say which one to run",
        extensions={"code": "BAD_REQUEST"},
    )
