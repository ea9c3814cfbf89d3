"""A compiled path for the hot subscription, `jobUpdates`.

Strawberry executes a subscription's selection set once per event *and per subscriber*:
graphql-core collects the fields, resolves and serialises each one, extensions wrap the result,
and the message is JSON-encoded. That costs about 250 µs per delivered event, which caps one API
process near 4,000 deliveries/s (bench/pipeline.py). Yet every subscriber of a job receives the
same events, and nearly all of them select the same fields. So a document that is exactly one
`jobUpdates` field over plain fields is parsed and validated once per query text, and each event
is rendered once per (selection, event), its JSON shared by every subscriber of the job.

Plans are keyed by a digest of (query text, operation name), never the text, and the cache is
bounded in bytes (PLAN_CACHE_MAX_BYTES): each plan is charged what it holds (at most about its
query's size: it keeps the variable definitions, the field's arguments and its own selection,
parsed without locations, not the document) plus the most its rendered events may take. A
document is refused (left to Strawberry, which reports why) before it is parsed when it is over
the byte limit, and parsed and validated within the same bounds as Strawberry's
(graph/bounds/document_limits.py).

Whatever a plan could not reproduce exactly (fragments, directives, several operations, invalid
documents or variables, a field with its own resolver, a schema extension it does not know) is
left to Strawberry's general execution: the answer never differs, only its cost. Values go
through the same `build(JobEvent, ...)` conversion and the same scalar and enum serialisers as there.

Why by hand rather than graphql-core's public `execute` once per (document, event), which would
share its JSON just as well: rendering an event that way takes about 63 µs against 8 here
(bench/compiled_vs_execute.py), i.e. +55 µs per delivery when a job has one subscriber, its
owner, which is most jobs; the API spends 58-62 µs per delivery then (README, `make bench-delivery`).
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import strawberry
from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLError,
    GraphQLField,
    GraphQLLeafType,
    GraphQLObjectType,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    VariableDefinitionNode,
    get_named_type,
    is_leaf_type,
    is_object_type,
    parse,
    specified_rules,
)
from graphql.execution import get_argument_values, get_variable_values
from strawberry.extensions import AddValidationRules

from graph.bounds.document_limits import DocumentLimits
from graph.bounds.read_budget import ReadBudgetLimiter
from graph.domain.mirror import build
from graph.domain.quotas import ApiCallQuota
from graph.domain.types import JobEvent
from graph.errors import ErrorMapping
from graph.strawberry_private import graphql_schema, validation_errors
from jobs.core import events
from settings import get_settings

ROOT_FIELD = "jobUpdates"
# The plan skips per-operation extension hooks; it may only run when the schema's extensions
# are ones whose effect on a subscription it reproduces (ErrorMapping: graph.errors.stream_error;
# ApiCallQuota charges HTTP operations only; DocumentLimits: its bounds are applied here;
# ReadBudgetLimiter: a plan's fields are plain attributes of the event, which load nothing).
REPRODUCED_EXTENSIONS: tuple[object, ...] = (ErrorMapping, ApiCallQuota, DocumentLimits, ReadBudgetLimiter)
# Rendered events kept per plan: at most this many, and at most 1/PLANS_AT_LEAST of the cache's
# bytes, so that the cache always holds that many plans.
RENDERED_PER_PLAN = 4096
PLANS_AT_LEAST = 16
# Estimates of what Python objects take beyond their text: a cache entry (digest, slot,
# verdict); a plan's fixed objects; one selected field; one rendered event (key, str header).
ENTRY_BYTES = 256
PLAN_BYTES = 4096
SELECTED_BYTES = 256
RENDERED_ENTRY_BYTES = 256


@dataclass(frozen=True, slots=True)
class Selected:
    """One selected field: its response key, and how to produce its value."""

    key: str
    attr: str | None  # the Python attribute; None for __typename
    typename: str
    leaf: GraphQLLeafType | None = None
    children: tuple[Selected, ...] | None = None


def _render(obj: object, fields: tuple[Selected, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields:
        if f.attr is None:
            out[f.key] = f.typename
            continue
        value = getattr(obj, f.attr)
        if value is None:
            out[f.key] = None
        elif f.children is not None:
            out[f.key] = _render(value, f.children)
        else:
            assert f.leaf is not None
            out[f.key] = f.leaf.serialize(value)
    return out


class JobUpdatesPlan:
    """One compiled `jobUpdates` document."""

    def __init__(
        self,
        variable_definitions: Sequence[VariableDefinitionNode],
        field_node: FieldNode,
        field_def: GraphQLField,
        fields: tuple[Selected, ...],
        rendered_max_bytes: int,
    ) -> None:
        self._variable_definitions = tuple(variable_definitions)
        # The field without its selection: what the arguments are coerced from.
        self._field_node = FieldNode(name=field_node.name, arguments=field_node.arguments, directives=())
        self._field_def = field_def
        self._root_key = field_node.alias.value if field_node.alias else field_node.name.value
        self._fields = fields
        self._rendered: OrderedDict[tuple[str, int], str] = OrderedDict()
        self._rendered_max_bytes = rendered_max_bytes
        self.rendered_bytes = 0

    @property
    def selected(self) -> int:
        """How many fields the plan renders (nested ones included)."""
        pending, count = list(self._fields), 0
        while pending:
            field = pending.pop()
            count += 1
            pending.extend(field.children or ())
        return count

    def arguments(self, schema: strawberry.Schema, variables: dict[str, Any] | None) -> dict[str, Any] | None:
        """The coerced arguments; None when the variables do not fit, which the general path
        then reports exactly as it always does."""
        coerced = get_variable_values(graphql_schema(schema), self._variable_definitions, variables or {})
        if isinstance(coerced, list):
            return None
        try:
            return get_argument_values(self._field_def, self._field_node, coerced)
        except GraphQLError:
            return None

    def payload(self, event: events.JobEvent) -> str:
        """The `next` payload for this event, as JSON; rendered once, shared by every subscriber.
        (job, seq) names one immutable event (C2), whether it came live or from the log."""
        key = (event.job_id, event.seq)
        text = self._rendered.get(key)
        if text is None:
            data = {self._root_key: _render(build(JobEvent, event), self._fields)}
            text = self._rendered[key] = _encode({"data": data})
            self.rendered_bytes += len(text) + RENDERED_ENTRY_BYTES
            while len(self._rendered) > RENDERED_PER_PLAN or self.rendered_bytes > self._rendered_max_bytes:
                _, dropped = self._rendered.popitem(last=False)
                self.rendered_bytes -= len(dropped) + RENDERED_ENTRY_BYTES
        return text


@dataclass(frozen=True, slots=True)
class _Cached:
    plan: JobUpdatesPlan | None  # None: the verdict "not compilable"
    charge: int  # bytes the entry counts for in the cache's bound


class SubscriptionCompiler:
    """Plans per (query text, operation name), including the verdict "not compilable", in a
    least-recently-used cache of bounded bytes."""

    def __init__(self, schema: strawberry.Schema, max_bytes: int | None = None) -> None:
        self._schema = schema
        self.max_bytes = get_settings().plan_cache_max_bytes if max_bytes is None else max_bytes
        self._rendered_max_bytes = self.max_bytes // PLANS_AT_LEAST
        self._plans: OrderedDict[bytes, _Cached] = OrderedDict()
        self.cache_bytes = 0
        extensions = schema.get_extensions()
        self._bounds = next((ext.bounds for ext in extensions if isinstance(ext, DocumentLimits)), None)
        # Extensions that only add validation rules are reproduced by validating with their
        # rules too.
        self._rules = tuple(specified_rules) + tuple(
            rule for ext in extensions if isinstance(ext, AddValidationRules) for rule in ext.validation_rules
        )
        self._extensions_reproduced = not schema.directives and all(
            isinstance(ext, AddValidationRules) or type(ext) in REPRODUCED_EXTENSIONS for ext in extensions
        )
        self.compiled_runs = 0
        self.general_runs = 0

    @property
    def cache_entries(self) -> int:
        return len(self._plans)

    def plan(self, query: str, operation_name: str | None) -> JobUpdatesPlan | None:
        # Cheap refusals first, uncached: an oversize text is neither hashed nor parsed, and a
        # text without the field cannot be its plan.
        if (
            not self._extensions_reproduced
            or (self._bounds is not None and self._bounds.size_refusal(query) is not None)
            or ROOT_FIELD not in query
        ):
            return None
        key = _digest(query, operation_name)
        cached = self._plans.get(key)
        if cached is not None:
            self._plans.move_to_end(key)
            return cached.plan
        plan = self._compile(query, operation_name)
        charge = ENTRY_BYTES
        if plan is not None:
            # The query's length bounds the literals and names the plan keeps.
            charge += PLAN_BYTES + len(query) + SELECTED_BYTES * plan.selected + self._rendered_max_bytes
        self._plans[key] = _Cached(plan, charge)
        self.cache_bytes += charge
        while self.cache_bytes > self.max_bytes and len(self._plans) > 1:
            _, evicted = self._plans.popitem(last=False)
            self.cache_bytes -= evicted.charge
        return plan

    def _compile(self, query: str, operation_name: str | None) -> JobUpdatesPlan | None:
        try:
            # Without locations: the plan must not keep the document's source and tokens alive.
            document = (
                self._bounds.parse(query, no_location=True)
                if self._bounds
                else parse(query, no_location=True)
            )
        except GraphQLError:
            return None
        if self._bounds is not None and self._bounds.cost_refusal(document) is not None:
            return None
        operation = _single_subscription(document, operation_name)
        if operation is None or validation_errors(self._schema, document, self._rules):
            return None
        root = operation.selection_set.selections
        if len(root) != 1 or not isinstance(root[0], FieldNode) or root[0].name.value != ROOT_FIELD:
            return None
        field_node = root[0]
        if field_node.directives or field_node.selection_set is None:
            return None
        subscription_type = graphql_schema(self._schema).subscription_type
        assert subscription_type is not None
        field_def = subscription_type.fields[ROOT_FIELD]
        fields = _selection(self._schema, field_node.selection_set, get_named_type(field_def.type))
        if fields is None:
            return None
        return JobUpdatesPlan(
            operation.variable_definitions or (), field_node, field_def, fields, self._rendered_max_bytes
        )


def _digest(query: str, operation_name: str | None) -> bytes:
    key = hashlib.blake2b(query.encode(), digest_size=16)
    key.update(b"\0" if operation_name is None else b"\1" + operation_name.encode())
    return key.digest()


def _single_subscription(
    document: DocumentNode, operation_name: str | None
) -> OperationDefinitionNode | None:
    if len(document.definitions) != 1:
        return None
    operation = document.definitions[0]
    if (
        not isinstance(operation, OperationDefinitionNode)
        or operation.operation != OperationType.SUBSCRIPTION
    ):
        return None
    if operation.directives or (operation_name is not None and operation.name is None):
        return None
    if operation_name is not None and operation.name is not None and operation.name.value != operation_name:
        return None
    return operation


def _selection(
    schema: strawberry.Schema, selection_set: SelectionSetNode, parent: Any
) -> tuple[Selected, ...] | None:
    """The plan of a selection over plain attributes; None if anything needs the executor."""
    if not isinstance(parent, GraphQLObjectType):
        return None
    out: list[Selected] = []
    for node in selection_set.selections:
        if not isinstance(node, FieldNode) or node.directives or node.arguments:
            return None
        key = node.alias.value if node.alias else node.name.value
        if node.name.value == "__typename":
            out.append(Selected(key, None, parent.name))
            continue
        selected = _field(schema, node, key, parent)
        if selected is None:
            return None
        out.append(selected)
    return tuple(out)


def _field(
    schema: strawberry.Schema, node: FieldNode, key: str, parent: GraphQLObjectType
) -> Selected | None:
    field_def = parent.fields.get(node.name.value)
    if field_def is None:
        return None
    definition = schema.get_field_for_type(node.name.value, parent.name)
    if (
        definition is None
        or definition.base_resolver is not None
        or definition.permission_classes
        or definition.extensions
    ):
        return None  # not a plain attribute: the executor's work
    named = get_named_type(field_def.type)
    if is_leaf_type(named) and node.selection_set is None:
        return Selected(key, definition.python_name, parent.name, leaf=named)
    if is_object_type(named) and node.selection_set is not None:
        children = _selection(schema, node.selection_set, named)
        return (
            None
            if children is None
            else Selected(key, definition.python_name, parent.name, children=children)
        )
    return None


def _encode(data: object) -> str:
    # Compact JSON, as Strawberry's own encoding of WebSocket messages (BaseView.encode_json),
    # by orjson: about 4 us less per rendered event, which is per event when a job has one
    # subscriber, its owner (most jobs). Non-ASCII goes out as UTF-8 rather than \u escapes:
    # the same JSON value.
    return orjson.dumps(data).decode()


def next_message_head(operation_id: str) -> str:
    """What every graphql-transport-ws `next` message of an operation starts with; the encoded
    payload and "}" follow. Made once per operation, not per event."""
    return '{"id":' + json.dumps(operation_id) + ',"type":"next","payload":'
