"""`/metrics`: this API process's metrics, in Prometheus's text format (prometheus-client).

Two kinds: metrics the code updates as things happen (open connections, live subscriptions and
delivery lag in graph/live/live_metrics.py, quota refusals in jobs/core/quotas.py, with
prometheus-client's process and GC metrics), and figures read when scraped: the listener's,
the plan cache's and the token verifier's own counts, and from Redis the Celery queue's depth
and the deployment's unfinished jobs. The workers export theirs apart (jobs/work/metrics.py).
Every name starts with `cvi_`; labels are bounded (protocol, scope, queue), never a user or a job.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass

from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import Response

from graph.context import Services
from graph.live.compiled_subscription import SubscriptionCompiler
from jobs.core.dispatch import queue_lists, queues_best_first

# A scrape must answer even when Redis does not: the Redis figures are then left out.
REDIS_PROBE_SECONDS = 1.0
# The sweeper's index (jobs/work/sweeper.py) holds every unfinished job, and finished ones until
# it next looks at them: those are told apart by their record's state.
UNFINISHED_LUA = """
local n = 0
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local state = redis.call('HGET', ARGV[1] .. id, 'state')
  if state and state ~= 'SUCCEEDED' and state ~= 'FAILED' and state ~= 'CANCELLED' then n = n + 1 end
end
return n
"""


class _Snapshot(Collector):
    """What this process counts by itself, and the Redis figures, as read for one scrape."""

    def __init__(
        self, services: Services, compiler: SubscriptionCompiler, redis: RedisFigures | None
    ) -> None:
        self._services = services
        self._compiler = compiler
        self._redis = redis

    def collect(self) -> Iterator[Metric]:
        services, compiler = self._services, self._compiler
        listener, stats = services.listener, services.listener.stats
        yield _gauge(
            "cvi_subscriptions", "Live subscriptions of the pub/sub listener.", listener.subscriber_count
        )
        yield _gauge("cvi_subscribed_channels", "Pub/sub channels subscribed.", listener.channel_count)
        yield _gauge(
            "cvi_listener_connected", "1 while the pub/sub connection is up.", int(listener.connected)
        )
        yield _counter("cvi_listener_reconnects", "Pub/sub connections lost and replaced.", stats.reconnects)
        yield _counter(
            "cvi_dropped_subscribers", "Subscribers dropped for falling behind.", stats.dropped_subscribers
        )
        yield _counter("cvi_pubsub_messages", "Pub/sub messages routed to subscribers.", stats.messages)
        yield _counter(
            "cvi_subscriptions_compiled", "jobUpdates operations served from a plan.", compiler.compiled_runs
        )
        yield _counter(
            "cvi_subscriptions_general", "WebSocket operations run by Strawberry.", compiler.general_runs
        )
        yield _counter(
            "cvi_tokens_refused", "Tokens refused: missing, expired or invalid.", services.verifier.refused
        )
        yield _counter("cvi_rate_limited", "Calls and jobs refused over a quota.", services.quotas.refused)
        # Counted against PLAN_CACHE_MAX_BYTES: each plan with the most its rendered events may take.
        yield _gauge("cvi_plan_cache_bytes", "What the plan cache holds, as charged.", compiler.cache_bytes)
        yield _gauge(
            "cvi_plan_cache_entries", "Plans and 'not compilable' verdicts cached.", compiler.cache_entries
        )
        if self._redis is not None:
            depth = GaugeMetricFamily(
                "cvi_queue_depth",
                "Tasks waiting in a Celery queue (LLEN of its lists, one per priority step).",
                labels=["queue"],
            )
            for queue, waiting in self._redis.queues.items():
                depth.add_metric([queue], waiting)
            yield depth
            yield _gauge(
                "cvi_unfinished_jobs",
                "Jobs queued, running or retrying (this deployment).",
                self._redis.jobs,
            )


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def _counter(name: str, documentation: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, documentation, value=value)


@dataclass(frozen=True)
class RedisFigures:
    queues: dict[str, int]  # tasks waiting, per queue
    jobs: int  # unfinished jobs


async def _redis_figures(services: Services) -> RedisFigures | None:
    # A queue's lists as kombu names them: the broker's key prefix, then the queue and its step.
    prefix = services.celery.conf.broker_transport_options.get("global_keyprefix", "")
    keys = services.keys
    unfinished = services.redis.register_script(UNFINISHED_LUA)
    queues = queues_best_first(keys)
    try:
        async with asyncio.timeout(REDIS_PROBE_SECONDS):
            async with services.redis.pipeline(transaction=False) as pipe:
                for queue in queues:
                    for name in queue_lists(queue):
                        pipe.llen(prefix + name)
                lengths = iter(await pipe.execute())
            jobs = await unfinished(keys=[keys.leases], args=[keys.job("")])
    except (RedisError, OSError, TimeoutError):
        return None
    depths = {queue: sum(int(next(lengths)) for _ in queue_lists(queue)) for queue in queues}
    return RedisFigures(depths, int(jobs))


async def metrics(request: Request) -> Response:
    services: Services = request.state.services
    scrape = CollectorRegistry(auto_describe=False)
    scrape.register(_Snapshot(services, request.app.state.compiler, await _redis_figures(services)))
    text = generate_latest(REGISTRY) + generate_latest(scrape)
    return Response(text, media_type=CONTENT_TYPE_LATEST)
