"""Starting a job from a mutation (C1): the record exists before its task is enqueued, and the
caller's quota is charged by the same atomic step that writes it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from graph.context import Services
from graph.edges.auth import User
from jobs.core import logs
from jobs.core.dispatch import route
from jobs.core.errors import Unavailable
from jobs.core.events import ErrorInfo
from jobs.core.names import JobKind
from jobs.core.quotas import Charge, QuotaRefused, Scope
from jobs.core.records import JobRecord

log = logging.getLogger(__name__)


async def start_job(
    services: Services,
    kind: JobKind,
    user: User,
    job_input: dict[str, Any],
    scope: Scope | None = None,
    before_enqueue: Callable[[JobRecord], Awaitable[None]] | None = None,
    extra_charges: Sequence[Charge] = (),
) -> JobRecord:
    """Write the record, charging one unit of `scope` (and `extra_charges`) in the same atomic
    step as the active-job check; run `before_enqueue` (to store what the job will read, once a
    refused call can no longer leave it behind), then enqueue.

    Shielded from the caller's cancellation (a socket's `complete`, a closed connection): a job
    whose record was written is always enqueued too, never left QUEUED holding an active-job
    slot and a quota unit."""
    launch = asyncio.ensure_future(
        _start_job(services, kind, user, job_input, scope, before_enqueue, extra_charges)
    )
    try:
        return await asyncio.shield(launch)
    except asyncio.CancelledError:
        launch.add_done_callback(_settled)
        raise


def _settled(launch: asyncio.Future[JobRecord]) -> None:
    # Nobody awaits a launch whose caller left: its refusal (or failure, logged where it
    # happened) is read here, so it is not reported as an exception never retrieved.
    if not launch.cancelled():
        launch.exception()


async def _start_job(
    services: Services,
    kind: JobKind,
    user: User,
    job_input: dict[str, Any],
    scope: Scope | None,
    before_enqueue: Callable[[JobRecord], Awaitable[None]] | None,
    extra_charges: Sequence[Charge],
) -> JobRecord:
    unit = [services.quotas.unit(scope, user.id, user.plan)] if scope is not None else []
    charges = [*unit, *extra_charges]
    try:
        created = await services.store.create(
            kind,
            user.id,
            job_input,
            charges=charges,
            active_limit=services.settings.max_active_jobs_per_user,
            plan=user.plan,
        )
    except QuotaRefused as e:
        raise services.quotas.refuse(charges[e.index].refusal(e.used)) from None
    record = created.record
    to = route(services.keys, user.plan, created.rank)
    with logs.bound(job_id=record.id, job_kind=kind.value, user_hash=logs.user_hash(user.id)):
        try:
            if before_enqueue is not None:
                await before_enqueue(record)
            # kombu's publish is blocking I/O: keep it off the event loop (C5).
            await services.publisher.enqueue(kind, record.id, to, logs.current("request_id"))
        except Exception as e:
            log.exception("could not enqueue job %s", record.id)
            # ENQUEUE_FAILED is ours: failing the job gives its quota unit back.
            await services.store.fail(record.id, ErrorInfo("ENQUEUE_FAILED", "the job could not be queued"))
            raise Unavailable("the job queue is unavailable; try again shortly") from e
        log.info("job %s queued", record.id)
    return record
