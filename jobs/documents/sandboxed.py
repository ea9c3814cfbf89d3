"""The extraction sandbox's child: `python -m jobs.documents.sandboxed FORMAT MAX_PAGES MAX_CHARS
MEMORY_MB CPU_SECONDS`, the file's bytes on stdin, JSON lines on stdout.

It limits itself before it reads a byte of the file: its address space may grow by MEMORY_MB past
what the interpreter and its imports hold (RLIMIT_AS: an allocation past it is a MemoryError or a
crash), and it may use CPU_SECONDS more of CPU (RLIMIT_CPU: the kernel kills it past that, even if
its parent is gone). Its parent (jobs/documents/sandbox.py) also kills it at a wall-clock deadline.

Lines written: `{"ready": true}` once limited, `{"page": n, "pages": N}` per PDF page read, then
one of `{"done": {...}}` or `{"failed": {"code": ..., "message": ...}}`.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import traceback
from dataclasses import asdict
from typing import Any

from jobs.core.errors import WorkFailed
from jobs.core.questionnaires import ResumeFormat
from jobs.documents.extract import extract
from jobs.documents.pdf_text import limit_pypdf, too_complex

# What an exception nobody foresaw means, by format: the file is one its reader cannot follow.
UNREADABLE = {
    ResumeFormat.PDF: "PDF_CORRUPT",
    ResumeFormat.DOCX: "DOCX_CORRUPT",
    ResumeFormat.TEXT: "TEXT_UNREADABLE",
}


def main(argv: list[str]) -> int:
    fmt = ResumeFormat(argv[0])
    max_pages, max_chars, memory_mb, cpu_seconds = (int(a) for a in argv[1:5])
    channel = _Channel()
    _limit_self(memory_mb, cpu_seconds)
    limit_pypdf()
    channel.send({"ready": True})
    content = sys.stdin.buffer.read()
    try:
        found = extract(fmt, content, max_pages, max_chars, channel.page)
    except WorkFailed as e:
        channel.fail(e)
    except MemoryError:
        channel.fail(too_complex("over the memory budget"))
    except RecursionError:
        channel.fail(too_complex("nested too deep"))
    except Exception as e:
        traceback.print_exc()
        channel.fail(WorkFailed(f"the file cannot be read ({type(e).__name__})", code=UNREADABLE[fmt]))
    else:
        channel.send({"done": asdict(found)})
    return 0


class _Channel:
    """The answer's own copy of stdout; fd 1 itself now goes to stderr, so that nothing a library
    prints can be taken for an answer."""

    def __init__(self) -> None:
        self._out = os.fdopen(os.dup(1), "w", encoding="utf-8")
        os.dup2(2, 1)

    def send(self, message: dict[str, Any]) -> None:
        self._out.write(json.dumps(message) + "\n")
        self._out.flush()

    def page(self, number: int, pages: int) -> None:
        self.send({"page": number, "pages": pages})

    def fail(self, error: WorkFailed) -> None:
        self.send({"failed": {"code": error.code, "message": error.message}})


def _limit_self(memory_mb: int, cpu_seconds: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (_address_space() + memory_mb * 1024 * 1024,) * 2)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    spent = int(usage.ru_utime + usage.ru_stime) + 1
    # SIGXCPU at the soft limit kills; the hard limit (SIGKILL) is one second behind it.
    resource.setrlimit(resource.RLIMIT_CPU, (spent + cpu_seconds, spent + cpu_seconds + 1))


def _address_space() -> int:
    """Bytes of address space mapped now (the interpreter and its imports)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[0]) * resource.getpagesize()
    except OSError:
        return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
