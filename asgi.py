"""The ASGI application: `uvicorn asgi:app`.

Serves `/graphql` (GraphiQL in a browser, queries and mutations over HTTP, subscriptions over
WebSocket), `/healthz` and `/metrics`. Redis clients, the job store and the pub/sub listener are
opened once in the lifespan and shared through `request.state` (WebSockets included).
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from graph.context import Services
from graph.domain.cv_store import CvStore
from graph.domain.job_store import JobStore
from graph.domain.pdfs import download_pdf
from graph.edges.auth import TokenVerifier
from graph.edges.body_limits import BodyLimits
from graph.edges.demo import demo_routes
from graph.edges.graphiql import ASSETS_DIR, ASSETS_PATH
from graph.edges.header_limits import HeaderLimits
from graph.edges.http_errors import TypedHttpErrors
from graph.edges.uploads import PREFLIGHT_HEADERS, UploadGuard
from graph.edges.view import GraphQLView
from graph.live.compiled_subscription import SubscriptionCompiler
from graph.live.draining import Draining
from graph.live.listener import Listener
from graph.live.sockets import settle_releases
from graph.schema import schema
from jobs.celery import celery
from jobs.core.names import Keys
from jobs.core.quotas import QuotaService
from settings import get_settings

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
    settings = get_settings()
    keys = Keys(settings.key_prefix)
    # A blocking pool: a burst of subscribers waits for a free connection instead of failing.
    # A command on a connection Redis dropped (a restart) is sent once more on a fresh one;
    # Redis still being away is the caller's error to handle (or, for streams, to wait out).
    pool = BlockingConnectionPool.from_url(
        settings.redis_url,
        max_connections=settings.redis_max_connections,
        timeout=10,
        health_check_interval=30,
        socket_keepalive=True,
        socket_connect_timeout=2,
        retry=Retry(NoBackoff(), 1),
    )
    redis = Redis(connection_pool=pool)
    # The listener heals its own connection (graph/live/listener.py): no silent redis-py retries.
    listener_redis = Redis.from_url(
        settings.redis_url,
        retry=Retry(NoBackoff(), 0),
        socket_keepalive=True,
        client_name=f"{settings.key_prefix}-listener",
    )
    listener = Listener(listener_redis, settings.subscriber_queue_size, settings.listener_give_up_seconds)
    await listener.start()
    services = Services(
        settings=settings,
        keys=keys,
        redis=redis,
        store=JobStore(
            redis,
            keys,
            settings.event_log_max,
            read_patience=settings.listener_give_up_seconds,
            queued_grace=settings.job_queued_grace_seconds,
        ),
        cv=CvStore(redis, keys),
        listener=listener,
        celery=celery,
        verifier=TokenVerifier(settings),
        quotas=QuotaService(redis, keys),
        draining=Draining(),
    )
    services.draining.install()
    # What startup made (modules, the schema, the services) lives as long as the process: out of
    # the collector's sight, so that a full collection during a request walks only what requests
    # made (the worst-case answer times of bench/document_cost.py were such pauses).
    gc.freeze()
    try:
        yield {"services": services}
    finally:
        # Streams cut short by the shutdown are still giving their places back.
        await settle_releases()
        await listener.stop()
        await listener_redis.aclose()
        await redis.aclose()
        await pool.aclose()


HEALTH_PROBE_SECONDS = 2.0


async def healthz(request: Request) -> JSONResponse:
    services: Services = request.state.services
    try:
        # Bounded: a probe that hangs on a Redis that is away must answer "unhealthy", not time out.
        redis_ok = bool(await asyncio.wait_for(services.redis.ping(), HEALTH_PROBE_SECONDS))
    except Exception:
        redis_ok = False
    healthy = redis_ok and services.listener.connected
    body = {
        "status": "ok" if healthy else "degraded",
        "redis": redis_ok,
        "listener": services.listener.connected,
    }
    return JSONResponse(body, status_code=200 if healthy else 503)


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


# What GraphQL clients send: the token, JSON, and the preflight headers uploads must carry
# (graph/edges/uploads.py); Apollo Client names itself too.
CORS_HEADERS = [
    "Authorization",
    "Content-Type",
    "Accept",
    *PREFLIGHT_HEADERS,
    "Apollo-Client-Name",
    "Apollo-Client-Version",
]


def create_app() -> Starlette:
    settings = get_settings()
    compiler = SubscriptionCompiler(schema)
    graphql = GraphQLView(settings.allowed_origin_list, settings.graphiql_enabled, compiler)
    http_graphql = TypedHttpErrors(UploadGuard(graphql, settings.upload_max_bytes))
    app = Starlette(
        routes=[
            # Every method reaches the view: what it does not serve is a typed 405, not plain text.
            Route("/graphql", http_graphql),
            WebSocketRoute("/graphql", graphql),
            Route("/downloads/pdf/{pdf_id}", download_pdf),
            Route("/healthz", healthz),
            Route("/metrics", metrics),
            Mount(ASSETS_PATH, StaticFiles(directory=ASSETS_DIR)),
            # examples/web at /demo, as the environment allows (graph/edges/demo.py).
            *demo_routes(settings),
        ],
        middleware=[
            # First: nothing else reads a header before its size is known to be sane.
            Middleware(HeaderLimits, max_bytes=settings.http_max_header_bytes),
            # Pages on ALLOWED_ORIGINS (a frontend on its own dev server or domain) may call the
            # API with fetch: preflights answered, the headers GraphQL clients send allowed. No
            # credentials: callers authenticate with bearer tokens, never cookies, so a foreign
            # page gains nothing from a user's browser. Other origins get no CORS headers.
            Middleware(
                CORSMiddleware,
                allow_origins=settings.allowed_origin_list,
                allow_methods=["GET", "POST"],
                allow_headers=CORS_HEADERS,
                allow_credentials=False,
                max_age=600,
            ),
            # Every request body, whatever the route, is bounded in size and in time while it is read.
            Middleware(
                BodyLimits,
                max_bytes=settings.http_max_body_bytes,
                stall_seconds=settings.http_body_timeout_seconds,
                min_rate=settings.http_body_min_rate,
            )
        ],
        lifespan=lifespan,
    )
    app.state.compiler = compiler  # for /metrics
    return app


app = create_app()
