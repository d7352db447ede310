"""The Lua scripts of the Redis backend (see the ``backends.redis`` package docstring for the key layout they work on).

Each script touches only the keys it is given, and on a cluster all of them hash to one slot.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

__all__ = ["Script", "QUERY", "GET_MANY", "READ_VERSIONED", "WRITE", "SYNC_INDEX", "TOUCH", "HOLD", "DELETE_IF", "READ_LOG", "FORGET_LOGS", "ALL"]


@dataclass(frozen=True)
class Script:
    """A script's text and the SHA1 that EVALSHA names it by."""

    name: str
    text: str
    sha: str = field(init=False)
    head: bytes = field(init=False, repr=False)
    """``EVALSHA <sha>`` as RESP bulk strings: a call's constant start, packed once (backends.redis.resp)."""

    def __post_init__(self) -> None:
        sha = hashlib.sha1(self.text.encode()).hexdigest()
        object.__setattr__(self, "sha", sha)
        object.__setattr__(self, "head", b"$7\r\nEVALSHA\r\n$40\r\n%s\r\n" % sha.encode())


# One ordered range read of a partition: KEYS zset, hash; ARGV min, max, reverse ('1'/'0'), limit.
# Returns sk1, value1, sk2, value2, ...
QUERY = Script(
    "query",
    """
local sks
if ARGV[3] == '1' then
  sks = redis.call('ZREVRANGEBYLEX', KEYS[1], ARGV[2], ARGV[1], 'LIMIT', 0, tonumber(ARGV[4]))
else
  sks = redis.call('ZRANGEBYLEX', KEYS[1], ARGV[1], ARGV[2], 'LIMIT', 0, tonumber(ARGV[4]))
end
local out = {}
for i, sk in ipairs(sks) do
  out[2 * i - 1] = sk
  out[2 * i] = redis.call('HGET', KEYS[2], sk)
end
return out
""",
)

# Several values at one instant: KEYS one hash per key (repeats allowed), ARGV the sort keys.
GET_MANY = Script(
    "get_many",
    """
local out = {}
for i = 1, #KEYS do
  out[i] = redis.call('HGET', KEYS[i], ARGV[i])
end
return out
""",
)

# Cluster snapshot read of one partition: KEYS hash, version, lock; ARGV sort keys.
# Returns version (or false), lock held (0/1), then the values.
READ_VERSIONED = Script(
    "read_versioned",
    """
local out = {redis.call('GET', KEYS[2]), redis.call('EXISTS', KEYS[3])}
for i = 1, #ARGV do
  out[i + 2] = redis.call('HGET', KEYS[1], ARGV[i])
end
return out
""",
)

