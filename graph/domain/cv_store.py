"""The API's view of the CV domain: questionnaires, uploads, responses, analyses and PDFs
(asyncio Redis). Every read checks the owner: another user's object is `NotFound`, exactly like
a missing one (C7).

Reads of many objects (or many id lists) go to Redis as one pipeline, one round trip whatever
their number; the API's loaders (graph/domain/loaders.py) gather what sibling fields ask for into them.
The `..._by_id` reads answer each id with its object or the `NotFound` it is, not raised, so that
one missing object fails only the field that asked for it."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from redis.asyncio import Redis

from jobs.core import storage
from jobs.core.errors import NotFound
from jobs.core.events import as_bytes, as_text
from jobs.core.names import Keys
from jobs.core.outputs import AIResponse, PdfFile
from jobs.core.questionnaires import (
    Questionnaire,
    QuestionnaireFields,
    Resume,
    drop_resume_file,
    save_questionnaire,
    save_resume,
)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page:
    items: list[Questionnaire]
    has_next: bool
    end_cursor: str | None


# Each id's object, or the NotFound it is: missing or someone else's.
Found = list[T | NotFound]


class CvStore:
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys

    async def create(self, owner: str, fields: QuestionnaireFields) -> Questionnaire:
        now = time.time()
        questionnaire = Questionnaire(str(uuid.uuid4()), owner, fields, submitted_at=now, updated_at=now)
        async with self._redis.pipeline(transaction=True) as pipe:
            save_questionnaire(pipe, self._keys, questionnaire)
            await pipe.execute()
        return questionnaire

    async def questionnaire(self, owner: str, questionnaire_id: str) -> Questionnaire:
        return _one(await self.questionnaires_by_id(owner, [questionnaire_id]))

    async def questionnaires_by_id(self, owner: str, ids: Sequence[str]) -> Found[Questionnaire]:
        parse = Questionnaire.from_hash
        return await self._owned(self._keys.questionnaire, owner, ids, parse, "questionnaire")

    async def update(self, owner: str, questionnaire_id: str, fields: QuestionnaireFields) -> Questionnaire:
        updated = (await self.questionnaire(owner, questionnaire_id)).with_fields(fields, time.time())
        async with self._redis.pipeline(transaction=True) as pipe:
            save_questionnaire(pipe, self._keys, updated)
            await pipe.execute()
        return updated

    async def page(self, owner: str, first: int, after: str | None) -> Page:
        index = self._keys.user_questionnaires(owner)
        start = f"({after}" if after else "-"
        found = await self._redis.zrange(index, start, "+", bylex=True, offset=0, num=first + 1)
        members = [as_text(m) for m in found if isinstance(m, (bytes, str))]
        ids = [m.split(":", 1)[1] for m in members[:first]]
        async with self._redis.pipeline(transaction=False) as pipe:
            for questionnaire_id in ids:
                pipe.hgetall(self._keys.questionnaire(questionnaire_id))
            raws = await pipe.execute()
        items = [Questionnaire.from_hash(raw) for raw in raws if raw]
        return Page(items, has_next=len(members) > first, end_cursor=members[len(ids) - 1] if ids else None)

    async def release_storage(self, owner: str, size: int) -> None:
        """Give back a reservation whose file was never stored."""
        await self._redis.eval(storage.RELEASE_LUA, 1, storage.counter_key(self._keys, owner), size)

    async def attach_resume(self, questionnaire: Questionnaire, resume: Resume, content: bytes) -> None:
        """Store an upload (its bytes reserved) as the questionnaire's CV, replacing (and deleting)
        any earlier one."""
        keys = self._keys
        attach_keys = [keys.questionnaire(questionnaire.id), storage.counter_key(keys, questionnaire.owner)]
        async with self._redis.pipeline(transaction=True) as pipe:
            save_resume(pipe, keys, resume, content)
            pipe.eval(storage.ATTACH_LUA, 2, *attach_keys, resume.id, keys.resume(""))
            await pipe.execute()

    async def drop_resume_file(self, owner: str, resume_id: str) -> None:
        """Delete an upload's bytes (its record stays), giving them back to the STORAGE quota."""
        async with self._redis.pipeline(transaction=True) as pipe:
            drop_resume_file(pipe, self._keys, owner, resume_id)
            await pipe.execute()

    async def resume(self, owner: str, resume_id: str) -> Resume:
        return _one(await self.resumes_by_id(owner, [resume_id]))

    async def resumes_by_id(self, owner: str, ids: Sequence[str]) -> Found[Resume]:
        return await self._owned(self._keys.resume, owner, ids, Resume.from_hash, "resume")

    async def response(self, owner: str, response_id: str) -> AIResponse:
        return _one(await self.responses_by_id(owner, [response_id]))

    async def responses_by_id(self, owner: str, ids: Sequence[str]) -> Found[AIResponse]:
        return await self._owned(self._keys.response, owner, ids, AIResponse.from_hash, "response")

    async def analysis(self, owner: str, analysis_id: str) -> dict[str, Any]:
        return _one(await self.analyses_by_id(owner, [analysis_id]))

    async def analyses_by_id(self, owner: str, ids: Sequence[str]) -> Found[dict[str, Any]]:
        async with self._redis.pipeline(transaction=False) as pipe:
            for analysis_id in ids:
                pipe.get(self._keys.analysis(analysis_id))
            raws = await pipe.execute()
        found: Found[dict[str, Any]] = []
        for analysis_id, raw in zip(ids, raws, strict=True):
            document: dict[str, Any] | None = json.loads(raw) if raw else None
            if document is None or document["meta"].get("owner") != owner:
                found.append(NotFound(f"analysis {analysis_id} does not exist"))
            else:
                found.append(document)
        return found

    async def pdf(self, owner: str, pdf_id: str) -> PdfFile:
        return _one(await self.pdfs_by_id(owner, [pdf_id]))

    async def pdfs_by_id(self, owner: str, ids: Sequence[str]) -> Found[PdfFile]:
        return await self._owned(self._keys.pdf, owner, ids, PdfFile.from_hash, "PDF")

    async def pdf_content(self, owner: str, pdf_id: str) -> tuple[PdfFile, bytes]:
        pdf = await self.pdf(owner, pdf_id)
        content = await self._redis.get(self._keys.pdf_file(pdf_id))
        if content is None:
            raise NotFound(f"PDF {pdf_id} does not exist")
        return pdf, as_bytes(content)

    async def id_lists(self, keys: Sequence[str]) -> list[list[str]]:
        """The ids in each of these lists (a questionnaire's responses or analyses, a response's
        PDFs), newest first."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.lrange(key, 0, -1)
            found = await pipe.execute()
        return [[as_text(i) for i in ids] for ids in found]

    async def _ids(self, key: str) -> list[str]:
        return (await self.id_lists([key]))[0]

    async def _owned(
        self,
        key_of: Callable[[str], str],
        owner: str,
        ids: Sequence[str],
        parse: Callable[[dict[Any, Any]], T],
        what: str,
    ) -> Found[T]:
        async with self._redis.pipeline(transaction=False) as pipe:
            for object_id in ids:
                pipe.hgetall(key_of(object_id))
            raws = await pipe.execute()
        return [
            parse(raw)
            if raw and as_text(raw.get(b"owner", raw.get("owner", b""))) == owner
            else NotFound(f"{what} {object_id} does not exist")
            for object_id, raw in zip(ids, raws, strict=True)
        ]


def _one(found: Found[T]) -> T:
    (first,) = found
    if isinstance(first, NotFound):
        raise first
    return first
