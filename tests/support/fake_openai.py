"""A small OpenAI-compatible server for the tests, run in the test process on loopback.

Behaviour is scripted per scenario: a job's CV text carries a `[scenario:NAME]` marker, and the
N-th request of that scenario gets the N-th scripted response (the last one repeats). Every
request body is recorded; streams the client abandons are recorded too.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from devstack.redis_server import free_port

_MARKER = re.compile(r"\[scenario:([\w-]+)\]")


@dataclass
class Stream:
    text: str
    chunk: int = 8
    pause_after: int | None = None  # chunks sent before waiting for `gate`
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    finish_reason: str | None = "stop"  # None: the stream ends without saying how (no finish chunk)
    interval: float = 0.0  # seconds between chunks, as a model's token pace
    started: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class Fail:
    status: int
    error_code: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    message: str = "scripted failure"


@dataclass
class Hang:
    """Sends headers, then nothing: the client's read timeout must fire."""


Scripted = Stream | Fail | Hang


class FakeOpenAI:
    def __init__(self) -> None:
        self.scenarios: dict[str, list[Scripted]] = {}
        self.requests: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.abandoned: dict[str, int] = defaultdict(int)
        self._abandoned_changed = asyncio.Condition()
        self.port = free_port()
        self.app = Starlette(routes=[Route("/v1/chat/completions", self._complete, methods=["POST"])])
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def script(self, name: str, *responses: Scripted) -> str:
        self.scenarios[name] = list(responses)
        return f"[scenario:{name}]"

    async def start(self) -> None:
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            timeout_graceful_shutdown=1,
            lifespan="off",
        )
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve())
        # uvicorn exposes readiness only as a flag, not an event.
        while not self._server.started:  # noqa: ASYNC110
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        assert self._server is not None and self._task is not None
        self._server.should_exit = True
        await self._task

    async def wait_abandoned(self, name: str, count: int = 1) -> None:
        """Until `count` streams of the scenario were dropped by the client before their end."""
        async with self._abandoned_changed:
            await self._abandoned_changed.wait_for(lambda: self.abandoned[name] >= count)

    async def _record_abandoned(self, name: str) -> None:
        async with self._abandoned_changed:
            self.abandoned[name] += 1
            self._abandoned_changed.notify_all()

    async def _complete(self, request: Request) -> Response:
        body = await request.json()
        text = " ".join(str(m.get("content", "")) for m in body.get("messages", []))
        marker = _MARKER.search(text)
        name = marker.group(1) if marker else "default"
        self.requests[name].append(body)
        script = self.scenarios.get(name) or [Stream(f"# Improved CV\n\n{text[-300:]}\n")]
        response = script[min(len(self.requests[name]), len(script)) - 1]
        if isinstance(response, Fail):
            error = {"message": response.message, "type": "scripted", "code": response.error_code}
            return JSONResponse({"error": error}, status_code=response.status, headers=response.headers)
        if isinstance(response, Hang):
            return StreamingResponse(self._hang(name), media_type="text/event-stream")
        usage = None
        if (body.get("stream_options") or {}).get("include_usage"):
            # As OpenAI reports it: a last chunk with no choices; here, a token per 4 characters.
            prompt = len(text) // 4
            completion = len(response.text) // 4
            usage = {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            }
        return StreamingResponse(
            self._sse(name, body.get("model", "fake"), response, usage), media_type="text/event-stream"
        )

    async def _hang(self, name: str) -> AsyncIterator[bytes]:
        try:
            await asyncio.Event().wait()
        finally:
            await asyncio.shield(self._record_abandoned(name))
        yield b""  # pragma: no cover

    async def _sse(
        self, name: str, model: str, stream: Stream, usage: dict[str, int] | None
    ) -> AsyncIterator[bytes]:
        pieces = [stream.text[i : i + stream.chunk] for i in range(0, len(stream.text), stream.chunk)]
        finished = False
        stream.started.set()
        try:
            for index, piece in enumerate(pieces):
                if stream.pause_after is not None and index == stream.pause_after:
                    await stream.gate.wait()
                if stream.interval:
                    await asyncio.sleep(stream.interval)
                yield _chunk(model, {"content": piece}, None)
            if stream.finish_reason is not None:
                yield _chunk(model, {}, stream.finish_reason)
            if usage is not None:
                yield _chunk(model, None, None, usage)
            yield b"data: [DONE]\n\n"
            finished = True
        finally:
            if not finished:
                await asyncio.shield(self._record_abandoned(name))


def _chunk(
    model: str, delta: dict[str, str] | None, finish_reason: str | None, usage: dict[str, int] | None = None
) -> bytes:
    payload: dict[str, Any] = {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": model,
        "choices": [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }
    if usage is not None:
        payload["usage"] = usage
    return f"data: {json.dumps(payload)}\n\n".encode()
