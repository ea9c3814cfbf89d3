"""The OpenAI engine: chat completions streamed through the official client, against OpenAI or
any OpenAI-compatible server (`OPENAI_BASE_URL`: vLLM, Ollama, llama.cpp, ...). The model writes
its advice for the candidate after the CV, below a marker line; it is split off as `Advice`.

The client's own retries are off: the task retries instead, so that every retry is visible to
the user as a RETRYING event and frees the worker while it waits.
"""

from __future__ import annotations

import time
from collections.abc import Generator, Iterator
from typing import Any

import openai

from jobs.core.errors import AIError, PermanentAIError, TransientAIError
from jobs.core.outputs import Usage
from jobs.engines.advice import split_advice
from jobs.engines.base import SYSTEM_ROLE, Advice, Finish, ImproveRequest
from jobs.work.metrics import worker_metrics
from settings import Settings


class OpenAIEngine:
    def __init__(self, settings: Settings) -> None:
        assert settings.openai_api_key is not None
        self._client = openai.OpenAI(
            api_key=settings.openai_api_key.get_secret_value(),
            base_url=settings.openai_base_url,
            timeout=settings.openai_timeout_seconds,
            max_retries=0,
        )
        self._model = settings.openai_model
        self._max_tokens = settings.openai_max_output_tokens
        self._stream_usage = settings.openai_stream_usage

    @property
    def model(self) -> str:
        return self._model

    def stream(self, request: ImproveRequest) -> Iterator[str | Advice | Usage | Finish]:
        """The answer, its advice split off the CV text (jobs/engines/advice.py)."""
        answer = self._answer(request)
        try:
            yield from split_advice(answer)
        finally:
            answer.close()  # closes the HTTP stream: a cancelled job stops costing at once

    def _answer(self, request: ImproveRequest) -> Generator[str | Usage | Finish, None, None]:
        """The request, measured: its latency (to the end of the answer, or the error), its
        error's code, its tokens. An answer abandoned midway (a cancelled job) is not measured."""
        metrics, began = worker_metrics(), time.monotonic()
        try:
            for item in self._request(request):
                if isinstance(item, Usage):
                    metrics.model_input_tokens.inc(item.prompt_tokens)
                    metrics.model_output_tokens.inc(item.completion_tokens)
                yield item
        except AIError as e:
            metrics.model_errors.labels(e.code).inc()
            metrics.model_latency.labels(e.code).observe(time.monotonic() - began)
            raise
        metrics.model_latency.labels("").observe(time.monotonic() - began)

    def _request(self, request: ImproveRequest) -> Generator[str | Usage | Finish, None, None]:
        try:
            stream = self._client.chat.completions.create(
                model=self._model,
                messages=[
                    {"role": "system", "content": SYSTEM_ROLE},
                    {"role": "user", "content": request.user_message()},
                ],
                stream=True,
                stream_options={"include_usage": True} if self._stream_usage else openai.omit,
                max_tokens=self._max_tokens,
            )
            with stream:
                for chunk in stream:
                    if chunk.usage is not None:
                        yield Usage(
                            prompt_tokens=chunk.usage.prompt_tokens,
                            completion_tokens=chunk.usage.completion_tokens,
                            total_tokens=chunk.usage.total_tokens,
                        )
                    if not chunk.choices:
                        continue
                    choice = chunk.choices[0]
                    if choice.delta and choice.delta.content:
                        yield choice.delta.content
                    if choice.finish_reason == "content_filter":
                        raise PermanentAIError(
                            "the model's content filter stopped the answer", code="AI_CONTENT_FILTERED"
                        )
                    if choice.finish_reason:
                        yield Finish(choice.finish_reason)
        except openai.OpenAIError as e:
            raise classify(e) from e


def classify(error: openai.OpenAIError) -> AIError:
    """Map the client's exceptions to our codes: transient ones are retried, the rest fail."""
    if isinstance(error, openai.APITimeoutError):
        return TransientAIError("the model did not answer in time", code="AI_TIMEOUT")
    if isinstance(error, openai.APIConnectionError):
        return TransientAIError("could not reach the model server", code="AI_CONNECTION")
    if isinstance(error, openai.RateLimitError):
        if _error_code(error) == "insufficient_quota":
            return PermanentAIError("the model account is out of quota", code="AI_QUOTA_EXCEEDED")
        return TransientAIError(
            "the model server is rate limiting us", code="AI_RATE_LIMITED", retry_after=_retry_after(error)
        )
    if isinstance(error, openai.InternalServerError):
        return TransientAIError(
            f"the model server failed ({error.status_code})",
            code="AI_UNAVAILABLE",
            retry_after=_retry_after(error),
        )
    if isinstance(error, (openai.AuthenticationError, openai.PermissionDeniedError)):
        return PermanentAIError("the model server refused our credentials", code="AI_AUTH")
    if isinstance(error, openai.NotFoundError):
        return PermanentAIError("the configured model does not exist", code="AI_MODEL_NOT_FOUND")
    if isinstance(error, openai.BadRequestError):
        code = _error_code(error)
        if code == "context_length_exceeded":
            return PermanentAIError("the CV is too long for the model", code="AI_INPUT_TOO_LONG")
        if code == "content_filter":
            return PermanentAIError(
                "the model's content filter refused the request", code="AI_CONTENT_FILTERED"
            )
        return PermanentAIError(
            f"the model server rejected the request: {error.message}", code="AI_BAD_REQUEST"
        )
    if isinstance(error, openai.APIStatusError) and error.status_code >= 500:
        return TransientAIError(f"the model server failed ({error.status_code})", code="AI_UNAVAILABLE")
    if isinstance(error, openai.APIError) and not isinstance(error, openai.APIStatusError):
        # An error event inside an otherwise healthy stream: the server gave up mid-answer.
        return TransientAIError(f"the model stream broke off: {error.message}", code="AI_UNAVAILABLE")
    return PermanentAIError(f"the model call failed: {error}", code="AI_ERROR")


def _error_code(error: openai.APIStatusError) -> str | None:
    body: Any = error.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("code"), str):
            return str(inner["code"])
    code = getattr(error, "code", None)
    return code if isinstance(code, str) else None


def _retry_after(error: openai.APIStatusError) -> float | None:
    headers = error.response.headers
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            return max(0.0, float(value) * scale)
        except ValueError:
            continue  # an HTTP date: fall back to our own backoff
    return None
