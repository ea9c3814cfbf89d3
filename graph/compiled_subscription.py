"""A compiled path for the hot subscription, `jobUpdates`.

Strawberry executes a subscription's selection set once per event *and per subscriber*:
graphql-core collects the fields, resolves and serialises each one, extensions wrap the result,
and the message is JSON-encoded. That costs about 250 µs per delivered event, which caps one API
process near 4,000 deliveries/s (bench/pipeline.py). Yet every subscriber of a job receives the
same events, and nearly all of them select the same fields. So a document that is exactly one
`jobUpdates` field over plain fields is parsed and validated once per query text, and each event
is rendered once per (selection, event), its JSON shared by every subscriber of the job.

Whatever a plan could not reproduce exactly (fragments, directives, several operations, invalid
documents or variables, a field with its own resolver, a schema extension it does not know) is
left to Strawberry's general execution: the answer never differs, only its cost. Values go
through the same `event_from` conversion and the same scalar and enum serialisers as there.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

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
    get_named_type,
    is_leaf_type,
    is_object_type,
    parse,
    specified_rules,
)
from graphql.execution.values import get_argument_values, get_variable_values
from strawberry.extensions import AddValidationRules
from strawberry.schema.schema import validate_document
from strawberry.schema.schema_converter import GraphQLCoreConverter

from graph.errors import ErrorMapping
from graph.quotas import ApiCallQuota
from graph.types import event_from
from jobs import events

ROOT_FIELD = "jobUpdates"
# The plan skips per-operation extension hooks; it may only run when the schema's extensions
# are ones whose effect on a subscription it reproduces (ErrorMapping: graph.errors.stream_error;
# ApiCallQuota charges HTTP operations only).
REPRODUCED_EXTENSIONS: tuple[object, ...] = (ErrorMapping, ApiCallQuota)
# Bounds, so that many distinct query texts cannot grow memory.
MAX_PLANS = 256
RENDERED_PER_PLAN = 4096


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
        operation: OperationDefinitionNode,
        field_node: FieldNode,
        field_def: GraphQLField,
        fields: tuple[Selected, ...],
    ) -> None:
        self._operation = operation
        self._field_node = field_node
        self._field_def = field_def
        self._root_key = field_node.alias.value if field_node.alias else field_node.name.value
        self._fields = fields
        self._rendered: dict[tuple[str, int], str] = {}

    def arguments(self, schema: strawberry.Schema, variables: dict[str, Any] | None) -> dict[str, Any] | None:
        """The coerced arguments; None when the variables do not fit, which the general path
        then reports exactly as it always does."""
        coerced = get_variable_values(
            schema._schema, self._operation.variable_definitions or (), variables or {}
        )
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
            data = {self._root_key: _render(event_from(event), self._fields)}
            text = self._rendered[key] = _encode({"data": data})
            if len(self._rendered) > RENDERED_PER_PLAN:
                del self._rendered[next(iter(self._rendered))]
        return text


class SubscriptionCompiler:
    """Plans per (query text, operation name), including the verdict "not compilable"."""

    def __init__(self, schema: strawberry.Schema) -> None:
        self._schema = schema
        self._plans: dict[tuple[str, str | None], JobUpdatesPlan | None] = {}
        extensions = schema.get_extensions()
        # Extensions that only add validation rules (depth and alias limits) are reproduced by
        # validating with their rules too.
        self._rules = tuple(specified_rules) + tuple(
            rule for ext in extensions if isinstance(ext, AddValidationRules) for rule in ext.validation_rules
        )
        self._extensions_reproduced = not schema.directives and all(
            isinstance(ext, AddValidationRules) or type(ext) in REPRODUCED_EXTENSIONS for ext in extensions
        )
        self.compiled_runs = 0
        self.general_runs = 0

    def plan(self, query: str, operation_name: str | None) -> JobUpdatesPlan | None:
        key = (query, operation_name)
        if key not in self._plans:
            self._plans[key] = self._compile(query, operation_name) if self._extensions_reproduced else None
            if len(self._plans) > MAX_PLANS:
                del self._plans[next(iter(self._plans))]
        return self._plans[key]

    def _compile(self, query: str, operation_name: str | None) -> JobUpdatesPlan | None:
        try:
            document = parse(query)
        except GraphQLError:
            return None
        operation = _single_subscription(document, operation_name)
        if operation is None or validate_document(self._schema._schema, document, self._rules):
            return None
        root = operation.selection_set.selections
        if len(root) != 1 or not isinstance(root[0], FieldNode) or root[0].name.value != ROOT_FIELD:
            return None
        field_node = root[0]
        if field_node.directives or field_node.selection_set is None:
            return None
        subscription_type = self._schema._schema.subscription_type
        assert subscription_type is not None
        field_def = subscription_type.fields[ROOT_FIELD]
        fields = _selection(field_node.selection_set, get_named_type(field_def.type))
        if fields is None:
            return None
        return JobUpdatesPlan(operation, field_node, field_def, fields)


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


def _selection(selection_set: SelectionSetNode, parent: Any) -> tuple[Selected, ...] | None:
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
        selected = _field(node, key, parent)
        if selected is None:
            return None
        out.append(selected)
    return tuple(out)


def _field(node: FieldNode, key: str, parent: GraphQLObjectType) -> Selected | None:
    field_def = parent.fields.get(node.name.value)
    if field_def is None:
        return None
    definition = field_def.extensions.get(GraphQLCoreConverter.DEFINITION_BACKREF)
    plain = (
        definition is not None
        and definition.base_resolver is None
        and not definition.permission_classes
        and not definition.extensions
    )
    if not plain:
        return None
    named = get_named_type(field_def.type)
    if is_leaf_type(named) and node.selection_set is None:
        return Selected(key, definition.python_name, parent.name, leaf=named)
    if is_object_type(named) and node.selection_set is not None:
        children = _selection(node.selection_set, named)
        return (
            None
            if children is None
            else Selected(key, definition.python_name, parent.name, children=children)
        )
    return None


def _encode(data: object) -> str:
    # Strawberry's own encoding of WebSocket messages (BaseView.encode_json).
    return json.dumps(data, separators=(",", ":"))


def next_message_head(operation_id: str) -> str:
    """What every graphql-transport-ws `next` message of an operation starts with; the encoded
    payload and "}" follow. Made once per operation, not per event."""
    return '{"id":' + json.dumps(operation_id) + ',"type":"next","payload":'
