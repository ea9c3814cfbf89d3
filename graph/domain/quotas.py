"""Plans and quotas in the schema: the per-hour API-call quota charged for each operation, and what
`me` and `rateLimitStatus` report. The rules and the charging are jobs/core/quotas.py's."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

import strawberry
from starlette.requests import Request
from strawberry.extensions import SchemaExtension
from strawberry.types import Info

from graph.context import Context
from jobs.core.quotas import (
    NEVER,
    QUOTAS,
    Plan,
    Scope,
    utcnow,
    window,
)

ScopeEnum = strawberry.enum(Scope, name="QuotaScope")
PlanEnum = strawberry.enum(Plan, name="Plan")


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
            await context.services.quotas.charge(Scope.API_CALLS, context.user.id, context.user.plan)
        yield
