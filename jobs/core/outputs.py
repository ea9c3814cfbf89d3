"""What jobs produce and store for their owner: AI responses and rendered PDFs (analyses are
JSON documents, jobs/analysis). Shared by the workers, which write them, and the API, which reads
them; they stay until their owner deletes the questionnaire they belong to (C8)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from jobs.core.hashes import from_hash, to_hash
from jobs.core.names import Keys
from jobs.core.questionnaires import Pipeline


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


@dataclass(frozen=True, slots=True)
class Claim:
    """Something in a rewrite that the source CV does not contain."""

    kind: str  # NUMBER, EMPLOYER or TITLE
    text: str


@dataclass(frozen=True, slots=True)
class AIResponse:
    id: str
    owner: str
    questionnaire_id: str | None
    job_id: str
    text: str
    model: str
    created_at: float
    usage: Usage | None = None
    unverified_claims: list[Claim] = field(default_factory=list)
    truncated: bool = False
    # For the candidate, never in `text` (nor the PDF). A response stored before advice was kept
    # apart has no such field in its hash and reads as having none.
    advice: list[str] = field(default_factory=list)

    def to_hash(self) -> dict[str, str]:
        return to_hash(self)

    @classmethod
    def from_hash(cls, raw: dict[Any, Any]) -> AIResponse:
        return from_hash(cls, raw)


@dataclass(frozen=True, slots=True)
class PdfFile:
    id: str
    owner: str
    response_id: str
    size: int
    pages: int
    created_at: float

    def to_hash(self) -> dict[str, str]:
        return to_hash(self)

    @classmethod
    def from_hash(cls, raw: dict[Any, Any]) -> PdfFile:
        return from_hash(cls, raw)


class ListPipeline(Pipeline, Protocol):
    def lpush(self, name: str, *values: Any) -> Any: ...


def save_response(pipe: ListPipeline, keys: Keys, response: AIResponse) -> None:
    pipe.hset(keys.response(response.id), mapping=response.to_hash())
    if response.questionnaire_id:
        pipe.lpush(keys.questionnaire_responses(response.questionnaire_id), response.id)


def save_pdf(pipe: ListPipeline, keys: Keys, pdf: PdfFile, content: bytes) -> None:
    pipe.hset(keys.pdf(pdf.id), mapping=pdf.to_hash())
    pipe.set(keys.pdf_file(pdf.id), content)
    pipe.lpush(keys.response_pdfs(pdf.response_id), pdf.id)


def download_path(pdf_id: str) -> str:
    """Where the API serves a PDF to its owner (asgi.py)."""
    return f"/downloads/pdf/{pdf_id}"
