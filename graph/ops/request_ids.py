"""Every HTTP request and WebSocket gets a request id: the caller's `X-Request-ID` when it is a plain
token, else a new one. It is in the log context of everything the request does (the job a mutation
starts carries it to its task, jobs/core/dispatch.py) and answered in the `X-Request-ID` header."""

from __future__ import annotations

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jobs.core import logs

HEADER = "X-Request-ID"


class RequestIds:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = logs.request_id_from(Headers(scope=scope).get(HEADER))

        async def send_with_id(message: Message) -> None:
            if message["type"] in ("http.response.start", "websocket.accept"):
                message.setdefault("headers", [])
                MutableHeaders(scope=message)[HEADER] = request_id
            await send(message)

        with logs.bound(request_id=request_id):
            await self.app(scope, receive, send_with_id)
