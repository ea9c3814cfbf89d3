"""A bound on what one operation may load (C10).

A document's own cost is bounded before it runs (graph/bounds/document_cost.py), but what it loads
depends on the data: `AIResponse.questionnaire` and `Questionnaire.responses` refer to each
other, so a 164-byte query nested five times over a questionnaire with 20 responses loaded 8,000
questionnaires (3 s and half a megabyte) within the depth limit. Each operation therefore gets a
budget of objects it may load from Redis (`GRAPHQL_MAX_LOADED_OBJECTS`); resolvers spend it
before they load, so the work stops at the bound, and the fields past it answer
QUERY_TOO_COMPLEX.

The budget lives in a context variable set for the operation's execution: every resolver of the
operation (and the tasks graphql-core starts for list items, which copy the context) sees the
same one, and two operations on one WebSocket never share one. The operation's loaders
(graph/domain/loaders.py), which batch those loads, are scoped to it here likewise.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextvars import ContextVar

from strawberry.extensions import SchemaExtension

from graph.domain.loaders import per_operation
from jobs.core.errors import TooComplex

_BUDGET: ContextVar[ReadBudget | None] = ContextVar("read_budget", default=None)


class ReadBudget:
    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._spent = 0

    def spend(self, count: int) -> None:
        self._spent += count
        if self._spent > self._limit:
            raise TooComplex(
                f"this operation would load more than {self._limit} objects; ask for fewer "
                "(a smaller page, fewer nested lists)",
                limit=self._limit,
            )


def spend(count: int) -> None:
    """Charge `count` loads to the running operation's budget (none outside an operation)."""
    budget = _BUDGET.get()
    if budget is not None:
        budget.spend(count)


class ReadBudgetLimiter(SchemaExtension):
    def on_execute(self) -> Iterator[None]:
        context = self.execution_context.context
        settings = getattr(getattr(context, "services", None), "settings", None)
        token = _BUDGET.set(ReadBudget(settings.graphql_max_loaded_objects) if settings else None)
        try:
            with per_operation():
                yield
        finally:
            _BUDGET.reset(token)
