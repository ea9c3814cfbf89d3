"""What a document would cost once its fragments are expanded, measured in time linear in the
document, before any other validation rule looks at it.

Each fragment is measured once, after the fragments it spreads, and its measure is reused
wherever it is spread: a "diamond" (`F0 { ...F1 ...F1 }`, `F1 { ...F2 ...F2 }`, ...) selects
2^levels fields but costs its few hundred bytes to measure. Walking every path instead, as
Strawberry's QueryDepthLimiter and MaxAliasesLimiter do, takes seconds at 21 levels and hours at
30. A document over a bound is refused here, so graphql-core's rules (which run together in one
visitor, OverlappingFieldsCanBeMerged being quadratic in the fields of one selection) only ever
see documents of bounded size. That rule compares every two fields of a selection set that share
a response name, fragments and inline fragments merged in, and for each such pair every two
fields below them: pairs are bounded too, each weighted by the product of the two fields' sizes
(the most their comparison can take), summed over every selection set of the document. It also
compares every two distinct fragments spread in one selection set, whatever they select: each
such pair is weighted by FRAGMENT_PAIR plus the response names of the two. And graphql-core's
rules do work per operation (variable usages, fragments reached): operations are counted too.

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
# What comparing two fragments costs graphql-core beyond their names, in units of one field pair
# (about 1 µs here; measured with bench/document_cost.py).
FRAGMENT_PAIR = 6


@dataclass(frozen=True, slots=True)
class CostLimits:
    max_depth: int
    max_aliases: int
    max_fields: int
    max_comparisons: int
    max_operations: int


@dataclass(frozen=True, slots=True)
class Cost:
    depth: int = 0
    aliases: int = 0
    fields: int = 0

    def beside(self, other: Cost) -> Cost:
        """Two selections of one selection set."""
        return Cost(max(self.depth, other.depth), self.aliases + other.aliases, self.fields + other.fields)


class _Refusal(Exception):
    def __init__(self, error: GraphQLError) -> None:
        super().__init__(error.message)
        self.error = error


@dataclass(frozen=True, slots=True)
class _Measured:
    cost: Cost
    # Per response name, the fields with it in this selection set: the sum of their sizes, and
    # the sum of the squares of their sizes.
    names: dict[str, tuple[int, int]]
    # The fragments spread directly in it (or in its inline fragments), with their names' count.
    spread: dict[str, int]


def cost_refusal(document: DocumentNode, limits: CostLimits) -> GraphQLError | None:
    """The error refusing `document`, or None when it is within `limits`."""
    operation_count = sum(isinstance(d, OperationDefinitionNode) for d in document.definitions)
    if operation_count > limits.max_operations:
        return _refused(f"{operation_count} operations found. Allowed: {limits.max_operations}")
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    order = _dependency_order(fragments)
    if isinstance(order, GraphQLError):
        return order
    measure = _Measure(limits)
    try:
        for name in order:
            measure.fragment(name, fragments[name].selection_set)
        operations = [
            (d, measure.selection_set(d.selection_set).cost)
            for d in document.definitions
            if isinstance(d, OperationDefinitionNode)
        ]
    except _Refusal as refusal:
        return refusal.error
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


class _Measure:
    """Measures selection sets; fragments first, each once (their measures are reused wherever
    they are spread; an unknown one measures nothing here: KnownFragmentNamesRule reports it)."""

    def __init__(self, limits: CostLimits) -> None:
        self._limits = limits
        self._fragments: dict[str, _Measured] = {}
        self.comparisons = 0

    def fragment(self, name: str, selection_set: SelectionSetNode) -> None:
        measured = self._fragments[name] = self.selection_set(selection_set)
        if measured.cost.aliases > self._limits.max_aliases:
            # Refused wherever it is spread; refusing it here also bounds the response names a
            # fragment can bring into a selection set.
            message = f"{measured.cost.aliases} aliases found in fragment '{name}'. Allowed: "
            raise _Refusal(_refused(message + str(self._limits.max_aliases)))

    def selection_set(self, selection_set: SelectionSetNode | None) -> _Measured:
        total = Cost()
        names: dict[str, tuple[int, int]] = {}
        spread: dict[str, int] = {}  # fragment -> its response names, each fragment once
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FieldNode):
                below = self.selection_set(selection.selection_set).cost
                counted = selection.selection_set is not None and not selection.name.value.startswith("__")
                size = below.fields + 1
                aliases = below.aliases + (selection.alias is not None)
                total = total.beside(Cost(below.depth + 1 if counted else 0, aliases, size))
                _add(names, (selection.alias or selection.name).value, (size, size * size))
                continue
            if isinstance(selection, InlineFragmentNode):
                merged = self.selection_set(selection.selection_set)
                spread.update(merged.spread)
            elif isinstance(selection, FragmentSpreadNode) and selection.name.value in self._fragments:
                merged = self._fragments[selection.name.value]
                spread[selection.name.value] = len(merged.names)
            else:
                continue
            total = total.beside(merged.cost)
            for key, sizes in merged.names.items():
                _add(names, key, sizes)
        self._compare(names, spread)
        return _Measured(total, names, spread)

    def _compare(self, names: dict[str, tuple[int, int]], spread: dict[str, int]) -> None:
        # Σ over pairs f < g of size(f) * size(g) = ((Σ size)² - Σ size²) / 2, per name.
        self.comparisons += sum((total * total - squares) // 2 for total, squares in names.values())
        # Σ over pairs of fragments a < b of FRAGMENT_PAIR + names(a) + names(b).
        count = len(spread)
        self.comparisons += count * (count - 1) // 2 * FRAGMENT_PAIR + (count - 1) * sum(spread.values())
        if self.comparisons > self._limits.max_comparisons:
            message = (
                f"Checking that the fields sharing a response name can merge would take more than "
                f"{self._limits.max_comparisons} comparisons."
            )
            raise _Refusal(_refused(message))


def _add(names: dict[str, tuple[int, int]], key: str, sizes: tuple[int, int]) -> None:
    total, squares = names.get(key, (0, 0))
    names[key] = (total + sizes[0], squares + sizes[1])


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