# The write half of the atomic unit: compare every key with the value apply saw, then write.
# KEYS, per partition j: zset, hash, lock, then in standalone mode the table's partition index (stride 4,
#   and the tables hash last), in cluster mode the partition's version and index-pending keys (stride 5).
# ARGV: mode ('s'|'c'), lock token ('' = hold no lock, and none may be held by others),
#   ntables, table names..., nparts, index members..., nitems, then 6 per item:
#   partition j, sk, expect mode ('n' absent | 'v' value | 'h' sha1 hex | 'a' any: a blind write, whose
#   current value is returned), expected, op ('k'|'d'|'p'), value,
#   then nlogs and 2 per change-log record: log number l, record. Log keys follow the partitions' keys
#   (before the tables hash): standalone 2 per log (the table's sequence counter, its log zset), cluster 1
#   (the partition's log zset). A record is stored as member "seq:record" with score seq.
# Returns {'ok', [the current value (nil: absent) of each 'a' item, in order], [j, version, nonempty,
#   pending] per partition the index must hear about (cluster mode:
#   its emptiness changed now, or an earlier change's report is still pending)} or
#   {'missing', table} | {'locked'} | {'lost'} | {'conflict'}, having written nothing.
WRITE = Script(
    "write",
    """
local mode, token = ARGV[1], ARGV[2]
local stride = 4
if mode == 'c' then stride = 5 end
local function key(j, k) return KEYS[stride * (j - 1) + k] end
-- A cross-slot transaction's group (cluster, a lock token) marks itself applied in its slot: the KEYS end
-- with that mark. A replay of a committed intent (backends/redis/intents.py) that finds it is a no-op.
local applied = nil
if mode == 'c' and token ~= '' then
  applied = KEYS[#KEYS]
  if redis.call('GET', applied) == token then return {'ok'} end
end
local a = 3
local nt = tonumber(ARGV[a])
a = a + 1
if mode == 's' then
  for i = 0, nt - 1 do
    if redis.call('HEXISTS', KEYS[#KEYS], ARGV[a + i]) == 0 then return {'missing', ARGV[a + i]} end
  end
end
a = a + nt
local np = tonumber(ARGV[a])
a = a + 1
local members = {}
for j = 1, np do
  members[j] = ARGV[a]
  a = a + 1
end
for j = 1, np do
  local owner = redis.call('GET', key(j, 3))
  if token == '' then
    if owner then return {'locked'} end
  elseif owner ~= token then
    return {'lost'}
  end
end
local ni = tonumber(ARGV[a])
a = a + 1
local out = {'ok'}
for i = 0, ni - 1 do
  local o = a + 6 * i
  local j = tonumber(ARGV[o])
  local cur = redis.call('HGET', key(j, 2), ARGV[o + 1])
  local m = ARGV[o + 2]
  local same
  if m == 'a' then
    same = true
    out[#out + 1] = cur
  elseif m == 'n' then
    same = not cur
  elseif not cur then
    same = false
  elseif m == 'v' then
    same = cur == ARGV[o + 3]
  else
    same = redis.sha1hex(cur) == ARGV[o + 3]
  end
  if not same then return {'conflict'} end
end
local before, touched = {}, {}
for i = 0, ni - 1 do
  local o = a + 6 * i
  local op = ARGV[o + 4]
  if op ~= 'k' then
    local j = tonumber(ARGV[o])
    if not touched[j] then
      touched[j] = true
      before[j] = redis.call('EXISTS', key(j, 1))
    end
    if op == 'p' then
      redis.call('HSET', key(j, 2), ARGV[o + 1], ARGV[o + 5])
      redis.call('ZADD', key(j, 1), 0, ARGV[o + 1])
    else
      redis.call('HDEL', key(j, 2), ARGV[o + 1])
      redis.call('ZREM', key(j, 1), ARGV[o + 1])
    end
  end
end
local now
for j = 1, np do
  if touched[j] then
    local after = redis.call('EXISTS', key(j, 1))
    if mode == 's' then
      if after ~= before[j] then
        if after == 1 then
          redis.call('ZADD', key(j, 4), 0, members[j])
        else
          redis.call('ZREM', key(j, 4), members[j])
        end
      end
    else
      if not now then
        local t = redis.call('TIME')
        now = tonumber(t[1]) * 1000000 + tonumber(t[2])
      end
      local v = tonumber(redis.call('GET', key(j, 4)) or '0') + 1
      if now > v then v = now end
      local vs = string.format('%.0f', v)
      redis.call('SET', key(j, 4), vs)
      if after == 0 then redis.call('PEXPIRE', key(j, 4), 86400000) end
      -- The pending mark stays until a writer has reported to the index and cleared it, so a report
      -- lost with its writer (crash, lost reply) is made by the partition's next writer.
      local pending
      if after ~= before[j] then
        pending = vs
        redis.call('SET', key(j, 5), vs)
      else
        pending = redis.call('GET', key(j, 5))
      end
      if pending then
        out[#out + 1] = j
        out[#out + 1] = vs
        out[#out + 1] = after
        out[#out + 1] = pending
      end
    end
  end
end
local b = a + 6 * ni
local nl = tonumber(ARGV[b])
local base = stride * np
for i = 0, nl - 1 do
  local l = tonumber(ARGV[b + 1 + 2 * i])
  local rec = ARGV[b + 2 + 2 * i]
  if mode == 's' then
    local seq = redis.call('INCR', KEYS[base + 2 * l - 1])
    redis.call('ZADD', KEYS[base + 2 * l], seq, string.format('%d', seq) .. ':' .. rec)
  else
    local log = KEYS[base + l]
    if not now then
      local t = redis.call('TIME')
      now = tonumber(t[1]) * 1000000 + tonumber(t[2])
    end
    local seq = now
    local top = redis.call('ZRANGE', log, -1, -1, 'WITHSCORES')
    if top[2] and tonumber(top[2]) + 1 > seq then seq = tonumber(top[2]) + 1 end
    redis.call('ZADD', log, seq, string.format('%.0f', seq) .. ':' .. rec)
  end
end
if applied then redis.call('SET', applied, token, 'EX', 86400) end
return out
""",
)

