"""Redis storage, standalone or Redis Cluster, on redis.asyncio.

Modules: ``layout`` (key naming and the unit plan), ``driver`` (connections, script calls, error
translation), ``locks`` (this process's key locks and the cross-process partition locks), ``index`` (the
cluster-mode partition index), ``changelog`` (the change log: script arguments, cluster registry, reads and
trims), ``scripts`` (the Lua), ``storage`` (the ``Storage`` contract).

Options (``configs/redis.toml`` / ``configs/redis-cluster.toml`` ``[backend]`` keys, passed as they are):
``url`` (standalone; default ``redis://127.0.0.1:6379/0``), ``cluster_nodes`` (a list of ``"host:port"``
startup nodes; given, the backend runs in cluster mode and ignores ``url``), ``prefix`` (``"accel"``; every
key starts with it, so one Redis can hold several deployments), ``pool_size`` (32 connections; per node on a
cluster), ``socket_timeout`` (5 s), ``connect_timeout`` (2 s), ``lock_lease`` (5 s), ``lock_wait`` (10 s),
``driver_retries`` (0: redis-py never re-sends a command after a connection error -- a WRITE script whose
reply was lost would otherwise run twice, and its unit with it), ``retry`` (a ``RetryPolicy`` or a table of its
fields: write conflicts before a unit escalates to locking).

Layout (P = prefix, T = table name, H = the pk in hex). All keys of one partition share the hash tag
``{T:H}``, so on a cluster they live in one slot and a script may touch them together:
    P:tables          hash   table name -> TableDef bytes
    P:{T:H}:s         zset   the partition's sort keys, all scores 0: ZRANGEBYLEX is memcmp order
    P:{T:H}:v         hash   sort key -> item bytes
    P:{T:H}:l         string lock owner token (cross-slot transactions on a cluster; escalated retries)
    P:{T:H}:a         string cluster: the last cross-slot transaction applied here (its replays are no-ops)
    P:{txn:TOKEN}     string cluster: a cross-slot transaction's intent (every per-slot write), or "aborted"
    P:{T:H}:n         string partition version, bumped by every write (cluster mode only)
    P:{T:H}:x         string index report pending since this version (cluster mode only)
    P:{T}:parts       zset   the table's non-empty partitions, member = 4-byte big-endian
                             partition_hash(pk) + pk, scores 0: lex order is the scan order (hash, pk)
    P:{T}:pv          hash   member -> version of the last index update (cluster mode only)
    P:{T}:log         zset   standalone: the table's change log, score = sequence, member = "seq:record"
    P:{T}:lseq        string standalone: the table's last log sequence (INCR in the WRITE script)
    P:{T:H}:g         zset   cluster: the partition's change log, score = hybrid-clock µs
    P:{T}:lp          zset   cluster: partitions that have logged (registered before their first log write)
A Query is one script: ZRANGEBYLEX (or ZREVRANGEBYLEX) with LIMIT plus an HGET per hit, one round trip,
atomic. A Scan walks ``P:{T}:parts`` from the segment's first hash and queries partitions in pipelined
batches, so it reads in (partition_hash(pk), pk, sk) order; like DynamoDB's, it is not a snapshot.

The atomic unit is optimistic: read the keys (one pipelined round trip), run ``apply``, then one WRITE
script compares every key with the value ``apply`` saw (values over 64 bytes by SHA1) and, only if all
match and no other owner holds a partition lock, writes; else it retries. ``apply`` may therefore run more
than once. Units of one process on the same key queue on a local asyncio lock first, so only units of
other processes can conflict; after ``retry.max_attempts`` conflicts a unit escalates to the lock protocol
below, which makes progress under any contention.

Index consistency. Standalone: the WRITE script updates ``P:{T}:parts`` in the same script whenever a
partition becomes empty or non-empty, atomically. Cluster: the index lives in another slot, so when a
partition's emptiness changes the script bumps its version, marks ``P:{T:H}:x`` pending and returns the
version; the writer runs SYNC_INDEX on the index slot, then clears the mark (if unchanged), and only then
acknowledges (two extra round trips, on empty/non-empty changes only). SYNC_INDEX ignores a report older
than the last one applied (``P:{T}:pv``), so reports arriving out of order cannot drop a live partition; a
stale "non-empty" report can only leave an empty partition in the index, which scans skip and repair
(TOUCH + SYNC_INDEX). A report lost with its writer (a crash, or a reply lost after the script ran)
leaves the mark set, and the partition's next writer reports for it; until then scans miss that
partition, whose write was never acknowledged.

The change log (``accelerator.core.changelog``) is appended by the same WRITE script as the items, so a
record exists exactly when its write does. Standalone: one counter and log per table. Cluster: a log per
partition in the partition's slot, scored by a hybrid clock (the Redis server's µs, or the log's last
value + 1; ``read_log`` numbers records ``µs * 1024 + rank``, as partitions can share a µs); a partition is added to ``P:{T}:lp`` before its first logged write (idempotent, so a crash
between leaves only an empty entry) and ``read_log`` merges the registered partitions' logs.

Transactions whose keys span slots on a cluster are done, not refused: a per-partition lock protocol.
The unit takes ``P:{T:H}:l`` (SET NX PX ``lock_lease``, a random owner token) for each partition in
sorted key order, so lockers cannot deadlock; then reads, runs ``apply`` and, if less than half the lease
has passed, sends one WRITE per slot (each checks it still owns its locks), then deletes its locks by
token. Every optimistic WRITE refuses while another owner holds a lock of its partitions, and a
cross-slot get_many reads each partition's version and lock twice and accepts only an unchanged,
unlocked pair, so a snapshot read never sees half of such a transaction (get, query and scan read each
item as committed, as DynamoDB's GetItem/Query/Scan do). Before its first per-slot write a cross-slot unit
makes its locks outlive their lease and writes an intent holding every per-slot write (``intents``): a
process that dies or stalls past its lease after that is finished by the next reader or writer of its
partitions (after one lease), and one that died before it leaves locks that they free; such a transaction
is all-or-nothing across crashes. A DeleteTable racing a write on a cluster
can leave that write's items behind (the table registry is in another slot); standalone checks the
table inside the WRITE script.

Durability is Redis's: with ``appendonly yes`` and ``appendfsync always`` an acknowledged write survives
a crash of Redis or of the machine (the fault tests run so); ``everysec`` (the default once AOF is on) can
lose the last 1-2 s of acknowledged writes on a power loss or kernel crash, and on a Redis crash only
while a slow disk makes Redis postpone its AOF writes; ``appendfsync no`` leaves flushing to the OS
(typically up to 30 s at risk); without AOF (RDB snapshots only, or ``--save ""``) a restart loses every
write since the last snapshot. On a cluster, replication is asynchronous: a failover may
lose acknowledged writes.

Errors: redis-py errors, OSError and timeouts become ``BackendUnavailable``; the clients reconnect by
themselves once the server is back (and scripts are reloaded after a restart: NOSCRIPT is handled).
"""

from __future__ import annotations

from backends.redis.driver import DEFAULT_URL
from backends.redis.storage import RedisClusterStorage, RedisStorage

__all__ = ["RedisStorage", "RedisClusterStorage", "DEFAULT_URL"]
