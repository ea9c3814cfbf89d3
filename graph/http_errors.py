"""Every error answer of `/graphql` over HTTP is a GraphQL JSON error with `extensions.code`.

Strawberry answers a request it cannot read (invalid JSON, `query` not a string, an unknown
operationName, a mutation over GET, ...) with a plain-text 400, and crashes (a 500 with a
traceback logged) on two more: a JSON body that is not an object, and JSON nested deeper than
the interpreter's recursion limit. This wrapper keeps Strawberry's status and message and gives
them the JSON shape and a code; it refuses a body that does not open a JSON object before
Strawberry reads it; and it answers whatever still escapes as a typed 400 or 500.
"""

from __future__ import annotations

import logging

from python_multipart.multipart import parse_options_header
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from graph.body_limits import BodyRefused, refuse

log = logging.getLogger(__name__)

BAD_REQUEST = "BAD_REQUEST"
CODES_BY_STATUS = {400: BAD_REQUEST, 404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 415: BAD_REQUEST}
JSON_WHITESPACE = b" \t\r\n"


class _NotAnObject(Exception):
    pass


class TypedHttpErrors:
    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        answer = _Answer(send)
        content_type, _ = parse_options_header(Headers(scope=scope).get("content-type", ""))
        if scope["method"] == "POST" and content_type == b"application/json":
            receive = _ObjectBody(receive).receive
        try:
            await self._app(scope, receive, answer.send)
        except BodyRefused:
            raise  # answered by BodyLimits, in front of every route
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
    """`send`, turning a plain-text error response into a JSON one with the same status."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.started = False
        self._plain_error: int | None = None
        self._text = b""

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
            content_type = Headers(raw=message.get("headers", [])).get("content-type", "")
            if message["status"] >= 400 and content_type.startswith("text/plain"):
                self._plain_error = message["status"]
                return
        elif message["type"] == "http.response.body" and self._plain_error is not None:
            self._text += message.get("body", b"")
            if not message.get("more_body", False):
                status, text = self._plain_error, self._text.decode(errors="replace")
                # Strawberry read the whole body: the connection may serve the next request.
                await refuse(self._send, status, _code(status), text, close=False)
            return
        await self._send(message)

    async def refuse(self, status: int, code: str, message: str) -> None:
        if self.started:
            # Too late to answer: the connection ends without a complete response.
            raise RuntimeError(f"{code} after the response started")
        await refuse(self._send, status, code, message)


def _code(status: int) -> str:
    return CODES_BY_STATUS.get(status, BAD_REQUEST if status < 500 else "INTERNAL")


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
