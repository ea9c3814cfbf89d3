"""Calls due at a time, for a worker process: one daemon thread of the process waits for the
earliest and calls it, so a job's thread never has to look at the clock while it is blocked (on
a model that is slow to answer, say).

The thread starts on first use in the process that uses it: a prefork pool process forks from
a main process that never schedules anything, and a thread does not survive a fork anyway (a
forked child that finds the parent's schedule starts afresh). A call runs on that thread, never
under the schedule's lock, so it may take locks of its own and schedule more.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)


@dataclass(order=True)
class Deadline:
    at: float
    order: int
    call: Callable[[], None] = field(compare=False)
    cancelled: bool = field(default=False, compare=False)

    def cancel(self) -> None:
        """The call will not be made (if it has not been); its entry is skipped when due."""
        self.cancelled = True


class Schedule:
    def __init__(self) -> None:
        self._due: list[Deadline] = []
        self._changed = threading.Condition()
        self._order = itertools.count()
        self._pid = 0

    def after(self, seconds: float, call: Callable[[], None]) -> Deadline:
        deadline = Deadline(time.monotonic() + seconds, next(self._order), call)
        with self._changed:
            if self._pid != os.getpid():
                self._pid, self._due = os.getpid(), []
                threading.Thread(target=self._loop, name="deadlines", daemon=True).start()
            heapq.heappush(self._due, deadline)
            if self._due[0] is deadline:  # the thread sleeps until a later one
                self._changed.notify()
        return deadline

    def _loop(self) -> None:
        while True:
            with self._changed:
                while not self._due or (wait := self._due[0].at - time.monotonic()) > 0:
                    self._changed.wait(None if not self._due else wait)
                due = heapq.heappop(self._due)
            if due.cancelled:
                continue
            try:
                due.call()
            except Exception:
                log.exception("a call due at a deadline failed")


SCHEDULE = Schedule()
