"""What an engine is: something that turns an improvement request into a stream of text."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Protocol

SYSTEM_ROLE = (
    "You are a professional CV optimisation assistant. Improve and rewrite the candidate's CV to "
    "maximise their chances of being hired for the target position, while keeping every detail "
    "accurate: never invent employers, titles, dates, numbers, degrees or skills that the CV does "
    "not contain. Answer with the complete rewritten CV in Markdown and nothing else."
)


@dataclass(frozen=True, slots=True)
class ImproveRequest:
    cv_text: str
    position: str
    job_description: str | None = None
    prompt: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return asdict(self)

    def user_message(self) -> str:
        parts = [f"Target position: {self.position}"]
        if self.job_description:
            parts.append(f"Job description:\n{self.job_description}")
        if self.prompt:
            parts.append(f"Instructions from the candidate:\n{self.prompt}")
        parts.append(f"CV:\n{self.cv_text}")
        return "\n\n".join(parts)


class Engine(Protocol):
    @property
    def model(self) -> str: ...

    def stream(self, request: ImproveRequest) -> Iterator[str]:
        """Yield the rewritten CV in pieces; raise `TransientAIError` or `PermanentAIError`."""
        ...
