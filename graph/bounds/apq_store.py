"""Where automatic persisted queries keep the documents they have seen: Redis, shared by every
API replica, within a bound no client can push (C10).

Anyone may ask us to keep a document, so the store is a cache with a fixed budget, not a
registry: each document is charged its bytes plus OVERHEAD_BYTES (the hash field, the zset
member and Redis's bookkeeping for both), the charges together stay within APQ_MAX_BYTES, and
storing past it drops the least recently used documents first. A document unused for
APQ_TTL_SECONDS goes as well (each use refreshes it). A hostile client can therefore make Redis
hold at most about APQ_MAX_BYTES for all of this deployment's APQ, however many documents it
sends; what it can do is push other clients' documents out, which costs those clients one round
trip (PersistedQueryNotFound, then the full text), never an answer.

Each operation is one Lua script, so replicas storing and looking up at once keep the charge
total exact.
"""

from __future__ import annotations

import time

from redis.asyncio import Redis

from jobs.core.names import Keys

# What one stored document costs Redis beyond its text, measured (tests/test_persisted_documents.py
# prints MEMORY USAGE over the charges): a 64-byte field and member, hash and skiplist entries.
OVERHEAD_BYTES = 256
# The hash field holding the total charge; no sha256 in hex looks like it.
TOTAL_FIELD = "#bytes"

_DROP = """
local function drop(docs, used, hash, overhead)
  local size = redis.call('HSTRLEN', docs, hash)
  if redis.call('HDEL', docs, hash) == 1 then
    redis.call('HINCRBY', docs, '#bytes', -(size + overhead))
  end
  redis.call('ZREM', used, hash)
end
"""

# KEYS: docs, used. ARGV: sha256, now, ttl, overhead. The text, or false; a use refreshes it.
LOOKUP_LUA = (
    _DROP
    + """
local text = redis.call('HGET', KEYS[1], ARGV[1])
if not text then return false end
local last = tonumber(redis.call('ZSCORE', KEYS[2], ARGV[1]) or ARGV[2])
if last < tonumber(ARGV[2]) - tonumber(ARGV[3]) then
  drop(KEYS[1], KEYS[2], ARGV[1], tonumber(ARGV[4]))
  return false
end
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
return text
"""
)

# KEYS: docs, used. ARGV: sha256, text, now, ttl, overhead, budget. Drops what lapsed (a bounded
# batch per call), then stores the text and drops the least recently used documents until the
# charges fit the budget again. 1 stored, 0 already there, -1 larger than the whole budget.
STORE_LUA = (
    _DROP
    + """
local docs, used, hash, text = KEYS[1], KEYS[2], ARGV[1], ARGV[2]
local now, ttl = tonumber(ARGV[3]), tonumber(ARGV[4])
local overhead, budget = tonumber(ARGV[5]), tonumber(ARGV[6])
for _, old in ipairs(redis.call('ZRANGEBYSCORE', used, '-inf', now - ttl, 'LIMIT', 0, 64)) do
  drop(docs, used, old, overhead)
end
if redis.call('HEXISTS', docs, hash) == 1 then
  redis.call('ZADD', used, now, hash)
  return 0
end
local charge = #text + overhead
if charge > budget then return -1 end
redis.call('HSET', docs, hash, text)
redis.call('ZADD', used, now, hash)
local total = redis.call('HINCRBY', docs, '#bytes', charge)
while total > budget do
  local oldest = redis.call('ZRANGE', used, 0, 1)
  local victim = oldest[1]
  if victim == hash then victim = oldest[2] end
  if not victim then break end
  drop(docs, used, victim, overhead)
  total = tonumber(redis.call('HGET', docs, '#bytes'))
end
return 1
"""
)


class ApqStore:
    def __init__(self, redis: Redis, keys: Keys, max_bytes: int, ttl_seconds: float) -> None:
        self._redis = redis
        self._keys = list(keys.persisted_queries())
        self._max_bytes = max_bytes
        self._ttl = ttl_seconds

    async def lookup(self, sha256: str) -> str | None:
        script = self._redis.register_script(LOOKUP_LUA)
        found = await script(keys=self._keys, args=[sha256, time.time(), self._ttl, OVERHEAD_BYTES])
        if found is None:
            return None
        return found.decode() if isinstance(found, bytes) else str(found)

    async def store(self, sha256: str, text: str) -> bool:
        """Keeps `text` under its sha256 (the caller checked that it is one); False when it was
        kept already or is larger than the whole budget."""
        script = self._redis.register_script(STORE_LUA)
        args: list[str | float | int] = [sha256, text, time.time(), self._ttl, OVERHEAD_BYTES]
        args.append(self._max_bytes)
        return int(await script(keys=self._keys, args=args)) == 1
