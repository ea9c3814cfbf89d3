"""Plans and quotas on the API side: charging a call to its scope, the per-hour API-call quota,
and what `rateLimitStatus` reports."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

import strawberry
from redis.asyncio import Redis
from starlette.requests import Request
from strawberry.extensions import SchemaExtension
from strawberry.types import Info

from graph.auth import User
from graph.context import Context
from jobs.errors import RateLimited
from jobs.names import Keys
from jobs.plans import NEVER, QUOTAS, Plan, Scope, utcnow
from jobs.quotas import CHARGE_LUA, Charge, Window, charge_args, charged, unit_of, window

ScopeEnum = strawberry.enum(Scope, name="QuotaScope")
PlanEnum = strawberry.enum(Plan, name="Plan")


class QuotaService:
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys
        self._charge = redis.register_script(CHARGE_LUA)
        self.refused = 0  # calls refused over a quota, since this process started

    async def charge(self, scope: Scope, user: User) -> Window:
        """One unit of `scope` for `user`; raises RateLimited (charging nothing) when over."""
        w = window(self._keys, scope, user.id, user.plan, utcnow())
        keys, args = charge_args(w)
        try:
            charged(w, await self._charge(keys=keys, args=args))
        except RateLimited:
            self.refused += 1
            raise
        return w

    def unit(self, scope: Scope, user: User) -> Charge:
        """One unit of `scope` for `user`, for a job-creation script to charge (graph/launch.py)."""
        return unit_of(window(self._keys, scope, user.id, user.plan, utcnow()))

    async def used(self, w: Window) -> int:
        return int(await self._redis.get(w.key) or 0)


@strawberry.type(description="Where you stand in one quota of your plan.")
class RateLimitStatus:
    scope: Scope
    limit: int
    used: int
    remaining: int
    reset_at: datetime | None
    plan: Plan


@strawberry.type(description="The caller, as their token names them.")
class Me:
    id: strawberry.ID
    plan: Plan
    name: str | None
    email: str | None


@strawberry.type
class AccountQuery:
    @strawberry.field(description="Who you are.")
    def me(self, info: Info[Context, None]) -> Me:
        user = info.context.user_or_raise
        return Me(id=strawberry.ID(user.id), plan=user.plan, name=user.name, email=user.email)

    @strawberry.field(
        description="Every quota of your plan: limit, used, remaining and when it resets. STORAGE "
        "counts the bytes of your stored uploads and never resets (resetAt is null): deleting "
        "files gives bytes back."
    )
    async def rate_limit_status(self, info: Info[Context, None]) -> list[RateLimitStatus]:
        user = info.context.user_or_raise
        services = info.context.services
        out = []
        for scope in QUOTAS:
            w = window(services.keys, scope, user.id, user.plan, utcnow())
            used = await services.quotas.used(w)
            out.append(
                RateLimitStatus(
                    scope=scope,
                    limit=w.limit,
                    used=used,
                    remaining=max(0, w.limit - used),
                    reset_at=None if w.reset_at == NEVER else w.reset_at,
                    plan=user.plan,
                )
            )
        return out


class ApiCallQuota(SchemaExtension):
    """Charges each GraphQL operation over HTTP to the caller's hourly API-call quota. WebSocket
    operations are not charged here (their sockets are capped per user), which is why compiled
    subscriptions may skip this extension."""

    async def on_execute(self) -> AsyncIterator[None]:
        context = self.execution_context.context
        if isinstance(context, Context) and isinstance(context.request, Request) and context.user is not None:
            await context.services.quotas.charge(Scope.API_CALLS, context.user)
        yield
