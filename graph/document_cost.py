"""What a document would cost once its fragments are expanded, measured in time linear in the
document, before any other validation rule looks at it.

Each fragment is measured once, after the fragments it spreads, and its measure is reused
wherever it is spread: a "diamond" (`F0 { ...F1 ...F1 }`, `F1 { ...F2 ...F2 }`, ...) selects
2^levels fields but costs its few hundred bytes to measure. Walking every path instead, as
Strawberry's QueryDepthLimiter and MaxAliasesLimiter do, takes seconds at 21 levels and hours at
30. A document over a bound is refused here, so graphql-core's rules (which run together in one
visitor, OverlappingFieldsCanBeMerged being quadratic in the fields of one selection) only ever
see documents of bounded size.

The depth and alias counts keep those limiters' meaning: depth is the nesting of fields with
selections below the operation, introspection fields not counted; aliases are counted in every
operation with fragments expanded. Fields are counted the same way, introspection included.
"""

from __future__ import annotations

from dataclasses import dataclass

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)

VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"


@dataclass(frozen=True, slots=True)
class CostLimits:
    max_depth: int
    max_aliases: int
    max_fields: int


@dataclass(frozen=True, slots=True)
class Cost:
    depth: int = 0
    aliases: int = 0
    fields: int = 0

    def beside(self, other: Cost) -> Cost:
        """Two selections of one selection set."""
        return Cost(max(self.depth, other.depth), self.aliases + other.aliases, self.fields + other.fields)


def cost_refusal(document: DocumentNode, limits: CostLimits) -> GraphQLError | None:
    """The error refusing `document`, or None when it is within `limits`."""
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    order = _dependency_order(fragments)
    if isinstance(order, GraphQLError):
        return order
    measured: dict[str, Cost] = {}
    try:
        for name in order:
            measured[name] = _measure(fragments[name].selection_set, measured)
        operations = [
            (d, _measure(d.selection_set, measured))
            for d in document.definitions
            if isinstance(d, OperationDefinitionNode)
        ]
    except RecursionError:
        # The parser bounds nesting by the interpreter's recursion limit too; this is its backstop.
        return _refused("The document nests too deeply.")
    for operation, cost in operations:
        if cost.depth > limits.max_depth:
            name = operation.name.value if operation.name else "anonymous"
            return _refused(f"'{name}' exceeds maximum operation depth of {limits.max_depth}", operation)
    aliases = sum(cost.aliases for _, cost in operations)
    if aliases > limits.max_aliases:
        return _refused(f"{aliases} aliases found. Allowed: {limits.max_aliases}")
    fields = sum(cost.fields for _, cost in operations)
    if fields > limits.max_fields:
        return _refused(
            f"The document selects {fields} fields once its fragments are expanded; "
            f"at most {limits.max_fields} are allowed."
        )
    return None


def _measure(selection_set: SelectionSetNode | None, fragments: dict[str, Cost]) -> Cost:
    """The cost of a selection set; every fragment it spreads is already in `fragments` (an
    unknown one costs nothing here: KnownFragmentNamesRule reports it)."""
    total = Cost()
    for selection in selection_set.selections if selection_set else ():
        if isinstance(selection, FieldNode):
            below = _measure(selection.selection_set, fragments)
            counted = selection.selection_set is not None and not selection.name.value.startswith("__")
            total = total.beside(
                Cost(
                    below.depth + 1 if counted else 0,
                    below.aliases + (selection.alias is not None),
                    below.fields + 1,
                )
            )
        elif isinstance(selection, InlineFragmentNode):
            total = total.beside(_measure(selection.selection_set, fragments))
        elif isinstance(selection, FragmentSpreadNode):
            total = total.beside(fragments.get(selection.name.value, Cost()))
    return total


def _dependency_order(fragments: dict[str, FragmentDefinitionNode]) -> list[str] | GraphQLError:
    """The fragments, each after every fragment it spreads; an error if they spread in a cycle
    (which NoFragmentCyclesRule would refuse too). Iterative: a chain of a thousand fragments
    must not exhaust the interpreter's stack."""
    spreads = {name: _spread_names(f.selection_set) for name, f in fragments.items()}
    done: set[str] = set()
    order: list[str] = []
    for root in fragments:
        if root in done:
            continue
        path = [root]
        on_path = {root}
        pending = [iter(spreads[root])]
        while pending:
            child = next(pending[-1], None)
            if child is None:
                pending.pop()
                name = path.pop()
                on_path.discard(name)
                done.add(name)
                order.append(name)
            elif child in on_path:
                return _refused(f"Cannot spread fragment '{child}' within itself.", fragments[child])
            elif child in fragments and child not in done:
                path.append(child)
                on_path.add(child)
                pending.append(iter(spreads[child]))
    return order


def _spread_names(selection_set: SelectionSetNode) -> list[str]:
    """The names of the fragments spread anywhere within a selection set, once each."""
    names: dict[str, None] = {}
    stack = [selection_set]
    while stack:
        for selection in stack.pop().selections:
            if isinstance(selection, FragmentSpreadNode):
                names[selection.name.value] = None
            elif isinstance(selection, (FieldNode, InlineFragmentNode)) and selection.selection_set:
                stack.append(selection.selection_set)
    return list(names)


def _refused(
    message: str, node: OperationDefinitionNode | FragmentDefinitionNode | None = None
) -> GraphQLError:
    return GraphQLError(message, node, extensions={"code": VALIDATION_FAILED})
