"""deleteMyData (issue 12, point 2): two users with a full history; one erases; a SCAN finds not
one key of theirs (quota counters aside) and every key of the other."""

from __future__ import annotations

from tests.support.auth import Caller
from tests.support.flows import everything
from tests.support.gql import execute


async def _keys(redis, prefix: str) -> set[str]:
    return {k.decode() async for k in redis.scan_iter(f"{prefix}:*")}


def _theirs(keys: set[str], owner: str, ids: list[str]) -> set[str]:
    return {k for k in keys if owner in k or any(i in k for i in ids)}


async def test_erasing_one_user_leaves_nothing_of_theirs_and_all_of_the_other(
    offline_stack, redis, own_caller
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
