"""`/metrics`: this API process's counters and gauges, in Prometheus's text format."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import PlainTextResponse

from graph.context import Services


async def metrics(request: Request) -> PlainTextResponse:
    services: Services = request.state.services
    listener, compiler = services.listener, request.app.state.compiler
    lines = [
        ("cvi_subscriptions", "gauge", listener.subscriber_count),
        ("cvi_subscribed_channels", "gauge", listener.channel_count),
        ("cvi_listener_connected", "gauge", int(listener.connected)),
        ("cvi_listener_reconnects_total", "counter", listener.stats.reconnects),
        ("cvi_dropped_subscribers_total", "counter", listener.stats.dropped_subscribers),
        ("cvi_pubsub_messages_total", "counter", listener.stats.messages),
        ("cvi_subscriptions_compiled_total", "counter", compiler.compiled_runs),
        ("cvi_subscriptions_general_total", "counter", compiler.general_runs),
        ("cvi_tokens_refused_total", "counter", services.verifier.refused),
        ("cvi_rate_limited_total", "counter", services.quotas.refused),
        # What the plan cache holds counted against PLAN_CACHE_MAX_BYTES (each plan with the
        # most its rendered events may take), and its entries (plans and "not compilable").
        ("cvi_plan_cache_bytes", "gauge", compiler.cache_bytes),
        ("cvi_plan_cache_entries", "gauge", compiler.cache_entries),
    ]
    text = "".join(f"# TYPE {name} {kind}\n{name} {value}\n" for name, kind, value in lines)
    return PlainTextResponse(text, media_type="text/plain; version=0.0.4")
