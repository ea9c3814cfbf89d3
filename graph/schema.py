"""The schema, assembled from one query and one mutation type per concern."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Iterable
from contextlib import aclosing
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext, ExecutionResult
from strawberry.types.graphql import OperationType

from graph.bounds.document_cost import CostLimits
from graph.bounds.document_limits import REQUESTED_OPERATION, DocumentBounds, DocumentLimits
from graph.bounds.introspection_cost import IntrospectionCost
from graph.bounds.persisted_documents import PERSISTED_DOCUMENTS, REQUESTED_DOCUMENT_ID, Admitted
from graph.bounds.read_budget import ReadBudgetLimiter
from graph.context import Context
from graph.domain.analyses import AnalysisMutation, AnalysisQuery
from graph.domain.export import ExportMutation
from graph.domain.mutations import Mutation as JobMutation
from graph.domain.pdfs import PdfMutation
from graph.domain.queries import Query as JobQuery
from graph.domain.questionnaires import QuestionnaireMutation, QuestionnaireQuery
from graph.domain.quotas import AccountQuery, ApiCallQuota
from graph.domain.resumes import ResumeMutation
from graph.errors import ErrorMapping, log_client_errors, typed_errors
from graph.live.subscriptions import Subscription
from graph.strawberry_private import PreExecutionError, StreamResult
from settings import get_settings

Query = merge_types("Query", (JobQuery, QuestionnaireQuery, AnalysisQuery, AccountQuery))
Mutation = merge_types(
    "Mutation",
    (JobMutation, QuestionnaireMutation, ResumeMutation, AnalysisMutation, PdfMutation, ExportMutation),
)


# Bounds on what one document may ask, so that aliases, nesting and fragments cannot multiply
# the work (or the lookups) of a single request; checked in time linear in the document.
MAX_DEPTH = 10
MAX_ALIASES = 30
# GraphiQL's introspection query selects 229 fields; 30 aliased jobs with every field, ~510.
MAX_FIELDS = 1000
# graphql-core compares every two fields of a selection set that share a response name, and
# their sub-selections: ~1 µs a unit here (bench/document_cost.py); none for distinct names.
MAX_COMPARISONS = 30_000
# Validation works per operation too (1,000 one-field operations take ~150 ms); a request runs one.
MAX_OPERATIONS = 20
BOUNDS = DocumentBounds.from_settings(
    get_settings(), CostLimits(MAX_DEPTH, MAX_ALIASES, MAX_FIELDS, MAX_COMPARISONS, MAX_OPERATIONS)
)


class Schema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        log_client_errors(errors)
        # Every error Strawberry hands back passes here, also those raised by an extension's
        # hook (which escape the masking of ErrorMapping): type them all, in place.
        errors[:] = typed_errors(errors)

    async def execute(
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        allowed_operation_types: Iterable[OperationType] | None = None,
        operation_extensions: dict[str, Any] | None = None,
    ) -> ExecutionResult:
        admitted = await _admit(query, operation_name, operation_extensions, context_value)
        if isinstance(admitted, GraphQLError):
            return PreExecutionError(data=None, errors=[admitted])
        query = admitted.query
        # Subscriptions stream (`stream` below), over WebSocket or over HTTP when the request's
        # Accept asks for multipart or SSE (graph/live/http_streams.py); never through here: run as a
        # one-shot operation they would answer INTERNAL. Refused instead (400 BAD_REQUEST), with
        # a message that says how to subscribe (graph/edges/view.py, execute_single).
        allowed = [t for t in allowed_operation_types or OperationType if t is not OperationType.SUBSCRIPTION]
        result = await super().execute(
            query,
            variable_values,
            context_value,
            root_value,
            operation_name,
            allowed,
            operation_extensions,
        )
        if not isinstance(result, PreExecutionError):
            await PERSISTED_DOCUMENTS.remember(admitted, context_value)
        return result

    async def stream(
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        operation_extensions: dict[str, Any] | None = None,
        allowed_operation_types: Iterable[OperationType] | None = None,
    ) -> StreamResult:
        admitted = await _admit(query, operation_name, operation_extensions, context_value)
        if isinstance(admitted, GraphQLError):
            return _refused_stream(admitted)
        results = await super().stream(
            admitted.query,
            variable_values,
            context_value,
            root_value,
            operation_name,
            operation_extensions,
            allowed_operation_types,
        )
        return results if admitted.register is None else _remembering(results, admitted, context_value)


async def _admit(
    query: str | None, operation_name: str | None, extensions: dict[str, Any] | None, context: Any
) -> Admitted | GraphQLError:
    """What both ways in check first: a document over the byte limit is refused before Strawberry
    creates anything for it (or the request's text is hashed); then the document the request
    runs is settled (graph/bounds/persisted_documents.py: its text, a persisted one by id, or a refusal
    under PERSISTED_DOCUMENTS=only); and the operationName the request gave (or not) is noted
    for the document's own checks (graph/bounds/document_limits.py)."""
    refusal = BOUNDS.size_refusal(query)
    if refusal is not None:
        return refusal
    services = context.services if isinstance(context, Context) else None
    try:
        admitted = await PERSISTED_DOCUMENTS.admit(query, extensions, REQUESTED_DOCUMENT_ID.get(), services)
    except GraphQLError as e:
        return e
    REQUESTED_OPERATION.set(operation_name)
    return admitted


async def _remembering(results: StreamResult, admitted: Admitted, context: Any) -> StreamResult:
    """`results`, storing the persisted query once its first result shows that it ran."""
    async with aclosing(results):
        first = True
        async for result in results:
            if first and not isinstance(result, PreExecutionError):
                await PERSISTED_DOCUMENTS.remember(admitted, context)
            first = False
            yield result


async def _refused_stream(refusal: GraphQLError) -> AsyncGenerator[PreExecutionError, None]:
    # What a stream of a document that fails validation yields: transports answer it alike.
    yield PreExecutionError(data=None, errors=[refusal])


schema = Schema(
    query=Query,
    mutation=Mutation,
    subscription=Subscription,
    extensions=[ErrorMapping, ApiCallQuota, ReadBudgetLimiter, lambda: DocumentLimits(BOUNDS, INTROSPECTION)],
)
# Read once, from the schema as built (before any operation runs): what each introspection list
# may hold at most.
INTROSPECTION: IntrospectionCost = IntrospectionCost(schema.as_str())
