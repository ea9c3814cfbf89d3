"""Tokens for the tests, signed as the test stacks verify them (JWT_SECRET below), and the caller
the GraphQL helpers act as: a user of its own for every test, so tests share no quota, no cap and
no list of questionnaires."""

from __future__ import annotations

import time
from typing import Any

import jwt

SECRET = "test-secret-for-the-suite-only-0123456789"


def token(user: str, plan: str = "Premium", ttl: float = 3600, secret: str = SECRET, **claims: Any) -> str:
    now = time.time()
    return jwt.encode(
        {"sub": user, "plan": plan, "iat": int(now), "exp": int(now + ttl), **claims}, secret, "HS256"
    )


class Caller:
    """Who the helpers in tests/support/gql.py act as, unless told otherwise."""

    user = "tester"
    bearer = token(user)

    @classmethod
    def become(cls, user: str, plan: str = "Premium") -> None:
        cls.user, cls.bearer = user, token(user, plan)


def authorization(bearer: str | None) -> dict[str, str]:
    value = Caller.bearer if bearer is None else bearer
    return {"Authorization": f"Bearer {value}"} if value else {}
