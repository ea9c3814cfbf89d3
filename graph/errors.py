"""Errors as clients see them: our `ServiceError`s keep their message and `extensions.code`;
anything else is logged here and reaches the client only as a generic INTERNAL error, never
with its message or traceback."""

from __future__ import annotations

import logging

from graphql import GraphQLError, GraphQLFormattedError, GraphQLSyntaxError
from redis.exceptions import RedisError
from strawberry.exceptions import MissingQueryError
from strawberry.extensions import MaskErrors
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError

from jobs.core.errors import ServiceError, Unavailable

log = logging.getLogger(__name__)


# Strawberry's own refusals of a request (no query; an operationName the document lacks; an
# operation the transport does not run): the client's mistake, each with its code.
_REQUEST_ERRORS: dict[type[BaseException], str] = {
    MissingQueryError: "GRAPHQL_PARSE_FAILED",
    CannotGetOperationTypeError: "BAD_REQUEST",
    InvalidOperationTypeError: "BAD_REQUEST",
}


def _is_unexpected(error: GraphQLError) -> bool:
    original = error.original_error
    # No original error: a validation or syntax error of the document itself, safe to show.
    if original is None or isinstance(original, (ServiceError, *_REQUEST_ERRORS)):
        return False
    if isinstance(original, GraphQLError):
        return _is_unexpected(original)
    log.error("unexpected error in %s", error.path, exc_info=original)
    return True


class ErrorMapping(MaskErrors):
    """Masks unexpected errors, with a code. Errors of the document itself get their codes in
    `typed_errors`, which graph/schema.py's `Schema.process_errors` applies to every error before
    any extension sees it (Strawberry runs that hook first so that MaskErrors masks afterwards)."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=_is_unexpected, error_message="Internal server error.")

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        masked = super().anonymise_error(error)
        if isinstance(_root_cause(error), (RedisError, OSError)):
            masked.message = "A backing service is unavailable; try again shortly."
            masked.extensions = {"code": Unavailable.code}
        else:
            masked.extensions = {"code": "INTERNAL"}
        return masked


def typed_errors(errors: list[GraphQLError]) -> list[GraphQLError]:
    """`errors` as ErrorMapping hands them to clients: each with a code, unexpected ones masked.
    Idempotent, so that errors it already passed through are left as they are."""
    mapping = ErrorMapping()
    typed = [_with_document_code(error) for error in errors]
    return [mapping.anonymise_error(error) if _is_unexpected(error) else error for error in typed]


def _with_document_code(error: GraphQLError) -> GraphQLError:
    # Errors of the document itself (syntax, validation, variables) come from graphql-core
    # without a code, and a variable's coercion error wraps another GraphQLError; give them the
    # conventional codes so that every error is typed.
    if (error.extensions or {}).get("code"):
        return error
    cause = _root_cause(error)
    if cause is None:
        syntax = isinstance(error, GraphQLSyntaxError)
        code = "GRAPHQL_PARSE_FAILED" if syntax else "GRAPHQL_VALIDATION_FAILED"
        error.extensions = {**(error.extensions or {}), "code": code}
    elif type(cause) in _REQUEST_ERRORS:
        error.extensions = {**(error.extensions or {}), "code": _REQUEST_ERRORS[type(cause)]}
    return error


def log_client_errors(errors: list[GraphQLError]) -> None:
    """What Strawberry would log as ERROR with a traceback for every error, ours included. An
    answer such as NOT_FOUND or UNAUTHENTICATED is no fault of the server (and logging each at
    ERROR would let any client flood the logs); unexpected errors are logged once, when masked."""
    for error in errors:
        log.debug("answered with an error: %s", error.message)


def stream_error(exc: Exception) -> GraphQLFormattedError:
    """An exception that ended a subscription, formatted as Strawberry reports one (a single
    GraphQL error without path) after the same masking as every other error; for code paths
    that stream without Strawberry's executor (graph/live/compiled_subscription.py)."""
    error = exc if isinstance(exc, GraphQLError) else GraphQLError(str(exc), original_error=exc)
    if _is_unexpected(error):
        error = ErrorMapping().anonymise_error(error)
    return error.formatted


def _root_cause(error: GraphQLError) -> BaseException | None:
    original = error.original_error
    while isinstance(original, GraphQLError):
        original = original.original_error
    return original
