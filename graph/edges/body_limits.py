"""Bounds on a request body while it is read, in front of everything that reads one (C10).

- Size: a body (other than a multipart upload, whose parts graph/edges/uploads.py bounds on their
  own terms) is refused with 413 REQUEST_TOO_LARGE as soon as its bytes pass
  HTTP_MAX_BODY_BYTES, or at once when its Content-Length says they will; nothing reads a
  30 MB JSON body first.
- Time: a body, uploads included, whose next chunk does not arrive within
  HTTP_BODY_TIMEOUT_SECONDS is cut with 408 REQUEST_TIMEOUT (a client that sends half a body
  and then nothing would otherwise hold its request open for ever); and so is one that keeps
  arriving slower than HTTP_BODY_MIN_RATE bytes a second, as Apache's mod_reqtimeout does it:
  the body has the timeout, plus a second for every HTTP_BODY_MIN_RATE bytes received (a byte
  every 29 s would otherwise hold a request for a year).

Both answers close the connection: the rest of the body is never read.
"""

from __future__ import annotations

import asyncio

from python_multipart.multipart import parse_options_header
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from graph.edges.response_media import JSON, negotiate, send_error, typed_error

REQUEST_TOO_LARGE = "REQUEST_TOO_LARGE"
REQUEST_TIMEOUT = "REQUEST_TIMEOUT"


class BodyRefused(Exception):
    """Raised from `receive` to whatever reads the body; BodyLimits answers it."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class BodyLimits:
    def __init__(self, app: ASGIApp, max_bytes: int, stall_seconds: float, min_rate: int) -> None:
        self._app = app
        self._max_bytes = max_bytes
        self._stall_seconds = stall_seconds
        self._min_rate = min_rate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        content_type, _ = parse_options_header(headers.get("content-type", ""))
        limit = None if content_type == b"multipart/form-data" else self._max_bytes
        declared = headers.get("content-length", "")
        if limit is not None and declared.isdigit() and int(declared) > limit:
            # Answered before any route: in the media type a GraphQL client asked for.
            media = negotiate(headers.get("accept")) or JSON
            await refuse(send, 413, REQUEST_TOO_LARGE, self._too_large(limit), media=media)
            return
        body = _Body(receive, limit, self._stall_seconds, self._min_rate, self._too_large(limit or 0))
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self._app(scope, body.receive, tracked)
        except BodyRefused as refused:
            if started:
                raise
            await refuse(send, refused.status, refused.code, refused.message)

    def _too_large(self, limit: int) -> str:
        return f"request bodies are limited to {limit} bytes"


class _Body:
    """`receive`, counting the body's bytes and timing each wait for the next chunk against the
    stall timeout and the body's deadline; once the body is complete, messages pass untouched (a
    wait for a disconnect is no stall)."""

    def __init__(
        self, receive: Receive, limit: int | None, stall_seconds: float, min_rate: int, too_large: str
    ) -> None:
        self._receive = receive
        self._limit = limit
        self._stall_seconds = stall_seconds
        self._min_rate = min_rate
        self._too_large = too_large
        self._read = 0
        self._complete = False
        self._started = asyncio.get_running_loop().time()

    async def receive(self) -> Message:
        if self._complete:
            return await self._receive()
        loop = asyncio.get_running_loop()
        deadline = self._started + self._stall_seconds + self._read / self._min_rate
        wait = min(self._stall_seconds, deadline - loop.time())
        try:
            async with asyncio.timeout(max(0.0, wait)):
                message = await self._receive()
        except TimeoutError:
            if wait < self._stall_seconds:
                slow = f"the request body arrived slower than {self._min_rate} bytes a second"
                raise BodyRefused(408, REQUEST_TIMEOUT, slow) from None
            stalled = f"no part of the request body arrived for {self._stall_seconds:g} s"
            raise BodyRefused(408, REQUEST_TIMEOUT, stalled) from None
        if message["type"] == "http.request":
            self._read += len(message.get("body", b""))
            if self._limit is not None and self._read > self._limit:
                raise BodyRefused(413, REQUEST_TOO_LARGE, self._too_large)
            self._complete = not message.get("more_body", False)
        else:
            self._complete = True
        return message


async def refuse(
    send: Send, status: int, code: str, message: str, *, close: bool = True, media: str = JSON
) -> None:
    """A GraphQL error response in `media`; by default it also closes the connection (whatever
    is left of the body is not read)."""
    await send_error(send, status, media, [typed_error(message, code)], close=close)
