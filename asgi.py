"""The ASGI application: `uvicorn asgi:app`.

Serves `/graphql` (GraphiQL in a browser, queries and mutations over HTTP, subscriptions over
WebSocket), `/healthz`, `/readyz` and `/metrics`. Redis clients, the job store and the pub/sub listener are
opened once in the lifespan and shared through `request.state` (WebSockets included).
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from graph.context import Services
from graph.domain.cv_store import CvStore
from graph.domain.export import download_export
from graph.domain.job_store import JobStore
from graph.domain.pdfs import download_pdf
from graph.domain.publisher import Publisher
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
from graph.live.keepalive import KeepaliveClock
from graph.live.listener import Listener
from graph.live.sockets import settle_releases
from graph.ops.health import healthz
from graph.ops.metrics import metrics
from graph.ops.readiness import readyz
from graph.ops.redis_clients import redis_clients
from graph.ops.request_ids import RequestIds
from graph.schema import schema
from jobs.celery import celery
from jobs.core import logs
from jobs.core.names import Keys
from jobs.core.quotas import QuotaService
from settings import get_settings

logs.configure(get_settings(), get_settings().log_level)


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
    settings = get_settings()
    keys = Keys(settings.key_prefix)
    pool, redis, listener_redis = redis_clients(settings)
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
            replicas=settings.replicas_to_wait_for,
            replica_wait_ms=settings.redis_wait_ms,
        ),
        cv=CvStore(redis, keys),
        listener=listener,
        celery=celery,
        publisher=Publisher(celery),
        verifier=TokenVerifier(settings),
        quotas=QuotaService(redis, keys),
        draining=Draining(),
        keepalive=KeepaliveClock(settings.ws_ping_interval_seconds),
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
        await services.keepalive.stop()
        await listener.stop()
        await listener_redis.aclose()
        await redis.aclose()
        await pool.aclose()
        # Resolver coroutines that graphql-core created and never awaited (an operation refused
        # midway) can sit in reference cycles; collected here, while the interpreter is whole,
        # rather than at its teardown, where finalising them prints a KeyError traceback.
        gc.collect()


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
            Route("/downloads/export/{job_id}", download_export),
            Route("/healthz", healthz),
            Route("/readyz", readyz(settings)),
            Route("/metrics", metrics),
            Mount(ASSETS_PATH, StaticFiles(directory=ASSETS_DIR)),
            # examples/web at /demo, as the environment allows (graph/edges/demo.py).
            *demo_routes(settings),
        ],
        middleware=[
            # First: nothing else reads a header before its size is known to be sane.
            Middleware(HeaderLimits, max_bytes=settings.http_max_header_bytes),
            # What the request does is logged under its id, answered in X-Request-ID.
            Middleware(RequestIds),
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
            ),
        ],
        lifespan=lifespan,
    )
    app.state.compiler = compiler  # for /metrics
    return app


app = create_app()
