"""The media type and status of a GraphQL answer over HTTP, as the GraphQL-over-HTTP spec has them.

- `application/graphql-response+json` for a client that prefers it (by the q-values of its
  `Accept`, then by the order it lists its types in), and for a client that sends no `Accept`
  at all (the spec's legacy watershed, passed on 2025-01-01). A request error (execution never
  started: the document did not parse or validate, its variables did not coerce, a refusal
  before execution) has no `data` entry and a 4xx/5xx status; once execution started, 200.
- `application/json` for a client that prefers it, and for one that accepts anything (`*/*`:
  browsers' fetch, curl, httpx): status 200 and `"data": null` for request errors, as
  legacy clients expect; requests that are not well-formed keep their 4xx.
- Neither: `None`, and `/graphql` answers 406 unless the client accepts one of the other
  things it serves (an HTTP subscription stream, the GraphiQL page).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from graphql import GraphQLError
from starlette.types import Send

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
JSON = "application/json"
CONTENT_TYPES = {GRAPHQL_RESPONSE_JSON: f"{GRAPHQL_RESPONSE_JSON}; charset=utf-8", JSON: JSON}
# What /graphql serves besides a JSON answer: subscription streams (multipart, SSE) and GraphiQL.
OTHER_ANSWERS = ("multipart/mixed", "text/event-stream", "text/html")

# The status of a request error under application/graphql-response+json, by its first error's
# code; any other code is the client's request that cannot run as sent (400).
REQUEST_ERROR_STATUS = {
    "UNAUTHENTICATED": 401,
    "FORBIDDEN": 403,
    "DOCUMENT_TOO_LARGE": 413,
    "RATE_LIMITED": 429,
    "INTERNAL": 500,
    "SERVICE_UNAVAILABLE": 503,
}


@dataclass(frozen=True, slots=True)
class _Range:
    media: str
    q: float
    position: int

    def specificity(self, media: str) -> int | None:
        """How closely this range names `media` (2 exactly, 1 by its type, 0 as */*), or None."""
        if self.media == media:
            return 2
        kind, _, subtype = self.media.partition("/")
        if subtype == "*" and (kind == "*" or media.startswith(f"{kind}/")):
            return 1 if kind != "*" else 0
        return None


def negotiate(accept: str | None) -> str | None:
    """The media type of a JSON answer for this `Accept` header, or None when it accepts neither.
    Accepted only by wildcards, application/json: what `*/*` meant before graphql-response+json
    existed (graphql-http's audit 47DE)."""
    if accept is None or not accept.strip():
        return GRAPHQL_RESPONSE_JSON
    return preferred(accept, (JSON, GRAPHQL_RESPONSE_JSON))


def serves_something(accept: str | None) -> bool:
    """Whether `/graphql` has any answer this `Accept` header takes."""
    return negotiate(accept) is not None or preferred(accept or "", OTHER_ANSWERS) is not None


def preferred(accept: str, offered: Sequence[str]) -> str | None:
    """Of the `offered` media types, the one this `Accept` header prefers, or None if it takes none.

    Each type takes the q of the most specific range that names it (RFC 9110, 12.5.1); the
    higher q wins, then the type the client names itself over one it takes only by a wildcard,
    then the one it lists first, then the one listed first in `offered`."""
    ranges = _ranges(accept)
    scored = []
    for rank, media in enumerate(offered):
        match = _best_match(ranges, media)
        if match is not None and match[1].q > 0:
            specificity, chosen = match
            scored.append(((chosen.q, specificity, -chosen.position, -rank), media))
    return max(scored)[1] if scored else None


# Real clients name a handful of media ranges; those past this many are not read (each is
# weighed against every offered type, on every request).
MAX_RANGES = 32


def _ranges(accept: str) -> list[_Range]:
    ranges = []
    for position, part in enumerate(accept.split(",", MAX_RANGES)[:MAX_RANGES]):
        media, *params = (piece.strip() for piece in part.split(";"))
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = min(max(float(value), 0.0), 1.0)
                except ValueError:
                    q = 0.0  # a q we cannot read accepts nothing
        ranges.append(_Range(media.lower(), q, position))
    return ranges


def _best_match(ranges: Sequence[_Range], media: str) -> tuple[int, _Range] | None:
    matches = [(s, r) for r in ranges if (s := r.specificity(media)) is not None]
    return max(matches, key=lambda match: (match[0], -match[1].position)) if matches else None


def is_request_error(data: object, errors: Sequence[GraphQLError] | None) -> bool:
    """Execution never started: no data, and no error of a field (a field's error has a path).
    A non-null field's error that nulls `data` is still an execution (a partial response)."""
    return data is None and bool(errors) and all(error.path is None for error in errors or ())


def status_of(media: str | None, body: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> int:
    """The status of an answer to a well-formed request: under application/json always 200; under
    graphql-response+json 200 once execution started (a `data` entry), else by the error."""
    if media != GRAPHQL_RESPONSE_JSON or not isinstance(body, Mapping) or "data" in body:
        return 200
    errors = body.get("errors") or [{}]
    code = (errors[0].get("extensions") or {}).get("code")
    return REQUEST_ERROR_STATUS.get(code, 400) if isinstance(code, str) else 400


def error_document(media: str, errors: list[Any]) -> bytes:
    """A GraphQL response made of `errors` alone, as `media` has it (application/json keeps the
    `"data": null` its clients have always had)."""
    body = {"errors": errors} if media == GRAPHQL_RESPONSE_JSON else {"data": None, "errors": errors}
    return json.dumps(body).encode()


async def send_error(
    send: Send,
    status: int,
    media: str,
    errors: list[Any],
    *,
    close: bool,
    headers: Sequence[tuple[bytes, bytes]] = (),
) -> None:
    """A whole error response; `close` also ends the connection (the rest of the body is unread)."""
    body = error_document(media, errors)
    raw = [
        (b"content-type", CONTENT_TYPES[media].encode()),
        (b"content-length", str(len(body)).encode()),
        *headers,
    ]
    if close:
        raw.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def typed_error(message: str, code: str) -> dict[str, Any]:
    return {"message": message, "extensions": {"code": code}}
