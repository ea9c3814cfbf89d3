"""Stored bytes of uploaded CVs, counted per user against the plan's STORAGE quota.

The counter (the key of the STORAGE quota's only window, so `rateLimitStatus` reads it like any
other) holds the bytes of the user's upload files that exist. An upload's size is charged by the
script that creates its job (a refused upload touches no counter), counting as already given
back the file it replaces; every deletion of a file
goes through DROP_LUA, which gives back the bytes of what it deleted and nothing if the file
was already gone, so a file deleted twice (a failed extraction racing a newer upload, say) is
given back once.
"""

from __future__ import annotations

from functools import partial

from jobs.core.errors import RateLimited
from jobs.core.names import Keys
from jobs.core.quotas import FOREVER_WINDOW, QUOTAS, Charge, Plan, Scope, upgrade_hint

# KEYS: counter. ARGV: bytes reserved for a file that was then not stored.
RELEASE_LUA = """
if redis.call('DECRBY', KEYS[1], tonumber(ARGV[1])) < 0 then redis.call('SET', KEYS[1], 0) end
"""

# KEYS: the file, counter.
DROP_LUA = """
local size = redis.call('STRLEN', KEYS[1])
if size == 0 then return 0 end
redis.call('DEL', KEYS[1])
if redis.call('DECRBY', KEYS[2], size) < 0 then redis.call('SET', KEYS[2], 0) end
return size
"""


# Deletes an upload (record and file), giving its file's bytes back. KEYS[2]: the counter;
# ARGV[2]: the prefix of upload records.
_DROP = """
local function drop(id, prefix)
  local record = prefix .. id
  redis.call('DEL', record)
  local size = redis.call('STRLEN', record .. ':file')
  if size > 0 then
    redis.call('DEL', record .. ':file')
    if redis.call('DECRBY', KEYS[2], size) < 0 then redis.call('SET', KEYS[2], 0) end
  end
end
"""

# KEYS: the questionnaire, the counter. ARGV: the new upload's id, the prefix of upload records.
# Makes the new upload the questionnaire's CV and deletes the one it replaces, reading which one
# that is in the same step: two uploads racing to one questionnaire each replace the CV they
# really replace, and no file is left unreachable (and counted). A questionnaire deleted
# meanwhile takes the new upload with it.
ATTACH_LUA = _DROP + """
if redis.call('EXISTS', KEYS[1]) == 0 then
  drop(ARGV[1], ARGV[2])
  return 0
end
local previous = redis.call('HGET', KEYS[1], 'resume_id')
redis.call('HSET', KEYS[1], 'resume_id', ARGV[1])
if previous and previous ~= '' and previous ~= ARGV[1] then drop(previous, ARGV[2]) end
return 1
"""

def counter_key(keys: Keys, owner: str) -> str:
    return keys.quota(Scope.STORAGE.value, owner, FOREVER_WINDOW)


def limit(plan: Plan) -> int:
    return QUOTAS[Scope.STORAGE].limits[plan]


def charge(keys: Keys, owner: str, plan: Plan, size: int, replacing: str | None) -> Charge:
    """The upload's bytes, charged by the script that creates its EXTRACT_RESUME job; the file of
    the upload `replacing` (deleted when this one is stored) counts as already given back."""
    return Charge(
        key=counter_key(keys, owner),
        limit=limit(plan),
        amount=size,
        expire_at=None,
        refusal=partial(_refusal, plan, size),
        credit_key=keys.resume_file(replacing) if replacing else None,
    )


def _refusal(plan: Plan, size: int, used: int) -> RateLimited:
    cap = limit(plan)
    return RateLimited(
        f"the {plan.value} plan stores up to {cap} bytes of uploaded CVs; {used} are in use and this "
        f"file has {size}: delete a questionnaire you no longer need, or upgrade",
        scope=Scope.STORAGE.value,
        limit=cap,
        used=used,
        remaining=max(0, cap - used),
        requested=size,
        resetAt=None,
        currentPlan=plan.value,
        upgrade=upgrade_hint(Scope.STORAGE, plan),
    )
