"""The demo page (examples/web) at /demo: a plain HTML and ES-module frontend of this API, served by
the API itself (no build step, nothing loaded from elsewhere).

It follows the environment as GraphiQL does: served in development, in production only with
DEMO=true. In development it may also hand the page a token for one shared user, `demo`: anyone
who can open the page acts as that user (its CVs, its quotas), which is why no production API
mints one (there the page asks for a token from the product's identity provider).

examples/web is a sample frontend beside the service, not part of it: it ships with the source
checkout, not in the wheel. An installed API without it answers /demo with a typed 404 saying so.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from graph.edges.auth import mint
from jobs.core.quotas import Plan
from settings import Settings

WEB_DIR = Path(__file__).resolve().parents[2] / "examples" / "web"
DEMO_PATH = "/demo"
DEMO_USER = "demo"
# Pro: enough improvements a day to show the page to a few people without hitting a quota.
DEMO_PLAN = Plan.PRO
DEMO_TOKEN_SECONDS = 3600

# Everything the page uses comes from this origin; the WebSocket and fetch go to /graphql here.
# ('self' covers ws: and wss: to the same host in CSP level 3, which Chromium and Firefox follow.)
PAGE_POLICY = (
    "default-src 'self'; connect-src 'self'; img-src 'self' data: blob:; object-src 'none'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def demo_enabled(settings: Settings) -> bool:
    return settings.demo if settings.demo is not None else settings.env == "development"


def demo_routes(settings: Settings, web_dir: Path = WEB_DIR) -> list[BaseRoute]:
    if not demo_enabled(settings):
        why = "the demo page is off in production; DEMO=true serves it"
        return _unavailable(why)
    if not (web_dir / "index.html").is_file():
        why = (
            f"the demo page is not installed here ({web_dir} is missing): it ships with the source "
            "checkout (examples/web), not the wheel; run the API from a checkout (make run) to see it"
        )
        return _unavailable(why)
    return [
        Route(DEMO_PATH, _to_directory),
        # Every method: what is not a POST gets a typed 405 here, not the static files' 404.
        Route(f"{DEMO_PATH}/token", _token_endpoint(settings), methods=EVERY_METHOD),
        Mount(DEMO_PATH, _PagePolicy(StaticFiles(directory=web_dir, html=True))),
    ]


def _unavailable(why: str) -> list[BaseRoute]:
    async def not_found(request: Request) -> Response:
        return _error(404, "NOT_FOUND", why)

    methods = ["GET", "HEAD", "POST"]
    return [Route(path, not_found, methods=methods) for path in (DEMO_PATH, f"{DEMO_PATH}/{{rest:path}}")]


async def _to_directory(request: Request) -> Response:
    # The page's modules are addressed relative to it: it must be read as /demo/.
    return RedirectResponse(f"{DEMO_PATH}/", status_code=308)


def _error(status: int, code: str, message: str, allow: str | None = None) -> JSONResponse:
    body = {"errors": [{"message": message, "extensions": {"code": code}}]}
    return JSONResponse(body, status_code=status, headers={"Allow": allow} if allow else None)


LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")
EVERY_METHOD = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]


def _from_this_machine(request: Request) -> bool:
    """A loopback peer that addressed us by a loopback name (a rebound DNS name is not one)."""
    peer = request.client.host if request.client else None
    host = request.url.hostname
    return peer in LOOPBACK_HOSTS and host in LOOPBACK_HOSTS


def _token_endpoint(settings: Settings) -> Callable[[Request], Awaitable[Response]]:
    """POST /demo/token: a short-lived token for the shared demo user, in development only, and
    only when this API verifies tokens with its own secret (a public key means tokens come from
    an identity provider, which this API cannot sign for)."""
    mints = settings.env == "development" and settings.jwt_secret is not None and not settings.jwt_public_key

    async def token(request: Request) -> Response:
        if request.method != "POST":
            return _error(405, "METHOD_NOT_ALLOWED", "POST /demo/token mints a token", allow="POST")
        if not mints:
            return _error(
                404,
                "DEMO_TOKEN_UNAVAILABLE",
                "this API hands out no demo tokens (only a development API with JWT_SECRET does); "
                "paste a token of yours",
            )
        if not _from_this_machine(request):
            # A development API reachable from elsewhere (ENV forgotten on a server), or a page
            # that rebound a name of its own to 127.0.0.1: neither gets a token that spends our
            # model budget.
            return _error(
                403,
                "DEMO_TOKEN_UNAVAILABLE",
                "demo tokens are handed only to this machine (a loopback client and Host); paste a token",
            )
        value = mint(settings, DEMO_USER, DEMO_PLAN, DEMO_TOKEN_SECONDS, name="Demo user")
        body = {
            "token": value,
            "user": DEMO_USER,
            "plan": DEMO_PLAN.value,
            "expiresAt": int(time.time()) + DEMO_TOKEN_SECONDS,
        }
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    return token


class _PagePolicy:
    """The page's files, each answered with a policy that keeps the page to this origin."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_policy(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"content-security-policy", PAGE_POLICY.encode()))
                headers.append((b"x-content-type-options", b"nosniff"))
                # A development page that changes as you edit it: never served from a cache.
                headers.append((b"cache-control", b"no-cache"))
                message = {**message, "headers": headers}
            await send(message)

        await self._app(scope, receive, with_policy)
