"""Redis storage, standalone or Redis Cluster, on redis.asyncio.

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
    P:{T:H}:n         string partition version, bumped by every write (cluster mode only)
    P:{T:H}:x         string index report pending since this version (cluster mode only)
    P:{T}:parts       zset   the table's non-empty partitions, member = 4-byte big-endian
                             partition_hash(pk) + pk, scores 0: lex order is the scan order (hash, pk)
    P:{T}:pv          hash   member -> version of the last index update (cluster mode only)
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

Transactions whose keys span slots on a cluster are done, not refused: a per-partition lock protocol.
The unit takes ``P:{T:H}:l`` (SET NX PX ``lock_lease``, a random owner token) for each partition in
sorted key order, so lockers cannot deadlock; then reads, runs ``apply`` and, if less than half the lease
has passed, sends one WRITE per slot (each checks it still owns its locks), then deletes its locks by
token. Every optimistic WRITE refuses while another owner holds a lock of its partitions, and a
cross-slot get_many reads each partition's version and lock twice and accepts only an unchanged,
unlocked pair, so a snapshot read never sees half of such a transaction (get, query and scan read each
item as committed, as DynamoDB's GetItem/Query/Scan do). Limits, for the README's backend table: a process that dies (or stalls past its lease) between the per-slot writes leaves the
transaction partially applied -- there is no commit record to roll it forward -- and its locks block
other writers of those partitions for up to ``lock_lease``. A DeleteTable racing a write on a cluster
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

import asyncio
import contextlib
import hashlib
import os
import re
import secrets
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import redis
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.backoff import ExponentialBackoff
from redis.crc import key_slot
from redis.exceptions import NoScriptError, RedisClusterException, RedisError
from redis.retry import Retry

from accelerator.core.errors import (
    BackendUnavailable,
    InternalServerError,
    ResourceInUseException,
    TransactionConflictException,
    ValidationException,
)
from accelerator.core.keys import partition_hash, segment_bounds
from accelerator.core.protocols import KEEP, ApplyFn, Bound, KeyRef
from accelerator.core.retry import RetryPolicy
from accelerator.core.tables import TableDef
from backends import check_new_values, table_not_found
from backends import redis_scripts as lua
from backends.tasks import enter_task

__all__ = ["RedisStorage", "RedisClusterStorage", "DEFAULT_URL"]

DEFAULT_URL = "redis://127.0.0.1:6379/0"
_PREFIX = re.compile(r"[A-Za-z0-9_.-]{1,64}\Z")  # no ":" (prefixes must not nest), no braces
_TABLE = re.compile(r"[^{}]{1,1024}\Z")  # no braces: a table name sits inside the keys' hash tags
_DRIVER_ERRORS = (RedisError, RedisClusterException, OSError, TimeoutError)
_INLINE_VALUE = 64  # the WRITE script compares values up to this size directly, longer ones by SHA1


@contextlib.contextmanager
def _driver_errors() -> Iterator[None]:
    try:
        yield
    except _DRIVER_ERRORS as exc:
        raise BackendUnavailable(f"redis: {type(exc).__name__}: {exc}") from exc
    except (AttributeError, TypeError) as exc:
        # redis-py's asyncio connections can leak these when the peer closed a socket under them
        # (redis/redis-py#4287; seen here on a cluster pipeline while a node died): still the driver's
        # connection failure, so translated -- but only when raised inside redis-py or asyncio.
        if not _raised_in_driver(exc):
            raise
        raise BackendUnavailable(f"redis: connection lost ({type(exc).__name__}: {exc})") from exc


_DRIVER_DIRS = (os.path.dirname(redis.__file__), os.path.dirname(asyncio.__file__))


def _raised_in_driver(exc: BaseException) -> bool:
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and tb.tb_frame.f_code.co_filename.startswith(_DRIVER_DIRS)


@dataclass(frozen=True, slots=True)
class _Part:
    """The keys of one partition, and of its table's index."""

    table: str
    pk: bytes
    zset: bytes
    hash: bytes
    lock: bytes
    version: bytes
    pending: bytes
    index: bytes
    index_versions: bytes
    member: bytes
    slot: int


