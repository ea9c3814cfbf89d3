"""Plans and their quotas, in one place: what each plan allows (per UTC hour or day, and the bytes
of uploaded CVs a user may keep stored, a window that never resets), the counters in Redis that
enforce it, and the charge and refund rules.

A charge that would pass the limit changes nothing (the script checks before it counts), so 50
concurrent requests at the limit let exactly the remaining number through. A call is charged
here (`QuotaService.charge`, CHARGE_LUA); a job's unit is charged by the script that creates the
job, with its other charges or not at all, and refunded once by the script that fails it
(EMIT_LUA, jobs/core/events.py) when the failure is ours (REFUNDABLE). Counters expire a day
after their window ends: they are bookkeeping, not the user's data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import partial

from prometheus_client import Counter
from redis.asyncio import Redis

from jobs.core.errors import RateLimited
from jobs.core.names import Keys

FOREVER_WINDOW = "forever"
# The reset time of a window that never resets, as far ahead as a datetime goes.
NEVER = datetime.max.replace(tzinfo=UTC)
MB = 1024 * 1024


class Plan(StrEnum):
    FREE = "Free"
    BASIC = "Basic"
    PRO = "Pro"
    PREMIUM = "Premium"

    @classmethod
    def stored(cls, value: str | None) -> Plan:
        """A plan read back from a record: none (written before plans were kept) or one this code no
        longer knows (renamed, retired) is served as Free rather than stopping whoever reads it."""
        try:
            return cls(value) if value else cls.FREE
        except ValueError:
            return cls.FREE

    @property
    def next(self) -> Plan | None:
        order = list(Plan)
        index = order.index(self)
        return order[index + 1] if index + 1 < len(order) else None


class Scope(StrEnum):
    AI_IMPROVEMENTS = "AI_IMPROVEMENTS"
    QUESTIONNAIRES = "QUESTIONNAIRES"
    UPLOADS = "UPLOADS"
    API_CALLS = "API_CALLS"
    STORAGE = "STORAGE"


class Period(StrEnum):
    HOUR = "hour"
    DAY = "day"  # resetting at UTC midnight
    FOREVER = "forever"  # a stock, not a rate: given back when what it counts is deleted


@dataclass(frozen=True)
class Quota:
    period: Period
    limits: dict[Plan, int]
    noun: str

    def window(self, now: datetime) -> tuple[str, datetime]:
        """The current window's label and when it resets."""
        if self.period is Period.FOREVER:
            return FOREVER_WINDOW, NEVER
        if self.period is Period.HOUR:
            start = now.replace(minute=0, second=0, microsecond=0)
            return start.strftime("%Y%m%d%H"), start + timedelta(hours=1)
        start = now.replace(hour=0, minute=0, second=0, microsecond=0)
        return start.strftime("%Y%m%d"), start + timedelta(days=1)


def _limits(free: int, basic: int, pro: int, premium: int) -> dict[Plan, int]:
    return {Plan.FREE: free, Plan.BASIC: basic, Plan.PRO: pro, Plan.PREMIUM: premium}


QUOTAS = {
    Scope.AI_IMPROVEMENTS: Quota(Period.DAY, _limits(3, 20, 100, 1000), "AI improvements a day"),
    Scope.QUESTIONNAIRES: Quota(Period.DAY, _limits(5, 50, 200, 1000), "questionnaires a day"),
    Scope.UPLOADS: Quota(Period.DAY, _limits(10, 50, 200, 1000), "CV uploads a day"),
    Scope.API_CALLS: Quota(Period.HOUR, _limits(100, 300, 600, 1200), "API calls an hour"),
    # Bytes, under GraphQL's 32-bit Int: a Free user keeps two 10 MB files and a few small ones.
    Scope.STORAGE: Quota(
        Period.FOREVER, _limits(25 * MB, 100 * MB, 250 * MB, 1024 * MB), "bytes of uploaded CVs stored"
    ),
}


def upgrade_hint(scope: Scope, plan: Plan) -> str | None:
    better = plan.next
    if better is None:
        return None
    quota = QUOTAS[scope]
    return f"Upgrade to {better.value} for {quota.limits[better]} {quota.noun}."


def utcnow() -> datetime:
    return datetime.now(UTC)

CHARGE_LUA = """
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local limit = tonumber(ARGV[1])
if used >= limit then return {0, used} end
used = redis.call('INCR', KEYS[1])
redis.call('EXPIREAT', KEYS[1], tonumber(ARGV[2]))
return {1, used}
"""

