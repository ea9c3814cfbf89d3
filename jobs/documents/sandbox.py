"""Extraction with budgets: the file is read by a child process (jobs/documents/sandboxed.py) that
limits its own memory and CPU, under a wall-clock deadline kept here.

A child process, not a thread: Python cannot stop a thread stuck in pypdf, nor cap the memory of
one. A fresh interpreter (`subprocess`, not `multiprocessing`): Celery's prefork pool processes
are daemonic and may not fork multiprocessing children, and a fork of a threaded worker is unsafe;
`python -m` works the same under every pool. The file goes in through a temporary file on stdin
(no pipe to keep fed); pages read come back as JSON lines and are reported to the job as they
arrive.

A child that runs past the deadline is killed, one that dies (memory, CPU, a crash in a parser)
has failed on the file: both are DOCUMENT_TOO_COMPLEX. A child that dies before it says it is
ready never saw the file: that is our fault and raises (INTERNAL, refunded).
"""

from __future__ import annotations

import json
import logging
import math
import os
import selectors
import subprocess
import sys
import tempfile
import time
from typing import IO, Any

from jobs.core.errors import WorkFailed
from jobs.core.questionnaires import ResumeFormat
from jobs.documents.extract import Extracted
from jobs.documents.pdf_text import Progress, too_complex

log = logging.getLogger(__name__)

CHILD = "jobs.documents.sandboxed"
STDERR_TAIL = 4096


class SandboxBroken(RuntimeError):
    """The child failed before it read the file: a deployment fault, not the file's."""


def extract_isolated(
    fmt: ResumeFormat,
    content: bytes,
    *,
    max_pages: int,
    max_chars: int,
    progress: Progress,
    time_limit: float,
    memory_mb: int,
) -> Extracted:
    deadline = time.monotonic() + time_limit
    args = [fmt.value, str(max_pages), str(max_chars), str(memory_mb), str(math.ceil(time_limit))]
    with tempfile.TemporaryFile() as stdin, tempfile.TemporaryFile() as stderr:
        stdin.write(content)
        stdin.seek(0)
        child = subprocess.Popen(
            [sys.executable, "-m", CHILD, *args], stdin=stdin, stdout=subprocess.PIPE, stderr=stderr
        )
        assert child.stdout is not None
        try:
            return _follow(_Lines(child.stdout), deadline, progress, time_limit)
        except _Died as e:
            code = child.wait()
            why = _tail(stderr)
            if not e.ready:
                raise SandboxBroken(f"the extraction child exited ({code}) before it started: {why}") from e
            log.warning("extraction child died (exit %s): %s", code, why)
            raise too_complex("its reader ran out of memory or CPU time") from e
        finally:
            if child.poll() is None:
                child.kill()
            child.wait()
            child.stdout.close()
            said = _tail(stderr)
            if said:
                log.info("extraction child said: %s", said)


class _Died(Exception):
    def __init__(self, ready: bool) -> None:
        super().__init__("the extraction child ended without an answer")
        self.ready = ready


class _TimedOut(Exception):
    pass


def _follow(lines: _Lines, deadline: float, progress: Progress, time_limit: float) -> Extracted:
    ready = False
    while True:
        try:
            message: dict[str, Any] = json.loads(lines.next(deadline))
        except _TimedOut as e:
            raise too_complex(f"reading it takes longer than {time_limit:g} s") from e
        except EOFError as e:
            raise _Died(ready) from e
        if "ready" in message:
            ready = True
        elif "page" in message:
            progress(message["page"], message["pages"])
        elif "failed" in message:
            raise WorkFailed(message["failed"]["message"], code=message["failed"]["code"])
        elif "done" in message:
            return Extracted(**message["done"])


class _Lines:
    """Lines from a pipe, each waited for no later than a deadline."""

    def __init__(self, pipe: IO[bytes]) -> None:
        self._fd = pipe.fileno()
        self._buffer = bytearray()

    def next(self, deadline: float) -> bytes:
        """The next line; raises EOFError at the end of the stream, _TimedOut past the deadline."""
        with selectors.DefaultSelector() as selector:
            selector.register(self._fd, selectors.EVENT_READ)
            while b"\n" not in self._buffer:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not selector.select(remaining):
                    raise _TimedOut
                chunk = os.read(self._fd, 1 << 16)
                if not chunk:
                    raise EOFError
                self._buffer += chunk
        end = self._buffer.index(b"\n")
        line = bytes(self._buffer[:end])
        del self._buffer[: end + 1]
        return line


def _tail(stderr: IO[bytes]) -> str:
    """The end of what the child wrote to stderr (it shares the file, not our position in it)."""
    size = os.fstat(stderr.fileno()).st_size
    stderr.seek(max(0, size - STDERR_TAIL))
    return stderr.read().decode("utf-8", "replace").strip()
