"""The ``Storage`` contract over Redis or Redis Cluster (see the package docstring for the layout, the atomic
unit and what each guarantees).

Why one module over 400 lines: it is the contract's methods and the atomic unit's three paths (optimistic,
locked, cross-slot through an intent), which share the driver, layout, locks and stats; each protocol they use
already lives in a module of its own (``locks``, ``intents``, ``index``, ``changelog``, ``batch``)."""

from __future__ import annotations

import functools
import secrets
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from accelerator.core.errors import (
    InternalServerError,
    TableExists,
    TableMissing,
    TransactionConflictException,
    ValidationException,
)
from accelerator.core.keys import partition_hash, segment_bounds
from accelerator.core.protocols import KEEP, ApplyFn, Bound, KeyRef
from accelerator.core.retry import RetryPolicy
from accelerator.core.tables import TableDef
from backends import check_new_values, split_logged
from backends.group_commit import GroupCommit
from backends.redis import scripts as lua
from backends.redis.batch import run_batch
from backends.redis.changelog import RedisChangeLog
from backends.redis.driver import DEFAULT_URL, Driver, driver_errors, parse_node
from backends.redis.index import PartitionIndex
from backends.redis.intents import Intents, SimulatedCrash
from backends.redis.layout import TABLE, Layout, Plan, expect, key_range
from backends.redis.locks import ONGOING, LocalLocks, PartitionLocks
from backends.tasks import enter_task

