"""What every resolver receives: the process's services and who is calling."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from celery import Celery
from redis.asyncio import Redis

from graph.domain.cv_store import CvStore
from graph.domain.job_store import JobStore
from graph.domain.loaders import Loaders, loaders_of
from graph.domain.publisher import Publisher
from graph.edges.auth import TokenVerifier, User
from graph.live.draining import Draining
from graph.live.keepalive import KeepaliveClock
from graph.live.listener import Listener
from jobs.core.errors import Unauthenticated
from jobs.core.names import Keys
from jobs.core.quotas import QuotaService
from settings import Settings


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
    publisher: Publisher  # sends job tasks through `celery`, off the event loop
    verifier: TokenVerifier
    quotas: QuotaService
    draining: Draining
    keepalive: KeepaliveClock


@dataclass
class Context:
    services: Services
    request: Any
    response: Any
    # Set from the Authorization header (HTTP) or the connection_init payload (WebSocket).
    user: User | None = None
    auth_error: Unauthenticated | None = None
    connection_params: dict[str, Any] = field(default_factory=dict)

    @property
    def user_or_raise(self) -> User:
        if self.user is None:
            raise self.auth_error or Unauthenticated("send a token: Authorization: Bearer <JWT>")
        return self.user

    @property
    def loaders(self) -> Loaders:
        """This operation's batched reads (graph/domain/loaders.py)."""
        return loaders_of(self.services.cv, self.services.keys)

    @property
    def user_id(self) -> str:
        """The caller, for every ownership check (C7); no caller, no answer."""
        return self.user_or_raise.id