@dataclass(slots=True)
class _Plan:
    """A unit's keys grouped by partition and by slot (one group on a standalone server)."""

    refs: list[KeyRef]
    ref_parts: list[_Part]
    groups: list[list[_Part]]


class _LocalLocks:
    """Per-key asyncio locks of this process, taken in sorted order (two units cannot deadlock)."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, bytes, bytes], list[Any]] = {}  # key -> [lock, users]

    @contextlib.asynccontextmanager
    async def hold(self, refs: Sequence[KeyRef]) -> AsyncIterator[None]:
        keys = sorted({(ref.table, ref.pk, ref.sk) for ref in refs})
        entries = []
        for key in keys:
            entry = self._entries.setdefault(key, [asyncio.Lock(), 0])
            entry[1] += 1
            entries.append(entry)
        acquired: list[asyncio.Lock] = []
        try:
            for entry in entries:
                await entry[0].acquire()
                acquired.append(entry[0])
            yield
        finally:
            for lock in reversed(acquired):
                lock.release()
            for key, entry in zip(keys, entries, strict=True):
                entry[1] -= 1
                if entry[1] == 0:
                    del self._entries[key]


def _range(lo: Bound | None, hi: Bound | None, forward: bool, start: bytes | None) -> tuple[bytes, bytes]:
    """ZRANGEBYLEX min and max for [lo, hi] narrowed by an exclusive ``start`` in the read direction."""
    low = b"-" if lo is None else (b"[" if lo.inclusive else b"(") + lo.key
    high = b"+" if hi is None else (b"[" if hi.inclusive else b"(") + hi.key
    if start is not None:
        if forward and (lo is None or start >= lo.key):
            low = b"(" + start
        elif not forward and (hi is None or start <= hi.key):
            high = b"(" + start
    return low, high


def _expect(old: bytes | None) -> tuple[bytes, bytes]:
    if old is None:
        return b"n", b""
    if len(old) <= _INLINE_VALUE:
        return b"v", old
    return b"h", hashlib.sha1(old).hexdigest().encode()


def _parse_node(node: str | Sequence[Any]) -> ClusterNode:
    if isinstance(node, str):
        host, _, port = node.rpartition(":")
        return ClusterNode(host or "127.0.0.1", int(port))
    host, port = tuple(node)
    return ClusterNode(str(host), int(port))


class RedisStorage:
    """The ``Storage`` contract over Redis or Redis Cluster; safe for many processes on one prefix."""

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        cluster_nodes: Sequence[str | Sequence[Any]] | None = None,
        prefix: str = "accel",
        pool_size: int = 32,
        socket_timeout: float = 5.0,
        connect_timeout: float = 2.0,
        lock_lease: float = 5.0,
        lock_wait: float = 10.0,
        driver_retries: int = 0,
        retry: RetryPolicy | Mapping[str, Any] | None = None,
    ) -> None:
        if not _PREFIX.match(prefix):
            raise ValueError(f"prefix must match {_PREFIX.pattern}, not {prefix!r}")
        if pool_size < 1:
            raise ValueError("pool_size must be at least 1")
        self.url = url
        self.cluster_nodes = [_parse_node(n) for n in cluster_nodes] if cluster_nodes else None
        self.prefix = prefix
        self.pool_size = pool_size
        self.socket_timeout = socket_timeout
        self.connect_timeout = connect_timeout
        self.lock_lease = lock_lease
        self.lock_wait = lock_wait
        self.driver_retries = driver_retries
        self.retry = RetryPolicy.of(retry, RetryPolicy(max_attempts=4, base=0.001, cap=0.02))
        # Waiting for a lock or for a cross-slot unit to finish: short jittered waits, bounded by lock_wait.
        self.lock_backoff = RetryPolicy(base=0.001, cap=0.05)
        self._p = prefix.encode()
        self._tables = self._p + b":tables"
        self._client: Any = None
        self._local = _LocalLocks()
        self.stats: Counter[str] = Counter()  # conflicts, escalations, lock_waits, locked_units, ...
        # A cluster client raises instead of waiting when a node's connections run out: bound them here.
        self._slots = asyncio.Semaphore(pool_size)

    @property
    def clustered(self) -> bool:
        return self.cluster_nodes is not None

    # ----- lifecycle

    async def open(self) -> None:
        if self._client is not None:
            return
        await enter_task()
        retry = Retry(ExponentialBackoff(cap=0.1, base=0.01), self.driver_retries)
        common: dict[str, Any] = {
            "socket_timeout": self.socket_timeout,
            "socket_connect_timeout": self.connect_timeout,
            "retry": retry,
        }
        with _driver_errors():
            if self.cluster_nodes is not None:
                client: Any = RedisCluster(
                    startup_nodes=self.cluster_nodes, max_connections=self.pool_size, **common
                )
                try:
                    await client.initialize()
                except BaseException:
                    await client.aclose()
                    raise
            else:
                pool = BlockingConnectionPool.from_url(
                    self.url, max_connections=self.pool_size, timeout=self.socket_timeout, **common
                )
                client = Redis.from_pool(pool)
                try:
                    await client.ping()
                except BaseException:
                    await client.aclose()
                    raise
            self._client = client
            await self._load_scripts()

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(*_DRIVER_ERRORS):
                await client.aclose()

    async def drop(self) -> None:
        """Delete every key under this prefix (tests and teardown; not part of ``Storage``)."""
        client = self._open_client()
        await enter_task()
        with _driver_errors():
            batch: list[bytes] = []
            async for key in client.scan_iter(match=self._p + b":*", count=1000):
                batch.append(key)
                if len(batch) >= 500:
                    await client.delete(*batch)
                    batch = []
            if batch:
                await client.delete(*batch)

    def _open_client(self) -> Any:
        if self._client is None:
            raise BackendUnavailable("redis: storage is not open")
        return self._client

    async def _load_scripts(self) -> None:
        for script in lua.ALL:
            await self._client.script_load(script.text)

    # ----- script calls

    async def _eval(self, script: lua.Script, keys: Sequence[bytes], args: Sequence[Any]) -> Any:
        client = self._open_client()
        with _driver_errors():
            try:
                return await client.evalsha(script.sha, len(keys), *keys, *args)
            except NoScriptError:  # the server restarted or was flushed: EVAL caches it again
                return await client.eval(script.text, len(keys), *keys, *args)

    async def _eval_many(self, calls: Sequence[tuple[lua.Script, Sequence[bytes], Sequence[Any]]]) -> list[Any]:
        """Several script calls in one pipeline (one round trip per node)."""
        if len(calls) == 1:
            script, keys, args = calls[0]
            return [await self._eval(script, keys, args)]
        client = self._open_client()
        with _driver_errors():
            pipe = client.pipeline(transaction=False)
            for script, keys, args in calls:
                pipe.execute_command("EVALSHA", script.sha, len(keys), *keys, *args)
            results: list[Any] = await pipe.execute(raise_on_error=False)
            for n, result in enumerate(results):
                if isinstance(result, NoScriptError):  # that node restarted: only this call did not run
                    script, keys, args = calls[n]
                    results[n] = await client.eval(script.text, len(keys), *keys, *args)
                elif isinstance(result, Exception):
                    raise result
        return results

    @contextlib.asynccontextmanager
    async def _session(self) -> AsyncIterator[None]:
        """Every public call: inside a Task (see ``enter_task``) and, on a cluster, within the per-node
        connection limit."""
        await enter_task()
        if self.clustered:
            async with self._slots:
                yield
        else:
            yield

    # ----- keys

    def _part(self, table: str, pk: bytes) -> _Part:
        tag = b"%s:{%s:%s}" % (self._p, table.encode(), pk.hex().encode())
        index = b"%s:{%s}:" % (self._p, table.encode())
        return _Part(
            table=table,
            pk=pk,
            zset=tag + b":s",
            hash=tag + b":v",
            lock=tag + b":l",
            version=tag + b":n",
            pending=tag + b":x",
            index=index + b"parts",
            index_versions=index + b"pv",
            member=partition_hash(pk).to_bytes(4, "big") + pk,
            slot=key_slot(tag) if self.clustered else 0,
        )

    def _plan(self, refs: list[KeyRef]) -> _Plan:
        parts: dict[tuple[str, bytes], _Part] = {}
        for ref in refs:
            if (ref.table, ref.pk) not in parts:
                parts[(ref.table, ref.pk)] = self._part(ref.table, ref.pk)
        groups: dict[int, list[_Part]] = {}
        for part in parts.values():
            groups.setdefault(part.slot, []).append(part)
        return _Plan(refs, [parts[(ref.table, ref.pk)] for ref in refs], list(groups.values()))

    # ----- tables

    async def create_table(self, table: TableDef) -> None:
        if not _TABLE.match(table.name):
            raise ValidationException(f"Invalid table name for the Redis backend: {table.name!r}")
        client = self._open_client()
        async with self._session():
            with _driver_errors():
                created = await client.hsetnx(self._tables, table.name, table.to_bytes())
        if not created:
            raise ResourceInUseException(f"Table already exists: {table.name}")

    async def delete_table(self, name: str) -> None:
        client = self._open_client()
        async with self._session():
            with _driver_errors():
                removed = await client.hdel(self._tables, name)
            if not removed:
                raise table_not_found(name)
            await self._purge(name)

    async def _purge(self, name: str) -> None:
        """Delete a table's partitions, walking its index in batches (no long-running script)."""
        client = self._open_client()
        empty = self._part(name, b"")
        with _driver_errors():
            while True:
                members = await client.zrangebylex(empty.index, b"-", b"+", start=0, num=256)
                if not members:
                    break
                pipe = client.pipeline(transaction=False)
                for member in members:
                    part = self._part(name, member[4:])
                    for key in (part.zset, part.hash, part.version, part.pending):
                        pipe.execute_command("UNLINK", key)  # one key per command: any slot, any node
                await pipe.execute()
                await client.zrem(empty.index, *members)
            await client.unlink(empty.index, empty.index_versions)

    async def get_table(self, name: str) -> TableDef | None:
        client = self._open_client()
        async with self._session():
            with _driver_errors():
                data = await client.hget(self._tables, name)
        return None if data is None else TableDef.from_bytes(data)

    async def list_tables(self) -> list[str]:
        client = self._open_client()
        async with self._session():
            with _driver_errors():
                names = await client.hkeys(self._tables)
        return sorted(name.decode() for name in names)

    # ----- reads

    async def get(self, table: str, pk: bytes, sk: bytes) -> bytes | None:
        client = self._open_client()
        async with self._session():
            with _driver_errors():
                value: bytes | None = await client.hget(self._part(table, pk).hash, sk)
        return value

    async def get_many(self, keys: Sequence[KeyRef]) -> list[bytes | None]:
        if not keys:
            return []
        plan = self._plan(list(keys))
        async with self._session():
            if len(plan.groups) == 1:  # one slot (always, standalone): one script is a snapshot
                values: list[bytes | None] = await self._eval(
                    lua.GET_MANY, [p.hash for p in plan.ref_parts], [ref.sk for ref in plan.refs]
                )
                return values
            return await self._get_many_versioned(plan)

    async def _get_many_versioned(self, plan: _Plan) -> list[bytes | None]:
        """Cluster, several slots: read values with versions, then re-read the versions; equal and
        unlocked both times means nothing changed in between, so the values held together at one instant."""
        parts = [part for group in plan.groups for part in group]
        wanted: dict[bytes, list[int]] = {part.hash: [] for part in parts}
        for i, part in enumerate(plan.ref_parts):
            wanted[part.hash].append(i)
        calls = [
            (lua.READ_VERSIONED, [p.hash, p.version, p.lock], [plan.refs[i].sk for i in wanted[p.hash]])
            for p in parts
        ]
        client = self._open_client()
        deadline = time.monotonic() + self.lock_wait
        for attempt in range(1 << 30):
            first = await self._eval_many(calls)
            if not any(row[1] for row in first):
                with _driver_errors():
                    pipe = client.pipeline(transaction=False)
                    for part in parts:
                        pipe.get(part.version)
                        pipe.exists(part.lock)
                    second = await pipe.execute()
                if all(
                    second[2 * n] == row[0] and not second[2 * n + 1] for n, row in enumerate(first)
                ):
                    out: list[bytes | None] = [None] * len(plan.refs)
                    for part, row in zip(parts, first, strict=True):
                        for i, value in zip(wanted[part.hash], row[2:], strict=True):
                            out[i] = value
                    return out
            if time.monotonic() > deadline:
                raise TransactionConflictException("Transaction is ongoing for the items requested")
            self.stats["snapshot_retries"] += 1
            await self.retry.pause(min(attempt, 6))
        raise AssertionError("unreachable")

    async def query(
        self,
        table: str,
        pk: bytes,
        *,
        lo: Bound | None,
        hi: Bound | None,
        forward: bool,
        start: bytes | None,
        limit: int,
    ) -> list[tuple[bytes, bytes]]:
        if limit <= 0:
            return []
        part = self._part(table, pk)
        low, high = _range(lo, hi, forward, start)
        async with self._session():
            flat = await self._eval(lua.QUERY, [part.zset, part.hash], [low, high, b"0" if forward else b"1", limit])
        return [(flat[i], flat[i + 1]) for i in range(0, len(flat), 2) if flat[i + 1] is not None]

    async def scan(
        self,
        table: str,
        *,
        segment: int,
        total_segments: int,
        start: tuple[bytes, bytes] | None,
        limit: int,
    ) -> list[tuple[bytes, bytes, bytes]]:
        if limit <= 0:
            return []
        lo, hi = segment_bounds(segment, total_segments)
        index = self._part(table, b"").index
        cursor = b"[" + lo.to_bytes(4, "big")
        stop = b"(" + hi.to_bytes(4, "big") if hi < 1 << 32 else b"+"
        resume: tuple[bytes, bytes] | None = None  # (member, sk): continue inside that partition
        if start is not None and partition_hash(start[0]) >= lo:
            member = partition_hash(start[0]).to_bytes(4, "big") + start[0]
            cursor, resume = b"[" + member, (member, start[1])
        out: list[tuple[bytes, bytes, bytes]] = []
        batch, partitions_read = 8, 0  # partitions per round: sized by the rows per partition seen so far
        client = self._open_client()
        async with self._session():
            while len(out) < limit:
                with _driver_errors():
                    members = await client.zrangebylex(index, cursor, stop, start=0, num=batch)
                if not members:
                    break
                want = limit - len(out)
                calls = []
                for member in members:
                    part = self._part(table, member[4:])
                    low = b"(" + resume[1] if resume is not None and resume[0] == member else b"-"
                    calls.append((lua.QUERY, [part.zset, part.hash], [low, b"+", b"0", want]))
                results = await self._eval_many(calls)
                empty = []
                for member, flat, (_script, _keys, args) in zip(members, results, calls, strict=True):
                    if not flat and args[0] == b"-":
                        empty.append(member)
                    pk = member[4:]
                    out += [(pk, flat[i], flat[i + 1]) for i in range(0, len(flat), 2) if flat[i + 1] is not None]
                if empty and self.clustered:
                    await self._repair(table, empty)
                cursor = b"(" + members[-1]
                partitions_read += len(members)
                per_partition = max(1.0, len(out) / partitions_read)
                batch = max(1, min(128, int((limit - len(out)) / per_partition) + 1))
        return out[:limit]

    async def _repair(self, table: str, members: list[bytes]) -> None:
        """Cluster: drop partitions a scan found empty from the index (a stale report left them)."""
        parts = [self._part(table, member[4:]) for member in members]
        self.stats["index_repairs"] += len(parts)
        versions = await self._eval_many([(lua.TOUCH, [p.zset, p.version], []) for p in parts])
        syncs = [
            (lua.SYNC_INDEX, [p.index, p.index_versions], [p.member, v, b"0"])
            for p, v in zip(parts, versions, strict=True)
            if v is not None
        ]
        if syncs:
            await self._eval_many(syncs)

    # ----- the atomic unit

    async def transact(self, keys: Sequence[KeyRef], apply: ApplyFn) -> list[bytes | None]:
        refs = list(keys)
        if not refs:
            check_new_values(refs, apply([]))
            return []
        plan = self._plan(refs)
        async with self._local.hold(refs), self._session():
            if len(plan.groups) == 1:
                old = await self._optimistic(plan, apply)
                if old is not None:
                    return old
            return await self._locked(plan, apply)

    async def _optimistic(self, plan: _Plan, apply: ApplyFn) -> list[bytes | None] | None:
        """Read, apply, compare-and-write; None after ``retry.max_attempts`` conflicts (escalate)."""
        deadline = time.monotonic() + self.lock_wait
        conflicts = 0
        while True:
            old = await self._read(plan)
            new = check_new_values(plan.refs, apply(list(old)))
            (result,) = await self._write(plan, old, new, b"")
            status = result[0]
            if status == b"ok":
                await self._sync_index(plan, [result])
                return old
            if status == b"missing":
                raise table_not_found(result[1].decode())
            if status == b"conflict":
                conflicts += 1
                self.stats["conflicts"] += 1
                if conflicts >= self.retry.max_attempts:
                    self.stats["escalations"] += 1
                    return None
                await self.retry.pause(conflicts - 1)
            else:  # locked by a cross-slot or escalated unit: wait for it (at most its lease)
                if time.monotonic() > deadline:
                    raise TransactionConflictException("Transaction is ongoing for the items requested")
                self.stats["lock_waits"] += 1
                await self.lock_backoff.pause(2)

    async def _locked(self, plan: _Plan, apply: ApplyFn) -> list[bytes | None]:
        """Lock every partition (sorted), read, apply, write per slot, unlock."""
        deadline = time.monotonic() + self.lock_wait
        locks = sorted({part.lock for part in plan.ref_parts})
        self.stats["locked_units"] += 1
        while True:
            token = secrets.token_hex(12).encode()
            held: list[bytes] = []
            try:
                leased = time.monotonic()
                for lock in locks:
                    await self._acquire(lock, token, deadline)
                    held.append(lock)
                old = await self._read(plan)
                new = check_new_values(plan.refs, apply(list(old)))
                if time.monotonic() - leased < self.lock_lease / 2:
                    results = await self._write(plan, old, new, token)
                    done = sum(r[0] == b"ok" for r in results)
                    if done == len(results):
                        await self._sync_index(plan, results)
                        return old
                    if done:
                        raise InternalServerError(
                            "redis: a lock lease expired during a cross-slot transaction;"
                            " it may be partially applied"
                        )
                    missing = [r for r in results if r[0] == b"missing"]
                    if missing:
                        raise table_not_found(missing[0][1].decode())
            finally:
                if held:
                    await self._unlock(held, token)
            if time.monotonic() > deadline:
                raise TransactionConflictException("Transaction is ongoing for the items requested")

    async def _acquire(self, lock: bytes, token: bytes, deadline: float) -> None:
        client = self._open_client()
        lease = max(1, int(self.lock_lease * 1000))
        waits = 0
        while True:
            with _driver_errors():
                if await client.set(lock, token, nx=True, px=lease):
                    return
            if time.monotonic() > deadline:
                raise TransactionConflictException("Transaction is ongoing for the items requested")
            self.stats["lock_waits"] += 1
            await self.lock_backoff.pause(waits)
            waits += 1

    async def _unlock(self, locks: list[bytes], token: bytes) -> None:
        with contextlib.suppress(BackendUnavailable):  # unreleased locks expire with their lease
            await self._eval_many([(lua.DELETE_IF, [lock], [token]) for lock in locks])

    async def _read(self, plan: _Plan) -> list[bytes | None]:
        """Current values of the unit's keys; ResourceNotFoundException for a missing table."""
        client = self._open_client()
        names = sorted({ref.table for ref in plan.refs})
        with _driver_errors():
            pipe = client.pipeline(transaction=False)
            pipe.hmget(self._tables, names)
            for ref, part in zip(plan.refs, plan.ref_parts, strict=True):
                pipe.hget(part.hash, ref.sk)
            found, *values = await pipe.execute()
        for name, definition in zip(names, found, strict=True):
            if definition is None:
                raise table_not_found(name)
        return values

    async def _write(
        self, plan: _Plan, old: list[bytes | None], new: Sequence[Any], token: bytes
    ) -> list[list[Any]]:
        """One WRITE script per slot group; their results in group order."""
        mode = b"c" if self.clustered else b"s"
        calls = []
        for group in plan.groups:
            number = {part: j for j, part in enumerate(group, 1)}
            keys: list[bytes] = []
            for part in group:
                keys += [part.zset, part.hash, part.lock]
                keys += [part.version, part.pending] if self.clustered else [part.index]
            names = sorted({part.table for part in group})
            if not self.clustered:
                keys.append(self._tables)
            args: list[Any] = [mode, token, len(names), *names, len(group), *(p.member for p in group)]
            items: list[Any] = []
            for ref, part, was, value in zip(plan.refs, plan.ref_parts, old, new, strict=True):
                if part in number:
                    op = b"k" if value is KEEP else b"d" if value is None else b"p"
                    items += [number[part], ref.sk, *_expect(was), op, b"" if op != b"p" else value]
            args += [len(items) // 6, *items]
            calls.append((lua.WRITE, keys, args))
        return await self._eval_many(calls)

    async def _sync_index(self, plan: _Plan, results: list[list[Any]]) -> None:
        """Cluster: report partitions that became empty or non-empty to their table's index, then clear
        their pending marks."""
        if not self.clustered:
            return
        syncs, clears = [], []
        for group, result in zip(plan.groups, results, strict=True):
            for n in range(1, len(result), 4):
                part = group[int(result[n]) - 1]
                version, nonempty, pending = result[n + 1 : n + 4]
                syncs.append((lua.SYNC_INDEX, [part.index, part.index_versions], [part.member, version, nonempty]))
                clears.append((lua.DELETE_IF, [part.pending], [pending]))
        if syncs:
            await self._eval_many(syncs)
            await self._eval_many(clears)


class RedisClusterStorage(RedisStorage):
    """The ``redis-cluster`` backend kind: ``RedisStorage`` in cluster mode, ``cluster_nodes`` required."""

    def __init__(self, cluster_nodes: Sequence[str | Sequence[Any]], **options: Any) -> None:
        if not cluster_nodes:
            raise ValueError("redis-cluster needs cluster_nodes: a list of 'host:port' startup nodes")
        super().__init__(cluster_nodes=cluster_nodes, **options)
