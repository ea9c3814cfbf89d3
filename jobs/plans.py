"""Plans and what they allow, as in the original product: per-user quotas over a UTC day (or hour),
and the bytes of uploaded CVs a user may keep stored (a window that never resets)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

FOREVER_WINDOW = "forever"
# The reset time of a window that never resets, as far ahead as a datetime goes.
NEVER = datetime.max.replace(tzinfo=UTC)
MB = 1024 * 1024


class Plan(StrEnum):
    FREE = "Free"
    BASIC = "Basic"
    PRO = "Pro"
    PREMIUM = "Premium"

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
