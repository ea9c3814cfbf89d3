"""What jobs produce and store for their owner: AI responses and rendered PDFs (analyses are
JSON documents, jobs/analysis). Shared by the workers, which write them, and the API, which reads
them; they stay until their owner deletes the questionnaire they belong to (C8)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from jobs.events import as_text
from jobs.names import Keys
from jobs.questionnaires import Pipeline


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

    def to_hash(self) -> dict[str, str]:
        return {
            "id": self.id,
            "owner": self.owner,
            "questionnaire_id": self.questionnaire_id or "",
            "job_id": self.job_id,
            "text": self.text,
            "model": self.model,
            "created_at": repr(self.created_at),
            "usage": json.dumps(asdict(self.usage)) if self.usage else "",
            "unverified_claims": json.dumps([asdict(c) for c in self.unverified_claims]),
            "truncated": "1" if self.truncated else "",
        }

    @classmethod
    def from_hash(cls, raw: dict[Any, Any]) -> AIResponse:
        h = {as_text(k): as_text(v) for k, v in raw.items()}
        return cls(
            id=h["id"],
            owner=h["owner"],
            questionnaire_id=h.get("questionnaire_id") or None,
            job_id=h["job_id"],
            text=h["text"],
            model=h["model"],
            created_at=float(h["created_at"]),
            usage=Usage(**json.loads(h["usage"])) if h.get("usage") else None,
            unverified_claims=[Claim(**c) for c in json.loads(h.get("unverified_claims") or "[]")],
            truncated=bool(h.get("truncated")),
        )


@dataclass(frozen=True, slots=True)
class PdfFile:
    id: str
    owner: str
    response_id: str
    size: int
    pages: int
    created_at: float

    def to_hash(self) -> dict[str, str]:
        return {k: str(v) for k, v in asdict(self).items()}

    @classmethod
    def from_hash(cls, raw: dict[Any, Any]) -> PdfFile:
        h = {as_text(k): as_text(v) for k, v in raw.items()}
        return cls(
            id=h["id"],
            owner=h["owner"],
            response_id=h["response_id"],
            size=int(h["size"]),
            pages=int(h["pages"]),
            created_at=float(h["created_at"]),
        )


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
