"""deleteMyData (issue 12, point 2): two users with a full history; one erases; a SCAN finds not
one key of theirs (quota counters aside) and every key of the other."""

from __future__ import annotations

import asyncio
import contextlib
import json

import websockets

from jobs.core.names import Keys
from tests.samples import CV
from tests.support.auth import Caller, token
from tests.support.fake_openai import Stream
from tests.support.flows import everything
from tests.support.gql import connection_init, execute, improve_cv


async def _keys(redis, prefix: str) -> set[str]:
    return {k.decode() async for k in redis.scan_iter(f"{prefix}:*")}


def _theirs(keys: set[str], owner: str, ids: list[str]) -> set[str]:
    return {k for k in keys if owner in k or any(i in k for i in ids)}


async def test_erasing_one_user_leaves_nothing_of_theirs_and_all_of_the_other(
    offline_stack, redis, redis_server, own_caller
):
    p = offline_stack.prefix
    other = "o-" + own_caller.removeprefix("u-")
    Caller.become(other)
    kept = await everything(offline_stack)
    Caller.become(own_caller)
    erased = await everything(offline_stack)
    jobs = [j.decode() for j in await redis.smembers(f"{p}:user:{own_caller}:jobs")]
    ids = [erased["questionnaire"], erased["resume"], erased["response"], erased["pdf"]["id"]]
    ids.append(erased["analysis"])
    before = await _keys(redis, p)
    other_keys = _theirs(before, other, [kept["questionnaire"], kept["resume"], kept["response"]])
    assert _theirs(before, own_caller, ids + jobs)

    assert (await execute(offline_stack.http, "mutation { deleteMyData }"))["deleteMyData"] == len(jobs)

    after = await _keys(redis, p)
    left = {k for k in _theirs(after, own_caller, ids + jobs) if not k.startswith(f"{p}:quota:")}
    assert left == set()
    assert other_keys <= after
    # Their quota counters stay (numbers only) until they expire.
    assert not await redis.hgetall(f"{p}:job:{jobs[0]}")
    # In development the erasure has Redis rewrite its append-only file: the erased objects leave
    # the disk too, and the other user's stay.
    for _ in range(400):  # a background rewrite: probed until Redis says it is over
        state = await redis.info("persistence")
        if not state["aof_rewrite_in_progress"] and not state["aof_rewrite_scheduled"]:
            break
        await asyncio.sleep(0.05)
    aof = (redis_server.data_dir / "appendonly.aof").read_bytes()
    assert [i for i in ids + jobs if i.encode() in aof] == []
    assert kept["questionnaire"].encode() in aof


async def test_erasing_closes_the_users_sockets_and_fences_their_running_job(
    ai_stack, fake_openai, redis, own_caller
):
    """Their sockets close (4403) on every replica while the other user's stay open; a job of theirs
    still running when the data goes writes nothing back once its worker goes on."""
    p = ai_stack.prefix
    other = "o-" + own_caller.removeprefix("u-")
    # Paced as a model writes: the worker's next write after the gate opens is refused mid-stream.
    stream = Stream("A rewritten line of the CV.\n" * 200, chunk=30, pause_after=3, interval=0.01)
    job = await improve_cv(ai_stack.http, f"{CV}\n{fake_openai.script('erase-running', stream)}")
    replica = await ai_stack.add_api("erase-replica")
    async with contextlib.AsyncExitStack() as cleanup:
        # The shared stack keeps one API: others count its listener connections.
        cleanup.push_async_callback(_remove, ai_stack, replica)
        await _erase_with_sockets_open(ai_stack, replica, stream, own_caller, other, redis)
    stream.gate.set()  # the worker goes on with a job whose data is gone
    await fake_openai.wait_abandoned("erase-running")  # it noticed, and stopped reading
    left = [k.decode() async for k in redis.scan_iter(f"{p}:*") if job["id"] in k.decode()]
    assert left == []
    assert await redis.zscore(f"{p}:finished", job["id"]) is None
    assert await redis.zscore(f"{p}:leases", job["id"]) is None


async def _remove(stack, api) -> None:
    stack.extra_apis.remove(api)
    await api.proc.stop()


async def _erase_with_sockets_open(ai_stack, replica, stream, own_caller: str, other: str, redis) -> None:
    async with (
        websockets.connect(ai_stack.ws, subprotocols=["graphql-transport-ws"]) as mine,
        websockets.connect(replica.ws_url, subprotocols=["graphql-transport-ws"]) as mine_elsewhere,
        websockets.connect(ai_stack.ws, subprotocols=["graphql-transport-ws"]) as theirs,
    ):
        for ws, user in ((mine, own_caller), (mine_elsewhere, own_caller), (theirs, other)):
            await ws.send(connection_init(token(user)))
            assert json.loads(await ws.recv())["type"] == "connection_ack"
        await stream.started.wait()  # the worker is reading the model's answer, paused
        # A socket's watch of its user's erasure is subscribed in the background after the ack:
        # both API processes must have it before the erasure is published.
        await _until_subscribed(redis, Keys(ai_stack.prefix).user_erased_channel(own_caller), 2)

        assert (await execute(ai_stack.http, "mutation { deleteMyData }"))["deleteMyData"] == 1

        for ws in (mine, mine_elsewhere):
            assert await _close_of(ws) == (4403, "your data was erased (deleteMyData)")
        await theirs.send(json.dumps({"type": "ping"}))
        assert json.loads(await theirs.recv()) == {"type": "pong"}


async def _until_subscribed(redis, channel: str, connections: int) -> None:
    for _ in range(500):
        [(_, subscribed)] = await redis.pubsub_numsub(channel)
        if subscribed >= connections:
            return
        await asyncio.sleep(0.01)  # nothing to await from outside: a SUBSCRIBE's effect is probed
    raise AssertionError(f"{channel} has {subscribed} subscribers, not {connections}")


async def _close_of(ws) -> tuple[int, str]:
    """How the server closes `ws`; whatever it sends before is read and let go."""
    while True:
        try:
            await ws.recv()
        except websockets.exceptions.ConnectionClosed as closed:
            assert closed.rcvd is not None, "dropped without a close frame"
            return closed.rcvd.code, closed.rcvd.reason
