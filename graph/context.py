"""What every resolver receives: the process's services and who is calling."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from celery import Celery
from redis.asyncio import Redis

from graph.listener import Listener
from jobs.cv_store import CvStore
from jobs.names import Keys
from jobs.store import JobStore
from settings import Settings

if TYPE_CHECKING:
    # Only named here: the compiler renders events with the GraphQL types, which use this module.
    from graph.compiled_subscription import SubscriptionCompiler

# Until authentication arrives every caller is this one user; records carry an owner from the
# start so that ownership checks (C7) are already in every resolver.
ANONYMOUS = "anonymous"


def caller_id(request: Any) -> str:
    """Who is calling: every request's owner for the ownership checks (C7)."""
    return ANONYMOUS


@dataclass(frozen=True)
class Services:
    """Opened once per process by the ASGI lifespan and shared by every request."""

    settings: Settings
    keys: Keys
    redis: Redis
    store: JobStore
    cv: CvStore
    listener: Listener
    celery: Celery
    compiler: SubscriptionCompiler


@dataclass
class Context:
    services: Services
    request: Any
    response: Any
    user_id: str = ANONYMOUS
