"""Input checks for mutations and arguments: each failure is an `InvalidInput` naming the field."""

from __future__ import annotations

import uuid

from jobs.engines import ImproveRequest
from jobs.errors import InvalidInput
from settings import Settings


def job_id(value: str, field: str = "id") -> str:
    try:
        parsed = uuid.UUID(value)
    except (ValueError, AttributeError, TypeError) as e:
        raise InvalidInput(field, f"{field} must be a job id (a UUID), got {value[:60]!r}") from e
    return str(parsed)


def after_seq(value: int | None) -> int | None:
    if value is not None and value < 0:
        raise InvalidInput("afterSeq", f"afterSeq must be 0 or more, got {value}")
    return value


def text(field: str, value: str | None, max_chars: int, *, required: bool) -> str | None:
    cleaned = value.strip() if value is not None else ""
    if not cleaned:
        if required:
            raise InvalidInput(field, f"{field} must not be empty")
        return None
    if len(cleaned) > max_chars:
        raise InvalidInput(
            field, f"{field} is {len(cleaned)} characters; the limit is {max_chars}", code="INPUT_TOO_LONG"
        )
    return cleaned


def improve_request(
    settings: Settings, cv_text: str, position: str, job_description: str | None, prompt: str | None
) -> ImproveRequest:
    return ImproveRequest(
        cv_text=text("cvText", cv_text, settings.cv_text_max_chars, required=True) or "",
        position=text("position", position, settings.position_max_chars, required=True) or "",
        job_description=text(
            "jobDescription", job_description, settings.job_description_max_chars, required=False
        ),
        prompt=text("prompt", prompt, settings.prompt_max_chars, required=False),
    )