__all__ = ["RedisStorage", "RedisClusterStorage"]


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
        batch_slots: int = 2,
    ) -> None:
        nodes = [parse_node(n) for n in cluster_nodes] if cluster_nodes else None
        self.layout = Layout(prefix, clustered=nodes is not None)
        self.driver = Driver(url, nodes, pool_size, socket_timeout, connect_timeout, driver_retries)
        self.url = url
        self.cluster_nodes = nodes
        self.prefix = prefix
        self.lock_lease = lock_lease
        self.lock_wait = lock_wait
        self.retry = RetryPolicy.of(retry, RetryPolicy(max_attempts=4, base=0.001, cap=0.02))
        self.stats: Counter[str] = Counter()  # conflicts, escalations, lock_waits, locked_units, ...
        self.local = LocalLocks()
        self.intents = Intents(self.driver, self.layout, lock_lease, self.stats)
        self.locks = PartitionLocks(self.driver, lock_lease, self.stats,
                                    self.intents.unstick if nodes is not None else None)
        self.index = PartitionIndex(self.driver, self.layout, self.stats)
        self.lock_backoff = self.locks.backoff
        self.log = RedisChangeLog(self.driver, self.layout)
        # Batches in flight at once. Each is one round trip on the lean client's single pipelined connection,
        # so more slots only make batches smaller: 2 gave the most PutItems per second at 32 connections
        # (10,200 vs 9,200 with 4; bench.write_throughput), and a batch still waits at most one round trip.
        self._group = GroupCommit(functools.partial(run_batch, self), slots=batch_slots)

    @property
    def clustered(self) -> bool:
        return self.cluster_nodes is not None

    async def open(self) -> None:
        await self.driver.open()
        if self.clustered:  # transactions a dead process committed but did not finish
            await self.intents.recover_all()

    async def close(self) -> None:
        await self.driver.close()

    async def drop(self) -> None:
        """Delete every key under this prefix (tests and teardown; not part of ``Storage``)."""
        client = self.driver.client
        await enter_task()
        with driver_errors():
            batch: list[bytes] = []
            async for key in client.scan_iter(match=self.layout.prefix + b":*", count=1000):
                batch.append(key)
                if len(batch) >= 500:
                    await client.delete(*batch)
                    batch = []
            if batch:
                await client.delete(*batch)

    async def create_table(self, table: TableDef) -> None:
        if not TABLE.match(table.name):
            raise ValidationException(f"Invalid table name for the Redis backend: {table.name!r}")
        client = self.driver.client
        async with self.driver.session():
            with driver_errors():
                created = await client.hsetnx(self.layout.tables, table.name, table.to_bytes())
        if not created:
            raise TableExists(table.name)

    async def delete_table(self, name: str) -> None:
        client = self.driver.client
        async with self.driver.session():
            with driver_errors():
                removed = await client.hdel(self.layout.tables, name)
            if not removed:
                raise TableMissing(name)
            await self.index.purge(name)

    async def get_table(self, name: str) -> TableDef | None:
        client = self.driver.client
        async with self.driver.session():
            with driver_errors():
                data = await client.hget(self.layout.tables, name)
        return None if data is None else TableDef.from_bytes(data)

    async def list_tables(self) -> list[str]:
        client = self.driver.client
        async with self.driver.session():
            with driver_errors():
                names = await client.hkeys(self.layout.tables)
        return sorted(name.decode() for name in names)

    # ----- reads

    async def get(self, table: str, pk: bytes, sk: bytes) -> bytes | None:
        async with self.driver.session():
            (value,) = await self.driver.commands([(b"HGET", self.layout.part(table, pk).hash, sk)])
        return value

    async def get_many(self, keys: Sequence[KeyRef]) -> list[bytes | None]:
        if not keys:
            return []
        plan = self.layout.plan(list(keys))
        async with self.driver.session():
            if len(plan.groups) == 1:  # one slot (always, standalone): one script is a snapshot
                values: list[bytes | None] = await self.driver.eval(
                    lua.GET_MANY, [p.hash for p in plan.ref_parts], [ref.sk for ref in plan.refs]
                )
                return values
            return await self._get_many_versioned(plan)

    async def _get_many_versioned(self, plan: Plan) -> list[bytes | None]:
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
        client = self.driver.client
        deadline = time.monotonic() + self.lock_wait
        for attempt in range(1 << 30):
            first = await self.driver.eval_many(calls)
            if not any(row[1] for row in first):
                with driver_errors():
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
                raise TransactionConflictException(ONGOING)
            if any(row[1] for row in first):  # a lock left by a transaction that may need finishing
                await self.intents.unstick([part.lock for part in parts])
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
        part = self.layout.part(table, pk)
        low, high = key_range(lo, hi, forward, start)
        async with self.driver.session():
            flat = await self.driver.eval(lua.QUERY, [part.zset, part.hash], [low, high, b"0" if forward else b"1", limit])
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
        index = self.layout.part(table, b"").index
        cursor = b"[" + lo.to_bytes(4, "big")
        stop = b"(" + hi.to_bytes(4, "big") if hi < 1 << 32 else b"+"
        resume: tuple[bytes, bytes] | None = None  # (member, sk): continue inside that partition
        if start is not None and partition_hash(start[0]) >= lo:
            member = partition_hash(start[0]).to_bytes(4, "big") + start[0]
            cursor, resume = b"[" + member, (member, start[1])
        out: list[tuple[bytes, bytes, bytes]] = []
        batch, partitions_read = 8, 0  # partitions per round: sized by the rows per partition seen so far
        client = self.driver.client
        async with self.driver.session():
            while len(out) < limit:
                with driver_errors():
                    members = await client.zrangebylex(index, cursor, stop, start=0, num=batch)
                if not members:
                    break
                want = limit - len(out)
                calls = []
                for member in members:
                    part = self.layout.part(table, member[4:])
                    low = b"(" + resume[1] if resume is not None and resume[0] == member else b"-"
                    calls.append((lua.QUERY, [part.zset, part.hash], [low, b"+", b"0", want]))
                results = await self.driver.eval_many(calls)
                empty = []
                for member, flat, (_script, _keys, args) in zip(members, results, calls, strict=True):
                    if not flat and args[0] == b"-":
                        empty.append(member)
                    pk = member[4:]
                    out += [(pk, flat[i], flat[i + 1]) for i in range(0, len(flat), 2) if flat[i + 1] is not None]
                if empty and self.clustered:
                    await self.index.repair(table, empty)
                cursor = b"(" + members[-1]
                partitions_read += len(members)
                per_partition = max(1.0, len(out) / partitions_read)
                batch = max(1, min(128, int((limit - len(out)) / per_partition) + 1))
        return out[:limit]

    async def transact(self, keys: Sequence[KeyRef], apply: ApplyFn) -> list[bytes | None]:
        refs = list(keys)
        if not refs:
            check_new_values(refs, apply([]))
            return []
        if not self.clustered:  # one slot group always: concurrent units share round trips (backends.redis.batch)
            return await self._group.submit(refs, apply)
        plan = self.layout.plan(refs)
        if len(plan.groups) == 1:
            return await self._group.submit(refs, apply)
        return await self.transact_alone(plan, apply)

    async def transact_alone(self, plan: Plan, apply: ApplyFn) -> list[bytes | None]:
        """The unit on its own: optimistic compare-and-write when it is one slot group, else locked."""
        async with self.local.hold(plan.refs), self.driver.session():
            if len(plan.groups) == 1:
                old = await self._optimistic(plan, apply)
                if old is not None:
                    return old
            return await self._locked(plan, apply)

    async def _optimistic(self, plan: Plan, apply: ApplyFn) -> list[bytes | None] | None:
        """Read, apply, compare-and-write; None after ``retry.max_attempts`` conflicts (escalate)."""
        deadline = time.monotonic() + self.lock_wait
        conflicts = 0
        while True:
            old = await self._read(plan)
            new, records = split_logged(plan.refs, check_new_values(plan.refs, apply(list(old))))
            await self.register_logs(records)
            (result,) = await self._write(plan, old, new, records, b"")
            status = result[0]
            if status == b"ok":
                await self.index.sync(plan, [result])
                return old
            if status == b"missing":
                raise TableMissing(result[1].decode())
            if status == b"conflict":
                conflicts += 1
                self.stats["conflicts"] += 1
                if conflicts >= self.retry.max_attempts:
                    self.stats["escalations"] += 1
                    return None
                await self.retry.pause(conflicts - 1)
            else:  # locked by a cross-slot or escalated unit: wait for it (at most its lease), or finish it
                if time.monotonic() > deadline:
                    raise TransactionConflictException(ONGOING)
                if self.clustered:
                    await self.intents.unstick(sorted({part.lock for part in plan.ref_parts}))
                self.stats["lock_waits"] += 1
                await self.lock_backoff.pause(2)

    async def _locked(self, plan: Plan, apply: ApplyFn) -> list[bytes | None]:
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
                    await self.locks.acquire(lock, token, deadline)
                    held.append(lock)
                old = await self._read(plan)
                new, records = split_logged(plan.refs, check_new_values(plan.refs, apply(list(old))))
                await self.register_logs(records)
                if time.monotonic() - leased < self.lock_lease / 2:
                    if self.clustered and len(plan.groups) > 1:  # across slots: through an intent
                        calls = self.write_calls(plan, old, new, records, token)
                        if await self.intents.commit(plan, locks, calls, token):
                            held = []  # committed: the locks are the protocol's now, kept if anything fails
                            await self.index.sync(plan, await self.intents.write(calls))
                            await self.intents.finish(token, locks)
                            return old
                    else:
                        results = await self._write(plan, old, new, records, token)
                        done = sum(r[0] == b"ok" for r in results)
                        if done == len(results):
                            await self.index.sync(plan, results)
                            return old
                        if done:
                            raise InternalServerError(
                                "redis: a lock lease expired during a transaction; it may be partially applied"
                            )
                        missing = [r for r in results if r[0] == b"missing"]
                        if missing:
                            raise TableMissing(missing[0][1].decode())
            except SimulatedCrash:
                held = []  # a killed process releases nothing
                raise
            finally:
                if held:
                    await self.locks.release(held, token)
            if time.monotonic() > deadline:
                raise TransactionConflictException(ONGOING)

    async def _read(self, plan: Plan) -> list[bytes | None]:
        """Current values of the unit's keys; ResourceNotFoundException for a missing table."""
        names = sorted({ref.table for ref in plan.refs})
        commands: list[tuple[bytes, ...]] = [(b"HMGET", self.layout.tables, *[name.encode() for name in names])]
        commands += [(b"HGET", part.hash, ref.sk) for ref, part in zip(plan.refs, plan.ref_parts, strict=True)]
        found, *values = await self.driver.commands(commands)
        for name, definition in zip(names, found, strict=True):
            if definition is None:
                raise TableMissing(name)
        return values

    async def _write(
        self, plan: Plan, old: list[bytes | None], new: Sequence[Any], records: list[tuple[str, bytes, bytes]],
        token: bytes,
    ) -> list[list[Any]]:
        """One WRITE script per slot group; their results in group order."""
        return await self.driver.eval_many(self.write_calls(plan, old, new, records, token))

    def write_calls(
        self, plan: Plan, old: list[bytes | None] | None, new: Sequence[Any],
        records: list[tuple[str, bytes, bytes]], token: bytes,
    ) -> list[tuple[lua.Script, list[bytes], list[Any]]]:
        """The WRITE script calls of a unit, one per slot group. ``old`` None: a blind unit (one group), whose
        call compares nothing and returns the replaced values after its status."""
        mode = b"c" if self.clustered else b"s"
        calls = []
        for group in plan.groups:
            number = {id(part): j for j, part in enumerate(group, 1)}  # by identity: hashing a Part is dear
            keys: list[bytes] = []
            for part in group:
                keys += [part.zset, part.hash, part.lock]
                keys += [part.version, part.pending] if self.clustered else [part.index]
            names = sorted({part.table for part in group})
            args: list[Any] = [mode, token, len(names), *names, len(group), *(p.member for p in group)]
            items: list[Any] = []
            for ref, part, was, value in zip(plan.refs, plan.ref_parts, old or [None] * len(new), new, strict=True):
                if id(part) in number:
                    op = b"k" if value is KEEP else b"d" if value is None else b"p"
                    items += [number[id(part)], ref.sk, *(expect(was) if old is not None else (b"a", b"")), op,
                              b"" if op != b"p" else value]
            args += [len(items) // 6, *items, *self.log.script_args(group, records, keys)]
            if not self.clustered:
                keys.append(self.layout.tables)
            elif token:  # a cross-slot unit's group: its applied mark, so a replay of its intent is a no-op
                keys.append(group[0].applied)
            calls.append((lua.WRITE, keys, args))
        return calls

    async def register_logs(self, records: list[tuple[str, bytes, bytes]]) -> None:
        """Cluster: add the partitions about to log to their table's registry first, so readers find them."""
        await self.log.register(records)

    # ----- the change log (see accelerator.core.changelog and backends.redis.changelog)

    async def read_log(self, table: str, after: int, limit: int) -> list[tuple[int, bytes]]:
        if limit <= 0:
            return []
        async with self.driver.session():
            return await self.log.read(table, after, limit)

    async def log_head(self, table: str) -> int:
        async with self.driver.session():
            return await self.log.head(table)

    async def trim_log(self, table: str, before: int) -> int:
        async with self.driver.session():
            return await self.log.trim(table, before)


class RedisClusterStorage(RedisStorage):
    """The ``redis-cluster`` backend kind: ``RedisStorage`` in cluster mode, ``cluster_nodes`` required."""

    def __init__(self, cluster_nodes: Sequence[str | Sequence[Any]], **options: Any) -> None:
        if not cluster_nodes:
            raise ValueError("redis-cluster needs cluster_nodes: a list of 'host:port' startup nodes")
        super().__init__(cluster_nodes=cluster_nodes, **options)
