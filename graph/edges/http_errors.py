"""Every error answer of `/graphql` over HTTP is a GraphQL error with `extensions.code`, in the
media type the client negotiated (graph/edges/response_media.py).

Strawberry answers a request it cannot read (invalid JSON, `query` not a string, an unknown
operationName, a mutation over GET, ...) with a plain-text 400, and crashes (a 500 with a
traceback logged) on two more: a JSON body that is not an object, and JSON nested deeper than
the interpreter's recursion limit. This wrapper keeps Strawberry's status and message and gives
them the GraphQL shape and a code; it refuses a body that does not open a JSON object before
Strawberry reads it; and it answers whatever still escapes as a typed 400 or 500.

The GraphQL-over-HTTP spec adds three rules here: a client whose `Accept` takes nothing
`/graphql` serves gets 406 before anything runs; a mutation over GET is 405 with `Allow: POST`
(405 answers say `Allow`); and under graphql-response+json the refusals of the layers inside
(uploads, bodies) lose the `"data": null` that application/json clients keep.
"""

from __future__ import annotations

import json
import logging

from python_multipart.multipart import parse_options_header
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.types.graphql import OperationType

from graph.edges.body_limits import BodyRefused
from graph.edges.response_media import (
    GRAPHQL_RESPONSE_JSON,
    JSON,
    negotiate,
    send_error,
    serves_something,
    typed_error,
)

log = logging.getLogger(__name__)

BAD_REQUEST = "BAD_REQUEST"
NOT_ACCEPTABLE = "NOT_ACCEPTABLE"
CODES_BY_STATUS = {400: BAD_REQUEST, 404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 415: BAD_REQUEST}
JSON_WHITESPACE = b" \t\r\n"
# Strawberry's own words for a mutation sent over GET (its HTTPException carries no more).
MUTATION_OVER_GET = InvalidOperationTypeError(OperationType.MUTATION).as_http_error_reason("GET")
ALLOW_ANY = [(b"allow", b"GET, POST")]
ALLOW_POST = [(b"allow", b"POST")]


class _NotAnObject(Exception):
    pass


class TypedHttpErrors:
    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        accept = headers.get("accept")
        if scope["method"] in ("GET", "POST") and not serves_something(accept):
            # Refused before anything runs (RECOMMENDED over answering in a type not asked for).
            message = f"/graphql answers {GRAPHQL_RESPONSE_JSON} or {JSON}; Accept names neither"
            await send_error(send, 406, JSON, [typed_error(message, NOT_ACCEPTABLE)], close=True)
            return
        answer = _Answer(send, scope["method"], negotiate(accept) or JSON)
        content_type, _ = parse_options_header(headers.get("content-type", ""))
        if scope["method"] == "POST" and content_type == b"application/json":
            receive = _ObjectBody(receive).receive
        try:
            await self._app(scope, receive, answer.send)
        except BodyRefused as refused:
            # A body over its size or too slow: answered here so that it too comes in the
            # negotiated media type; the rest of the body is never read.
            await answer.refuse(refused.status, refused.code, refused.message, close=True)
        except _NotAnObject:
            await answer.refuse(400, BAD_REQUEST, "The request body must be a JSON object.")
        except HTTPException as e:
            # Starlette's own refusals (e.g. a malformed multipart body) that no handler answers here.
            await answer.refuse(e.status_code, _code(e.status_code), e.detail)
        except RecursionError:
            await answer.refuse(400, BAD_REQUEST, "The request nests JSON too deeply.")
        except Exception:
            log.exception("unexpected error answering %s %s", scope["method"], scope["path"])
            await answer.refuse(500, "INTERNAL", "Internal server error.")


class _Answer:
    """`send`, giving the error responses of the layers inside the GraphQL shape in the negotiated
    media type: Strawberry's plain text always, our own JSON refusals under graphql-response+json."""

    def __init__(self, send: Send, method: str, media: str) -> None:
        self._send = send
        self._method = method
        self._media = media
        self.started = False
        self._held: tuple[int, bool, bool] | None = None  # status, plain text, closing
        self._body = b""

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
            headers = Headers(raw=message.get("headers", []))
            content_type = headers.get("content-type", "")
            plain = content_type.startswith("text/plain")
            ours = self._media == GRAPHQL_RESPONSE_JSON and content_type.startswith(JSON)
            if message["status"] >= 400 and (plain or ours):
                closing = headers.get("connection", "").lower() == "close"
                self._held = (message["status"], plain, closing)
                return
        elif message["type"] == "http.response.body" and self._held is not None:
            self._body += message.get("body", b"")
            if not message.get("more_body", False):
                await self._answer_held(*self._held)
            return
        await self._send(message)

    async def _answer_held(self, status: int, plain: bool, closing: bool) -> None:
        text = self._body.decode(errors="replace")
        allow = ALLOW_ANY if status == 405 else []
        errors: list[object]
        if plain and status == 400 and self._method == "GET" and text == MUTATION_OVER_GET:
            status, allow = 405, ALLOW_POST  # the spec's MUST; the code stays BAD_REQUEST
            errors = [typed_error(text, BAD_REQUEST)]
        elif plain:
            errors = [typed_error(text, _code(status))]
        else:
            errors = _errors_of(text) or [typed_error(text, _code(status))]
        # Strawberry read the whole body before its plain-text refusals: the connection may serve
        # the next request. Our own refusals say whether they close it.
        await send_error(self._send, status, self._media, errors, close=closing, headers=allow)

    async def refuse(self, status: int, code: str, message: str, *, close: bool = True) -> None:
        if self.started:
            # Too late to answer: the connection ends without a complete response.
            raise RuntimeError(f"{code} after the response started")
        await send_error(self._send, status, self._media, [typed_error(message, code)], close=close)


def _code(status: int) -> str:
    return CODES_BY_STATUS.get(status, BAD_REQUEST if status < 500 else "INTERNAL")


def _errors_of(text: str) -> list[object] | None:
    """The errors of a JSON error response, or None when it has none we can read."""
    try:
        body = json.loads(text)
    except ValueError:
        return None
    errors = body.get("errors") if isinstance(body, dict) else None
    return errors if isinstance(errors, list) and errors else None


class _ObjectBody:
    """`receive`, checking that the body's first non-blank byte opens a JSON object (or a
    list, which Strawberry refuses as a batch)."""

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self._seen = False

    async def receive(self) -> Message:
        message = await self._receive()
        if not self._seen and message["type"] == "http.request":
            start = message.get("body", b"").lstrip(JSON_WHITESPACE)[:1]
            if start:
                self._seen = True
                if start not in (b"{", b"["):
                    raise _NotAnObject
        return message
