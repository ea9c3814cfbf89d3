"""Bounds on a request's headers, checked before anything reads them.

uvicorn's default HTTP parser (httptools) takes headers of any size, and what reads them later
is not linear in their length everywhere (the `Accept` and `Content-Type` parameter parsers are
quadratic in the number of `;`: a 1 MB header held an API process for 8 s). So the headers of a
request or a WebSocket handshake are bounded in total, and the two that are parsed for every
request far more tightly; past either bound the answer is a typed 431 (a handshake is refused).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from graph.edges.response_media import JSON, send_error, typed_error

REQUEST_HEADERS_TOO_LARGE = "REQUEST_HEADERS_TOO_LARGE"
# Parsed on every request (media negotiation, the body's type). Real clients send a few dozen
# bytes; browsers' longest Accept is under 300.
PARSED_HEADERS = (b"accept", b"content-type")
PARSED_HEADER_MAX_BYTES = 1024


class HeaderLimits:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self._app = app
        self._max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            refusal = self._refusal(scope["headers"])
            if refusal is not None:
                await _refuse(scope, send, refusal)
                return
        await self._app(scope, receive, send)

    def _refusal(self, headers: list[tuple[bytes, bytes]]) -> str | None:
        total = 0
        for name, value in headers:
            total += len(name) + len(value) + 4  # ": " and CRLF, as they came on the wire
            if name in PARSED_HEADERS and len(value) > PARSED_HEADER_MAX_BYTES:
                return f"the {name.decode()} header is limited to {PARSED_HEADER_MAX_BYTES} bytes"
        if total > self._max_bytes:
            return f"request headers are limited to {self._max_bytes} bytes"
        return None


async def _refuse(scope: Scope, send: Send, message: str) -> None:
    if scope["type"] == "websocket":
        # Refused before the handshake completes: the client sees a 403.
        await send({"type": "websocket.close", "code": 1008, "reason": message})
        return
    # In plain JSON: the Accept header is what may be too large to read.
    await send_error(send, 431, JSON, [typed_error(message, REQUEST_HEADERS_TOO_LARGE)], close=True)
