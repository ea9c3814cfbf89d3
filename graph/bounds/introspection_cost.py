"""What an introspection query would produce, estimated before it runs (C10).

The cost rule (graph/bounds/document_cost.py) bounds what a document selects; introspection multiplies
it by the schema instead of by data: `__schema { types { fields { type { ofType { fields ...`
lists every type, every field of each, and so on, and 30 aliases of that (4.8 KB, no token
needed, within every other bound) held an API process for 0.6 s and answered 877 KB. Here each
introspection list field counts as many objects as such lists hold on average in this schema
(56 types, 3.5 fields a type, ... read from the schema itself), the products are summed over the
selection, fragments measured once each, and a document estimated at more than `FACTOR` times
the fullest introspection query GraphiQL sends is refused. So introspection as tools do it always
passes, whatever the schema grows to, and nothing else costs much more (GraphiQL's is estimated
at 22,000 objects and answered in about 15 ms here; the costliest shape found takes about 2 µs
per estimated object, so about 70 ms at the limit; the 30-alias document is 16 times the limit).
"""

from __future__ import annotations

from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    build_schema,
    get_introspection_query,
    get_named_type,
    introspection_from_schema,
    parse,
)

FACTOR = 1.5
ROOT = ""  # an operation's root type, where `__schema` and `__type` live
_ROOT_FIELDS = {"__schema": "__Schema", "__type": "__Type"}
# GraphiQL's introspection query with every option it may ask for.
_EVERYTHING = {
    "descriptions": True,
    "specified_by_url": True,
    "directive_is_repeatable": True,
    "schema_description": True,
    "input_value_deprecation": True,
}


class IntrospectionCost:
    """The estimate for one schema: the type each introspection field leads to, and how many
    objects each list field may hold at most."""

    def __init__(self, sdl: str) -> None:
        schema = build_schema(sdl)
        self._child: dict[tuple[str, str], str] = {}
        for name, graphql_type in schema.type_map.items():
            if name.startswith("__") and hasattr(graphql_type, "fields"):
                for field_name, field in graphql_type.fields.items():
                    self._child[(name, field_name)] = get_named_type(field.type).name
        self._longest = _longest_lists(introspection_from_schema(schema)["__schema"])
        self.limit = int(FACTOR * self.estimate(parse(get_introspection_query(**_EVERYTHING))))

    def estimate(self, document: DocumentNode) -> int:
        """The introspection objects the document's operations would produce, at most."""
        fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        measure = _Measure(self, fragments)
        return sum(
            measure.selection(d.selection_set, ROOT)
            for d in document.definitions
            if isinstance(d, OperationDefinitionNode)
        )

    def refusal(self, document: DocumentNode) -> GraphQLError | None:
        estimate = self.estimate(document)
        if estimate <= self.limit:
            return None
        return GraphQLError(
            f"the document asks for more of the schema than one answer may hold (about {estimate} "
            f"objects; the limit is {self.limit}): introspect once, without aliases of __schema",
            extensions={"code": "GRAPHQL_VALIDATION_FAILED"},
        )

    def child(self, parent: str, field: str) -> str | None:
        if parent == ROOT:
            return _ROOT_FIELDS.get(field)
        return self._child.get((parent, field))

    def multiplier(self, parent: str, field: str) -> int:
        return max(1, self._longest.get((parent, field), 1))


# One part of a selection set's estimate: `factor` x (`base` + the estimate of `inner` under
# `parent`), where `inner` is None for a leaf.
_Part = tuple[int, int, SelectionSetNode | None, str]


class _Measure:
    """Estimates selection sets without recursion (a chain of a thousand fragment spreads is a
    valid document), each (selection set, parent type) once: fragments are measured once however
    often they are spread."""

    def __init__(self, cost: IntrospectionCost, fragments: dict[str, FragmentDefinitionNode]) -> None:
        self._cost = cost
        self._fragments = fragments
        self._memo: dict[tuple[int, str], int] = {}

    def selection(self, root: SelectionSetNode, parent: str) -> int:
        stack: list[tuple[SelectionSetNode, str, bool]] = [(root, parent, False)]
        # Expanded, not yet summed, with their parts (read once): a fragment cycle (refused by
        # other rules) counts as nothing instead of looping.
        opened: dict[tuple[int, str], list[_Part]] = {}
        while stack:
            node, type_name, ready = stack.pop()
            key = (id(node), type_name)
            if key in self._memo or (key in opened and not ready):
                continue
            if ready:
                self._memo[key] = sum(
                    factor * (base + (self._memo.get((id(inner), under), 0) if inner else 0))
                    for factor, base, inner, under in opened.pop(key)
                )
                continue
            parts = opened[key] = self._parts(node, type_name)
            stack.append((node, type_name, True))
            for _, _, inner, under in parts:
                if inner is not None and (id(inner), under) not in self._memo:
                    stack.append((inner, under, False))
        return self._memo[(id(root), parent)]

    def _parts(self, selection_set: SelectionSetNode, parent: str) -> list[_Part]:
        parts: list[_Part] = []
        for node in selection_set.selections:
            if isinstance(node, FieldNode):
                child = self._cost.child(parent, node.name.value)
                # Not introspection: ordinary fields are bounded by the cost rule and what they
                # load by the read budget; only introspection's own objects are counted here.
                if child is not None:
                    factor = self._cost.multiplier(parent, node.name.value)
                    parts.append((factor, 1, node.selection_set, child))
            elif isinstance(node, InlineFragmentNode):
                parts.append((1, 0, node.selection_set, parent))
            elif isinstance(node, FragmentSpreadNode) and (fragment := self._fragments.get(node.name.value)):
                parts.append((1, 0, fragment.selection_set, parent))
        return parts


def _longest_lists(schema: Any) -> dict[tuple[str, str], int]:
    """For each introspection type and list field, the longest list the schema holds there."""
    types = schema["types"]
    fields = [f for t in types for f in t.get("fields") or []]
    instances: dict[str, list[dict[str, Any]]] = {
        "__Schema": [schema],
        "__Type": types,
        "__Field": fields,
        "__Directive": schema["directives"],
        "__InputValue": [a for f in fields for a in f["args"]]
        + [v for t in types for v in t.get("inputFields") or []]
        + [a for d in schema["directives"] for a in d["args"]],
        "__EnumValue": [v for t in types for v in t.get("enumValues") or []],
    }
    totals: dict[tuple[str, str], int] = {}
    for type_name, objects in instances.items():
        for obj in objects:
            for key, value in obj.items():
                if isinstance(value, list):
                    totals[(type_name, key)] = totals.get((type_name, key), 0) + len(value)
    return {key: -(-total // len(instances[key[0]])) for key, total in totals.items()}
