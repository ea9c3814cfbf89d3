"""One operation's batched reads (Strawberry's DataLoader): what sibling fields ask Redis for in
one turn of the event loop goes as one pipeline, so a page of questionnaires with their
responses and PDFs costs a few round trips per list level, not one per object (N+1).

Loaders live for one operation (an HTTP request's, or each operation of a WebSocket): the read
budget's extension opens their scope (graph/bounds/read_budget.py) and resolvers reach them through
`Context.loaders`. They batch and never cache: an operation that changes an object and reads it
again (a mutation's later field) reads it anew, as it did before they batched.

Each object is loaded as its owner sees it (C7): another user's, like a missing one, fails the
field that asked for it with NOT_FOUND, and only that field.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

from strawberry.dataloader import DataLoader

from graph.domain.cv_store import CvStore, Found
from jobs.core.errors import NotFound
from jobs.core.names import Keys
from jobs.core.outputs import AIResponse, PdfFile
from jobs.core.questionnaires import Questionnaire, Resume

T = TypeVar("T")

# (owner, id): whose eyes an object is read with, and which one.
Owned = tuple[str, str]


class Loaders:
    def __init__(self, cv: CvStore, keys: Keys) -> None:
        self.keys = keys
        # A list's key -> the ids in it.
        self.id_lists: DataLoader[str, list[str]] = DataLoader(cv.id_lists, cache=False)
        self.questionnaires: DataLoader[Owned, Questionnaire] = _owned(cv.questionnaires_by_id)
        self.resumes: DataLoader[Owned, Resume] = _owned(cv.resumes_by_id)
        self.responses: DataLoader[Owned, AIResponse] = _owned(cv.responses_by_id)
        self.analyses: DataLoader[Owned, dict[str, Any]] = _owned(cv.analyses_by_id)
        self.pdfs: DataLoader[Owned, PdfFile] = _owned(cv.pdfs_by_id)

    async def listed(
        self, list_key: str, objects: DataLoader[Owned, T], owner: str, spend: Callable[[int], None]
    ) -> list[T]:
        """The objects whose ids the list holds, `spend` told their number before they load; the
        first one missing or someone else's fails the whole list, as a single read would."""
        ids = await self.id_lists.load(list_key)
        spend(len(ids))
        return await objects.load_many([(owner, i) for i in ids])


def _owned(read: Callable[[str, Sequence[str]], Awaitable[Found[T]]]) -> DataLoader[Owned, T]:
    async def load(keys: list[Owned]) -> Found[T]:
        # One caller per operation in practice; grouped all the same, never mixed.
        ids_of: dict[str, list[int]] = {}
        for index, (owner, _) in enumerate(keys):
            ids_of.setdefault(owner, []).append(index)
        found: dict[int, T | NotFound] = {}
        for owner, indexes in ids_of.items():
            answers = await read(owner, [keys[i][1] for i in indexes])
            found.update(zip(indexes, answers, strict=True))
        return [found[i] for i in range(len(keys))]

    return DataLoader(load, cache=False)


class _Scope:
    loaders: Loaders | None = None


_OPERATION: ContextVar[_Scope | None] = ContextVar("operation_loaders", default=None)


@contextmanager
def per_operation() -> Iterator[None]:
    """Every resolver of the operation run within shares one set of loaders (the tasks
    graphql-core starts for its fields copy this context, and with it the scope)."""
    token = _OPERATION.set(_Scope())
    try:
        yield
    finally:
        _OPERATION.reset(token)


def loaders_of(cv: CvStore, keys: Keys) -> Loaders:
    scope = _OPERATION.get()
    if scope is None:
        # Outside an operation nothing runs beside it to batch with.
        return Loaders(cv, keys)
    if scope.loaders is None:
        scope.loaders = Loaders(cv, keys)
    return scope.loaders
