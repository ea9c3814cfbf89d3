"""Authentication: bearer tokens over HTTP and in connection_init, expiry, keys and algorithms,
origins. Nobody without a valid token gets anything but UNAUTHENTICATED (HTTP) or 4403 (WS)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import pytest
import websockets
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pydantic import ValidationError

from settings import Settings
from tests.conftest import stack_env
from tests.support.auth import SECRET, token
from tests.support.gql import GraphQLErrors, connection_init, execute, metric
from tests.support.processes import Api, start_api

ME = "{ me { id plan name email } }"


@pytest.fixture(scope="module")
async def strict_api(redis_server, workdir) -> AsyncIterator[Api]:
    """An API that checks issuer and audience, and lets one foreign origin open WebSockets."""
    env = {
        **stack_env(redis_server.url, "t-auth"),
        "JWT_ISSUER": "https://id.example",
        "JWT_AUDIENCE": "cvimprover",
        "ALLOWED_ORIGINS": "https://app.example",
        # Sockets close at exp plus the leeway (as HTTP refuses then): short, so expiry is quick.
        "JWT_LEEWAY_SECONDS": "1",
    }
    api = await start_api("t-auth-api", env, workdir)
    yield api
    await api.proc.stop()


def _strict(user: str = "alice", **claims) -> str:
    return token(user, iss="https://id.example", aud="cvimprover", **claims)


async def _codes(url: str, bearer: str) -> list[str]:
    with pytest.raises(GraphQLErrors) as error:
        await execute(url, ME, token=bearer)
    return error.value.codes


async def test_a_valid_token_names_the_caller(strict_api):
    me = await execute(
        strict_api.http_url, ME, token=_strict("alice", plan="Pro", name="Alice", email="a@x.io")
    )
    assert me["me"] == {"id": "alice", "plan": "PRO", "name": "Alice", "email": "a@x.io"}
    without_plan = jwt.encode(
        {"sub": "bob", "exp": int(time.time()) + 60, "iss": "https://id.example", "aud": "cvimprover"}, SECRET
    )
    assert (await execute(strict_api.http_url, ME, token=without_plan))["me"]["plan"] == "FREE"


async def test_claims_of_the_wrong_shape_name_nobody_or_are_ignored(strict_api):
    for blank in ("", "   "):
        with pytest.raises(GraphQLErrors) as refused:
            await execute(strict_api.http_url, ME, token=_strict(blank))
        assert refused.value.codes == ["UNAUTHENTICATED"] and "sub" in refused.value.errors[0]["message"]
    odd = _strict("carol", name=42, email={"a": 1})
    me = (await execute(strict_api.http_url, ME, token=odd))["me"]
    assert (me["id"], me["name"], me["email"]) == ("carol", None, None)


@pytest.mark.parametrize(
    ("bearer", "reason"),
    [
        ("", "send a token"),
        (_strict(ttl=-120), "expired"),
        (
            token(
                "alice",
                secret="another-secret-entirely-0123456789",
                iss="https://id.example",
                aud="cvimprover",
            ),
            "not valid",
        ),
        (token("alice", iss="https://id.example", aud="someone-else"), "Audience"),
        (token("alice", iss="https://other.example", aud="cvimprover"), "issuer"),
        (jwt.encode({"sub": "alice", "iss": "https://id.example", "aud": "cvimprover"}, SECRET), "exp"),
        ("not-a-jwt", "not valid"),
    ],
    ids=["missing", "expired", "wrongly-signed", "wrong-audience", "wrong-issuer", "no-expiry", "garbage"],
)
async def test_invalid_tokens_over_http_are_unauthenticated(strict_api, bearer, reason):
    with pytest.raises(GraphQLErrors) as error:
        await execute(strict_api.http_url, ME, token=bearer)
    assert error.value.codes == ["UNAUTHENTICATED"]
    assert reason in error.value.errors[0]["message"]


async def test_refused_tokens_are_counted(strict_api):
    before = await metric(f"http://127.0.0.1:{strict_api.port}", "cvi_tokens_refused_total")
    for bearer in ("", "garbage"):
        with pytest.raises(GraphQLErrors):
            await execute(strict_api.http_url, ME, token=bearer)
    assert await metric(f"http://127.0.0.1:{strict_api.port}", "cvi_tokens_refused_total") == before + 2


async def test_cookies_never_authenticate(strict_api):
    cookies = {"Authorization": f"Bearer {_strict()}", "token": _strict()}
    async with httpx.AsyncClient(cookies=cookies) as client:
        body = (await client.post(strict_api.http_url, json={"query": ME})).json()
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def _ws_close(
    url: str, payload: dict[str, str], **connect: Any
) -> websockets.exceptions.ConnectionClosed:
    async with websockets.connect(url, subprotocols=["graphql-transport-ws"], **connect) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
        with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 10)
    return closed.value


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"authorization": "Bearer not-a-jwt"},
        {"authorization": f"Bearer {_strict(ttl=-120)}"},
        {"Authorization": f"Bearer {token('alice', iss='https://id.example', aud='someone-else')}"},
        {"authorization": f"Bearer {token('a', secret='another-secret-entirely-0123456789')}"},
    ],
    ids=["missing", "garbage", "expired", "wrong-audience", "wrongly-signed"],
)
async def test_invalid_tokens_over_websocket_close_with_4403(strict_api, payload):
    closed = await _ws_close(strict_api.ws_url, payload)
    assert closed.rcvd is not None and closed.rcvd.code == 4403


async def test_both_spellings_of_the_websocket_token_are_accepted(strict_api):
    for name in ("authorization", "Authorization"):
        async with websockets.connect(strict_api.ws_url, subprotocols=["graphql-transport-ws"]) as ws:
            await ws.send(json.dumps({"type": "connection_init", "payload": {name: f"Bearer {_strict()}"}}))
            assert json.loads(await ws.recv())["type"] == "connection_ack"


async def test_a_socket_closes_when_its_token_expires(strict_api):
    async with websockets.connect(strict_api.ws_url, subprotocols=["graphql-transport-ws"]) as ws:
        await ws.send(connection_init(_strict(ttl=5)))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        started = time.monotonic()
        with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 15)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
    assert closed.value.rcvd.reason == "token expired" and time.monotonic() - started < 10


async def test_websockets_from_a_foreign_origin_are_refused(strict_api):
    with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
        async with websockets.connect(
            strict_api.ws_url, subprotocols=["graphql-transport-ws"], origin="https://evil.example"
        ):
            pass  # pragma: no cover
    assert refused.value.response.status_code == 403
    for origin in ("https://app.example", f"http://127.0.0.1:{strict_api.port}"):
        async with websockets.connect(
            strict_api.ws_url, subprotocols=["graphql-transport-ws"], origin=origin
        ) as ws:
            await ws.send(connection_init(_strict()))
            assert json.loads(await ws.recv())["type"] == "connection_ack"


@pytest.mark.parametrize("algorithm", ["ES256", "RS256"])
async def test_public_keys_verify_their_algorithm_and_refuse_hs256(redis_server, workdir, algorithm):
    private: Any = (
        ec.generate_private_key(ec.SECP256R1())
        if algorithm == "ES256"
        else rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    env = {**stack_env(redis_server.url, "t-auth-pk"), "JWT_PUBLIC_KEY": public_pem.decode()}
    env.pop("JWT_SECRET")
    api = await start_api(f"t-auth-{algorithm.lower()}-api", env, workdir)
    try:
        signed = jwt.encode(
            {"sub": "erin", "plan": "Basic", "exp": int(time.time()) + 60}, private, algorithm
        )
        assert (await execute(api.http_url, ME, token=signed))["me"]["plan"] == "BASIC"
        # Algorithm confusion: an HS256 token keyed with the (public) PEM must not pass.
        forged = _hs256({"sub": "erin", "plan": "Premium", "exp": int(time.time()) + 60}, public_pem)
        assert await _codes(api.http_url, forged) == ["UNAUTHENTICATED"]
        assert await _codes(api.http_url, token("erin")) == ["UNAUTHENTICATED"]
    finally:
        await api.proc.stop()


def _hs256(claims: dict[str, Any], key: bytes) -> str:
    """Signed by hand: PyJWT itself refuses to use a PEM key as an HMAC secret."""

    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    head = part(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()) + "." + part(json.dumps(claims).encode())
    return head + "." + part(hmac.new(key, head.encode(), hashlib.sha256).digest())


def test_auth_cannot_be_disabled_in_production():
    with pytest.raises(ValidationError, match="AUTH_DISABLED"):
        Settings(env="production", auth_disabled=True, jwt_secret="s", _env_file=None)
    with pytest.raises(ValidationError, match="JWT_SECRET or JWT_PUBLIC_KEY"):
        Settings(env="production", _env_file=None)
    assert Settings(env="development", auth_disabled=True, _env_file=None).auth_disabled


async def test_auth_disabled_makes_every_tokenless_caller_the_developer(redis_server, workdir):
    api = await start_api(
        "t-auth-off-api", {**stack_env(redis_server.url, "t-auth-off"), "AUTH_DISABLED": "true"}, workdir
    )
    try:
        assert (await execute(api.http_url, ME, token=""))["me"]["id"] == "dev"
    finally:
        await api.proc.stop()
