"""Enqueue a job's task, in its plan's queue, at its turn. Only the job id travels (and, in a header,
the id of the request that started it, for the logs): the worker reads everything else from the
record, which exists before the task is sent (C1).

Queues and fairness. Each plan has its queue (`Keys.plan_queue`), and a job's message carries a
priority from its plan's band (`BANDS`). kombu's Redis transport keeps one list per queue and
priority step, and a worker's BRPOP names them priority-major: every queue's step-0 list, then
every queue's step-1 list, and so on (kombu/transport/redis.py, `_brpop_start`); Redis pops from
the first non-empty list named. Because the bands are disjoint, that order is plan first (all of
Premium's band lies before Pro's), then turn within the plan, whichever of the queues a worker
consumes and in whatever order `-Q` names them: a paid-plans worker is `-Q` with those queues.

Turn (`rank`): how many other unfinished jobs the owner had when the job was created. A user's
only job runs before any plan-mate's second, their second before any third, and so on up to the
band's width; deeper ranks share the band's last step, first come first served. So one user's
burst (at most MAX_ACTIVE_JOBS_PER_USER jobs) waits behind every other user's first job of the
same plan instead of ahead of it. A job sent again (the sweeper's lost tasks) takes rank 0: it
has waited its turn once already.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from jobs.core.logs import REQUEST_ID_HEADER
from jobs.core.names import TASK_NAMES, JobKind, Keys
from jobs.core.quotas import Plan

if TYPE_CHECKING:
    # The API's and the sweeper's app; naming its type loads no Celery (the contract stays pure).
    from celery import Celery

# kombu's Redis priorities run 0 (served first) to 9; each its own list (`priority_steps`).
PRIORITY_STEPS = list(range(10))
# kombu's Redis Channel.sep: a queue's step-n list is `<queue><sep><n>` (step 0: the queue's name).
KOMBU_PRIORITY_SEP = "\x06\x16"
# Free, where floods come from, gets the most steps to tell its users' turns apart.
BANDS = {
    Plan.PREMIUM: range(0, 2),
    Plan.PRO: range(2, 4),
    Plan.BASIC: range(4, 6),
    Plan.FREE: range(6, 10),
}
PLANS_BEST_FIRST = sorted(Plan, key=lambda plan: BANDS[plan].start)


@dataclass(frozen=True, slots=True)
class Route:
    queue: str
    priority: int


def route(keys: Keys, plan: Plan, rank: int = 0) -> Route:
    band = BANDS[plan]
    return Route(keys.plan_queue(plan.value), band[min(rank, len(band) - 1)])


def queues_best_first(keys: Keys) -> list[str]:
    """Every queue a general worker consumes: the plans', best first, then the default one."""
    return [*(keys.plan_queue(plan.value) for plan in PLANS_BEST_FIRST), keys.queue]


def queue_lists(queue: str) -> list[str]:
    """The Redis lists kombu keeps `queue` in, one per priority step, best first (before the broker's
    `global_keyprefix`): its depth is the sum of their lengths."""
    return [f"{queue}{KOMBU_PRIORITY_SEP}{step}" if step else queue for step in PRIORITY_STEPS]


def enqueue(app: Celery, kind: JobKind, job_id: str, to: Route, request_id: str | None = None) -> None:
    # kombu publishes synchronously: callers on an event loop run this in a thread (C5).
    headers = {} if request_id is None else {REQUEST_ID_HEADER: request_id}
    app.send_task(
        TASK_NAMES[kind], args=[job_id], task_id=job_id, headers=headers, queue=to.queue, priority=to.priority
    )
