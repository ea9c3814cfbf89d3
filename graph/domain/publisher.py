"""Job tasks published from one thread of the API's own instead of a hop through the default executor
per job (C5: kombu's publish is blocking I/O, never on the event loop).

Under a flood of `improveCv`, `asyncio.to_thread` ran up to six publishes at once (the executor's
threads on 2 cores), each contending for the GIL with the event loop; one thread publishes them one
after another, in the order they were asked for, and leaves the loop the rest. The message is the one
`jobs.core.dispatch.enqueue` sends (the same call, only from another thread), so a worker reads it as
before; a publish that fails raises in the caller, as it did through `to_thread`.

A publish that has not gone out within PUBLISH_PATIENCE_SECONDS raises PublishTimeout in its caller
(launch.py fails the job with ENQUEUE_FAILED and answers UNAVAILABLE): a broker connection that hangs
(a half-open TCP connection after a failover) must not queue every later launch behind it for as long
as TCP takes to give up. If that publish goes out later after all, the worker finds the job ended
and skips it.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from contextlib import suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING

from jobs.core.dispatch import Route, enqueue
from jobs.core.names import JobKind

if TYPE_CHECKING:
    from celery import Celery

# kombu's own retries of a publish to an unreachable Redis take a few seconds; past this, it hangs.
PUBLISH_PATIENCE_SECONDS = 10.0


class PublishTimeout(TimeoutError):
    """The job's task was not published in time."""


@dataclass(frozen=True, slots=True)
class _Publish:
    kind: JobKind
    job_id: str
    to: Route
    request_id: str | None
    loop: asyncio.AbstractEventLoop
    done: asyncio.Future[None]


class Publisher:
    """One daemon thread publishing `app`'s job tasks in turn; started by the first job."""

    def __init__(self, app: Celery, patience: float = PUBLISH_PATIENCE_SECONDS) -> None:
        self._app = app
        self._patience = patience
        self._waiting: queue.SimpleQueue[_Publish | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._starting = threading.Lock()

    async def enqueue(self, kind: JobKind, job_id: str, to: Route, request_id: str | None = None) -> None:
        """`dispatch.enqueue(app, kind, job_id, to, request_id)` in the publishing thread, once sent."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._start()
        self._waiting.put(_Publish(kind, job_id, to, request_id, loop, done))
        try:
            async with asyncio.timeout(self._patience):
                await done
        except TimeoutError:
            late = f"the task of job {job_id} was not published in {self._patience:g} s"
            raise PublishTimeout(late) from None

    def close(self) -> None:
        """Publishes what was asked for, then ends the thread."""
        if self._thread is not None:
            self._waiting.put(None)
            self._thread.join()
            self._thread = None

    def _start(self) -> None:
        if self._thread is None:
            with self._starting:
                if self._thread is None:
                    # A daemon: the process's exit does not wait for it (the caller awaits each publish).
                    self._thread = threading.Thread(target=self._run, name="job-publisher", daemon=True)
                    self._thread.start()

    def _run(self) -> None:
        while (item := self._waiting.get()) is not None:
            error: BaseException | None = None
            try:
                enqueue(self._app, item.kind, item.job_id, item.to, item.request_id)
            except BaseException as e:  # whatever it is, its caller hears it and the thread goes on
                error = e
            # A closed loop (RuntimeError): nobody awaits this publish any more.
            with suppress(RuntimeError):
                item.loop.call_soon_threadsafe(_settle, item.done, error)


def _settle(done: asyncio.Future[None], error: BaseException | None) -> None:
    if done.cancelled():
        return  # the caller left; the task was sent (or not) all the same
    if error is None:
        done.set_result(None)
    else:
        done.set_exception(error)
