"""What an engine is: something that turns an improvement request into a stream of CV text and
advice for the candidate, ended by how the model finished it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Protocol

from jobs.core.outputs import Usage

# Where a model's answer turns from the CV to advice for the candidate (jobs/engines/advice.py).
ADVICE_MARKER = "@@ADVICE@@"
SYSTEM_ROLE = (
    "You are a professional CV optimisation assistant. Improve and rewrite the candidate's CV to "
    "maximise their chances of being hired for the target position, while keeping every detail "
    "accurate: never invent employers, titles, dates, numbers, degrees or skills that the CV does "
    "not contain. Contact details have been replaced by placeholders such as [EMAIL_1] or "
    "[PHONE_1]; keep each placeholder exactly as written. Answer with the complete rewritten CV in "
    "Markdown, exactly as the candidate will send it. Advice for the candidate that must not be "
    "sent (gaps to fill, claims to check, terms the job asks for that the CV lacks) never goes "
    f"into the CV: write it after the CV, below a line holding only {ADVICE_MARKER}, one piece "
    "of advice per line starting with '- '. Without advice, leave that line out."
)
DEFAULT_PROMPT = "Improve my CV for this position."

# The questionnaire's context, in the order the model reads it.
_CONTEXT = (
    ("Target position", "position"),
    ("Industry", "industry"),
    ("Years of experience", "experience_level"),
    ("Company size", "company_size"),
    ("Location", "location"),
    ("Application timeline", "application_timeline"),
)


@dataclass(frozen=True, slots=True)
class ImproveRequest:
    cv_text: str
    position: str
    job_description: str | None = None
    prompt: str | None = None
    questionnaire_id: str | None = None
    industry: str | None = None
    experience_level: str | None = None
    company_size: str | None = None
    location: str | None = None
    application_timeline: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return asdict(self)

    def user_message(self) -> str:
        parts = [
            "\n".join(f"{label}: {getattr(self, name)}" for label, name in _CONTEXT if getattr(self, name))
        ]
        if self.job_description:
            parts.append(f"Job description:\n{self.job_description}")
        parts.append(f"Instructions from the candidate:\n{self.prompt or DEFAULT_PROMPT}")
        parts.append(f"CV:\n{self.cv_text}")
        return "\n\n".join(parts)


@dataclass(frozen=True, slots=True)
class Finish:
    """How the model ended its answer, in OpenAI's words: "stop" when it finished it, "length"
    when its output-token limit cut it short (jobs/engines/answers.py judges the rest)."""

    reason: str


@dataclass(frozen=True, slots=True)
class Advice:
    """One piece of advice for the candidate: stored beside the rewrite, never in its text (nor,
    then, in the PDF they send)."""

    text: str


class Engine(Protocol):
    @property
    def model(self) -> str: ...

    def stream(self, request: ImproveRequest) -> Iterator[str | Advice | Usage | Finish]:
        """Yield the rewritten CV in pieces (`str`: CV text only), advice for the candidate, how
        the model finished and the token usage, when the model reports them; raise
        `TransientAIError` or `PermanentAIError`."""
        ...
