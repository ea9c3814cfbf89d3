"""The service's error tree. Each error carries a stable `code`, which GraphQL clients see as
`extensions.code`; `graph/errors.py` maps them in one place.

    ServiceError
    ├── Unauthenticated       UNAUTHENTICATED: no valid bearer token
    ├── NotFound              NOT_FOUND: no such object (or not yours: C7)
    ├── RateLimited           RATE_LIMITED: over the plan's quota (limit, used, resetAt, ...)
    ├── TooBusy               TOO_MANY_ACTIVE_JOBS: the user's concurrency cap
    ├── InvalidInput          BAD_USER_INPUT / INPUT_TOO_LONG / ...: names the field (and lists
    │                         every violation of the input in `violations`)
    ├── JobClosed             JOB_FINISHED: the job is already terminal (e.g. cancelled mid-run)
    ├── JobActive             JOB_ACTIVE: the job is still queued or running
    ├── Superseded            another runner took the job over (redelivery)
    ├── Unavailable           SERVICE_UNAVAILABLE: Redis or the broker did not answer
    ├── SlowSubscriber        SLOW_SUBSCRIBER: a subscription fell too far behind and was dropped
    ├── TooComplex            QUERY_TOO_COMPLEX: an operation would load more than its budget
    ├── WorkFailed            the job's input cannot be processed (PDF_ENCRYPTED, NO_TEXT_LAYER...)
    └── AIError               AI_*: the model call failed
        ├── TransientAIError  429, 5xx, timeouts, connection errors: retried with backoff
        └── PermanentAIError  auth, input too long, content filtered: the job fails
            └── EmptyAnswer   AI_EMPTY_RESPONSE: the model answered without a word
"""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    code = "INTERNAL"

    def __init__(self, message: str, *, code: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details

    @property
    def extensions(self) -> dict[str, Any]:
        # graphql-core copies an original error's `extensions` into the GraphQL error.
        return {"code": self.code, **self.details}


class Unauthenticated(ServiceError):
    code = "UNAUTHENTICATED"


class NotFound(ServiceError):
    code = "NOT_FOUND"


class RateLimited(ServiceError):
    code = "RATE_LIMITED"


class TooBusy(ServiceError):
    code = "TOO_MANY_ACTIVE_JOBS"


class InvalidInput(ServiceError):
    code = "BAD_USER_INPUT"

    def __init__(self, field: str, message: str, *, code: str | None = None, **details: Any) -> None:
        super().__init__(message, code=code, field=field, **details)
        self.field = field


class InvalidInputs(InvalidInput):
    """Several fields of one input are wrong: the first names the error, all are listed, so a
    form can mark every field at once."""

    def __init__(self, violations: list[InvalidInput]) -> None:
        first = violations[0]
        listed = [{"field": v.field, "code": v.code, "message": v.message} for v in violations]
        super().__init__(first.field, first.message, code=first.code, violations=listed)


class JobClosed(ServiceError):
    code = "JOB_FINISHED"


class JobActive(ServiceError):
    code = "JOB_ACTIVE"


class Superseded(ServiceError):
    code = "SUPERSEDED"


class Unavailable(ServiceError):
    code = "SERVICE_UNAVAILABLE"


class SlowSubscriber(ServiceError):
    code = "SLOW_SUBSCRIBER"


class TooComplex(ServiceError):
    """An operation would load more than its budget of objects (graph/bounds/read_budget.py)."""

    code = "QUERY_TOO_COMPLEX"


class WorkFailed(ServiceError):
    """The job cannot do its work with this input; it fails with `code`, and retrying is useless."""


class AIError(ServiceError):
    code = "AI_ERROR"


class TransientAIError(AIError):
    def __init__(self, message: str, *, code: str, retry_after: float | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after


class PermanentAIError(AIError):
    pass


class EmptyAnswer(PermanentAIError):
    """Not retried: the causes seen (a chat template or stop sequence that ends the answer at
    once) repeat on every attempt, and each attempt pays for the whole CV as prompt again. The
    quota unit is refunded (jobs/core/quotas.py), so asking again costs the user nothing."""

    code = "AI_EMPTY_RESPONSE"