# Failures that are ours, not the user's: the unit goes back, once, in the same script that
# fails the job (jobs/core/events.py); a cancellation's does not.
REFUNDABLE = frozenset(
    {
        "AI_RATE_LIMITED",
        "AI_UNAVAILABLE",
        "AI_TIMEOUT",
        "AI_CONNECTION",
        "AI_AUTH",
        "AI_QUOTA_EXCEEDED",
        "AI_MODEL_NOT_FOUND",
        "AI_EMPTY_RESPONSE",
        "WORKER_LOST",
        "ENQUEUE_FAILED",
        "INTERNAL",
    }
)


@dataclass(frozen=True)
class Window:
    scope: Scope
    plan: Plan
    key: str
    limit: int
    reset_at: datetime


def window(keys: Keys, scope: Scope, user: str, plan: Plan, now: datetime) -> Window:
    quota = QUOTAS[scope]
    label, reset_at = quota.window(now)
    return Window(scope, plan, keys.quota(scope.value, user, label), quota.limits[plan], reset_at)


@dataclass(frozen=True)
class Charge:
    """`amount` units on the counter `key`, refused past `limit`; charged by the script that
    creates a job (jobs/core/events.py), together with the job's other charges or not at all. The
    bytes of `credit_key`, when given, count as already given back (an upload's file that the new
    one replaces)."""

    key: str
    limit: int
    amount: int
    expire_at: int | None
    refusal: Callable[[int], RateLimited]  # the error to raise, given the units already used
    credit_key: str | None = None


def unit_of(w: Window) -> Charge:
    """One unit of a windowed quota; the counter outlives its window by a day."""
    return Charge(w.key, w.limit, 1, int(w.reset_at.timestamp()) + 86_400, partial(rate_limited, w))


class QuotaRefused(Exception):
    """The job-creation script refused `charges[index]`, which had `used` units already."""

    def __init__(self, index: int, used: int) -> None:
        super().__init__(f"quota charge {index} refused at {used}")
        self.index = index
        self.used = used


def charge_args(w: Window) -> tuple[list[str], list[int]]:
    return [w.key], [w.limit, int(w.reset_at.timestamp()) + 86_400]


def charged(w: Window, reply: list[int]) -> int:
    """How many units the window has used after this charge; raises when it was refused."""
    accepted, used = int(reply[0]), int(reply[1])
    if not accepted:
        raise rate_limited(w, used)
    return used


def rate_limited(w: Window, used: int) -> RateLimited:
    noun = QUOTAS[w.scope].noun
    return RateLimited(
        f"the {w.plan.value} plan allows {w.limit} {noun}; the limit resets at {w.reset_at.isoformat()}",
        scope=w.scope.value,
        limit=w.limit,
        used=used,
        remaining=max(0, w.limit - used),
        resetAt=w.reset_at.isoformat(),
        currentPlan=w.plan.value,
        upgrade=upgrade_hint(w.scope, w.plan),
    )


QUOTA_REFUSALS = Counter("cvi_quota_refusals", "Calls and jobs refused over a quota, by scope.", ["scope"])
for _scope in Scope:
    QUOTA_REFUSALS.labels(_scope.value)


class QuotaService:
    """The API's side: charging a call to its scope, and what is used so far."""

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys
        self._charge = redis.register_script(CHARGE_LUA)
        self.refused = 0  # calls refused over a quota, since this process started

    async def charge(self, scope: Scope, user: str, plan: Plan) -> Window:
        """One unit of `scope` for `user`; raises RateLimited (charging nothing) when over."""
        w = window(self._keys, scope, user, plan, utcnow())
        keys, args = charge_args(w)
        try:
            charged(w, await self._charge(keys=keys, args=args))
        except RateLimited as refusal:
            self.refuse(refusal)
            raise
        return w

    def refuse(self, refusal: RateLimited) -> RateLimited:
        """`refusal`, counted (by its scope) before it is raised."""
        self.refused += 1
        QUOTA_REFUSALS.labels(str(refusal.details.get("scope", "unknown"))).inc()
        return refusal

    def unit(self, scope: Scope, user: str, plan: Plan) -> Charge:
        """One unit of `scope` for `user`, for a job-creation script to charge (graph/domain/launch.py)."""
        return unit_of(window(self._keys, scope, user, plan, utcnow()))

    async def used(self, w: Window) -> int:
        return int(await self._redis.get(w.key) or 0)
