"""Input checks for mutations and arguments: each failure is an `InvalidInput` naming the field;
an input with several wrong fields lists them all (`InvalidInputs`)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import TypeVar

from jobs.core.errors import InvalidInput, InvalidInputs
from jobs.cv.text import strip_html
from jobs.engines import ImproveRequest
from settings import Settings

T = TypeVar("T")


def object_id(value: str, field: str = "id", what: str = "job") -> str:
    try:
        parsed = uuid.UUID(value)
    except (ValueError, AttributeError, TypeError) as e:
        raise InvalidInput(field, f"{field} must be a {what} id (a UUID), got {value[:60]!r}") from e
    return str(parsed)


def job_id(value: str, field: str = "id") -> str:
    return object_id(value, field, "job")


def after_seq(value: int | None) -> int | None:
    if value is not None and value < 0:
        raise InvalidInput("afterSeq", f"afterSeq must be 0 or more, got {value}")
    return value


def page_size(value: int, limit: int = 100) -> int:
    if not 1 <= value <= limit:
        raise InvalidInput("first", f"first must be between 1 and {limit}, got {value}")
    return value


def text(
    field: str, value: str | None, max_chars: int, *, required: bool, min_chars: int = 0, html: bool = False
) -> str | None:
    """The value stripped (of HTML tags too, where `html`); None when empty and optional."""
    cleaned = (strip_html(value) if html else value.strip()) if value is not None else ""
    if not cleaned:
        if required:
            raise InvalidInput(field, f"{field} must not be empty")
        return None
    if len(cleaned) > max_chars:
        raise InvalidInput(
            field, f"{field} is {len(cleaned)} characters; the limit is {max_chars}", code="INPUT_TOO_LONG"
        )
    if len(cleaned) < min_chars:
        raise InvalidInput(
            field,
            f"{field} is {len(cleaned)} characters; at least {min_chars} are needed",
            code="INPUT_TOO_SHORT",
        )
    return cleaned


def all_of(checks: dict[str, Callable[[], T]]) -> dict[str, T]:
    """Run every check; raise one error listing every violation, so nothing waits for a retry."""
    results: dict[str, T] = {}
    violations: list[InvalidInput] = []
    for name, check in checks.items():
        try:
            results[name] = check()
        except InvalidInput as e:
            violations.append(e)
    if violations:
        raise violations[0] if len(violations) == 1 else InvalidInputs(violations)
    return results


def improve_request(
    settings: Settings,
    cv_text: str | None,
    position: str | None,
    job_description: str | None,
    prompt: str | None,
    no_cv: InvalidInput | None = None,
) -> ImproveRequest:
    """The checked input of an improvement; `no_cv` is the error to report when there is no CV
    text at all (its absence from a questionnaire says more than "cvText must not be empty")."""

    def cv() -> str | None:
        if cv_text is None and no_cv is not None:
            raise no_cv
        return text("cvText", cv_text, settings.cv_text_max_chars, required=True)

    checked = all_of(
        {
            "cv_text": cv,
            "position": lambda: text("position", position, settings.position_max_chars, required=True),
            "job_description": lambda: text(
                "jobDescription", job_description, settings.job_description_max_chars, required=False
            ),
            "prompt": lambda: text(
                "prompt",
                prompt,
                settings.prompt_max_chars,
                required=False,
                min_chars=settings.prompt_min_chars,
            ),
        }
    )
    return ImproveRequest(
        cv_text=checked["cv_text"] or "",
        position=checked["position"] or "",
        job_description=checked["job_description"],
        prompt=checked["prompt"],
    )
