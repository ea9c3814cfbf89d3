"""Quota counters in Redis: charged atomically per user and window, refunded once per job.

A charge that would pass the limit changes nothing (the script checks before it counts), so 50
concurrent requests at the limit let exactly the remaining number through. Counters expire a
day after their window ends: they are bookkeeping, not the user's data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from jobs.errors import RateLimited
from jobs.names import Keys
from jobs.plans import QUOTAS, Plan, Scope, upgrade_hint

CHARGE_LUA = """
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local limit = tonumber(ARGV[1])
if used >= limit then return {0, used} end
used = redis.call('INCR', KEYS[1])
redis.call('EXPIREAT', KEYS[1], tonumber(ARGV[2]))
return {1, used}
"""

# Failures that are ours, not the user's: the unit goes back, once, in the same script that
# fails the job (jobs/events.py); a cancellation's does not.
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
    creates a job (jobs/events.py), together with the job's other charges or not at all. The
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
