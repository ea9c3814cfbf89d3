"""Who is calling: a bearer token (JWT) verified with PyJWT, on HTTP from the Authorization header
and on WebSocket from the connection_init payload. Cookies never authenticate, so a foreign page
cannot act with a user's ambient credentials."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jwt

from jobs.core.errors import Unauthenticated
from jobs.core.quotas import Plan
from settings import Settings

DEV_USER = "dev"


@dataclass(frozen=True)
class User:
    id: str
    plan: Plan
    name: str | None = None
    email: str | None = None
    expires_at: float | None = None


class TokenVerifier:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        if settings.jwt_public_key:
            self._key: Any = settings.jwt_public_key
            self._algorithms = ["RS256", "ES256"]
        elif settings.jwt_secret is not None:
            self._key = settings.jwt_secret.get_secret_value()
            self._algorithms = ["HS256"]
        else:
            self._key, self._algorithms = None, []
        self.refused = 0  # tokens refused (missing, expired, invalid), since this process started

    def user(self, authorization: str | None) -> User:
        """The caller named by an `Authorization` value ("Bearer <jwt>"); raises Unauthenticated."""
        try:
            token = _bearer(authorization)
            if token is None:
                if self._settings.auth_disabled:
                    return User(DEV_USER, Plan.PREMIUM, name="Developer")
                raise Unauthenticated("send a token: Authorization: Bearer <JWT>")
            return self.verify(token)
        except Unauthenticated:
            self.refused += 1
            raise

    def verify(self, token: str) -> User:
        if self._key is None:
            raise Unauthenticated("this server has no key to verify tokens (JWT_SECRET or JWT_PUBLIC_KEY)")
        s = self._settings
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=self._algorithms,
                audience=s.jwt_audience,
                issuer=s.jwt_issuer,
                leeway=s.jwt_leeway_seconds,
                options={"require": ["exp", "sub"], "verify_aud": s.jwt_audience is not None},
            )
        except jwt.ExpiredSignatureError as e:
            raise Unauthenticated("the token has expired") from e
        except jwt.InvalidTokenError as e:
            raise Unauthenticated(f"the token is not valid: {e}") from e
        subject = claims["sub"]
        if not isinstance(subject, str) or not subject.strip():
            # A blank or non-string `sub` would make every such token one shared user.
            raise Unauthenticated("the token is not valid: its sub claim names no user")
        return User(
            id=subject,
            plan=_plan(claims.get("plan")),
            name=_text_claim(claims, "name"),
            email=_text_claim(claims, "email"),
            expires_at=float(claims["exp"]),
        )


def _bearer(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("the Authorization value must be 'Bearer <JWT>'")
    return token.strip()


def _text_claim(claims: dict[str, Any], name: str) -> str | None:
    """An optional display claim; one that is not text is ignored, not passed on."""
    value = claims.get(name)
    return value if isinstance(value, str) else None


def _plan(claim: object) -> Plan:
    """The plan claim; missing or unknown means Free, the least a token can grant."""
    for plan in Plan:
        if isinstance(claim, str) and claim.strip().lower() == plan.value.lower():
            return plan
    return Plan.FREE


def mint(settings: Settings, user: str, plan: Plan, ttl_seconds: int, **claims: Any) -> str:
    """A token for `user`, signed with JWT_SECRET (development: `make token`)."""
    import time

    if settings.jwt_secret is None:
        raise ValueError("minting needs JWT_SECRET")
    now = int(time.time())
    payload = {"sub": user, "plan": plan.value, "iat": now, "exp": now + ttl_seconds, **claims}
    if settings.jwt_issuer:
        payload.setdefault("iss", settings.jwt_issuer)
    if settings.jwt_audience:
        payload.setdefault("aud", settings.jwt_audience)
    return jwt.encode(payload, settings.jwt_secret.get_secret_value(), algorithm="HS256")