# Cluster: bring a table's partition index in line with one partition's state at a version.
# KEYS index zset, index versions hash; ARGV member, version, nonempty ('1'/'0'). A report older than
# the newest one applied is ignored, so reports arriving out of order cannot drop a live partition.
SYNC_INDEX = Script(
    "sync_index",
    """
local cur = redis.call('HGET', KEYS[2], ARGV[1])
if cur and tonumber(cur) >= tonumber(ARGV[2]) then return 0 end
if ARGV[3] == '1' then
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
  redis.call('ZADD', KEYS[1], 0, ARGV[1])
else
  redis.call('HDEL', KEYS[2], ARGV[1])
  redis.call('ZREM', KEYS[1], ARGV[1])
end
return 1
""",
)

# Cluster: a fresh version for a partition found empty (to drop it from the index); KEYS zset, version.
# Returns the version, or false if the partition is not empty.
TOUCH = Script(
    "touch",
    """
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
local t = redis.call('TIME')
local v = tonumber(redis.call('GET', KEYS[2]) or '0') + 1
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
if now > v then v = now end
local vs = string.format('%.0f', v)
redis.call('SET', KEYS[2], vs, 'PX', 86400000)
return vs
""",
)

# Cluster, cross-slot transactions: make a unit's locks of one slot outlive their lease, once it is about to
# commit (KEYS the locks; ARGV token). Returns 1, or 0 (holding nothing new) if any is no longer the token's.
HOLD = Script(
    "hold",
    """
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) ~= ARGV[1] then return 0 end
end
for i = 1, #KEYS do redis.call('PERSIST', KEYS[i]) end
return 1
""",
)

# Delete a key only if it still holds a value: a lock by its owner token, a pending mark by its version.
DELETE_IF = Script(
    "delete_if",
    """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
""",
)

# A page of a change log: KEYS log zset; ARGV exclusive minimum sequence, inclusive maximum ('+inf' or a
# number), limit. Returns the members ("seq:record") in sequence order.
READ_LOG = Script(
    "read_log",
    """
return redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[1], ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
""",
)

# Cluster: drop partitions from a table's log registry if they registered before a cutoff; KEYS registry;
# ARGV cutoff, then partition keys. A writer re-registers (a fresh score) before it logs, so a partition
# that logs again meanwhile keeps its entry. Returns how many went.
FORGET_LOGS = Script(
    "forget_logs",
    """
local gone = 0
for i = 2, #ARGV do
  local score = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if score and tonumber(score) < tonumber(ARGV[1]) then
    gone = gone + redis.call('ZREM', KEYS[1], ARGV[i])
  end
end
return gone
""",
)

ALL = (QUERY, GET_MANY, READ_VERSIONED, WRITE, SYNC_INDEX, TOUCH, HOLD, DELETE_IF, READ_LOG, FORGET_LOGS)
