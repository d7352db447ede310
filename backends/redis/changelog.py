"""The change log on Redis (see the package docstring for its keys and ``accelerator.core.changelog`` for the
contract): the WRITE script's log section, the cluster's registry of partitions that log, and reading,
trimming and dropping a table's log.

Standalone, a table has one log zset and one counter, both advanced by the WRITE script with the items.
On a cluster each partition logs into a zset in its own slot, sequenced by a hybrid clock; ``read`` merges the
registered partitions' logs and returns records at least ``CLUSTER_HORIZON_US`` old (on the Redis clock),
so a commit still in flight elsewhere cannot land behind a reader. Two partitions can log at the same µs
(a transaction's items, or writers on two nodes), so the sequences the cluster hands out are
``µs * RUN_SPACE + rank``: a run of equal clock values is ranked by its records' bytes, which is stable
because a run is complete before the horizon passes it. The zsets keep the µs as score (a double holds it
exactly; µs * RUN_SPACE would not). The registry holds each partition with
the time it (re)registered: a process registers a partition before its first logged write and again once
its memory of that is ``REREGISTER_SECONDS`` old; trimming drops partitions whose logs are empty and whose
registration is ``FORGET_SECONDS`` old (a conditional script, so a fresh registration always survives), so
reads merge only partitions that logged recently.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from accelerator.core.changelog import CLUSTER_HORIZON_US
from backends.redis import scripts as lua
from backends.redis.driver import Driver, driver_errors
from backends.redis.layout import Layout, Part

__all__ = ["RedisChangeLog"]

_REGISTERED_BOUND = 100_000  # partitions remembered as registered; past it, the memory starts over
REREGISTER_SECONDS = 3600.0  # a process registers a partition again after this long
FORGET_SECONDS = 2 * REREGISTER_SECONDS  # trim drops registrations this old whose logs are empty
RUN_SPACE = 1024
"""Cluster: sequences per clock µs. A run holds at most one record per partition (a partition's clock is
strictly increasing); µs * 1024 stays inside the 64 bits a stream iterator carries until the year 2262."""


class RedisChangeLog:
    """A table's change log on one Redis deployment (standalone or cluster, as its layout says)."""

    def __init__(self, driver: Driver, layout: Layout, clock: Callable[[], float] = time.time) -> None:
        self.driver = driver
        self.layout = layout
        self.clock = clock
        self._registered: dict[tuple[str, bytes], float] = {}  # cluster: partition -> when this process registered

    def script_args(self, group: list[Part], records: list[tuple[str, bytes, bytes]], keys: list[bytes]) -> list[Any]:
        """The WRITE script's log section for the records of ``group``'s partitions; appends their log keys."""
        logs: dict[bytes, int] = {}
        out: list[Any] = []
        mine = {(part.table, part.pk): part for part in group}
        for name, pk, record in records:
            part = mine.get((name, pk))
            if part is None:
                continue
            number = logs.get(part.log)
            if number is None:
                number = logs[part.log] = len(logs) + 1
                keys += [part.log] if self.layout.clustered else [part.log_seq, part.log]
            out += [number, record]
        return [len(out) // 2, *out]

    async def register(self, records: list[tuple[str, bytes, bytes]]) -> None:
        """Cluster: add the partitions about to log to their table's registry first (idempotent, so a crash
        before the write leaves only an empty entry), so that readers find them."""
        if not self.layout.clustered or not records:
            return
        now = self.clock()
        due = sorted({(name, pk) for name, pk, _ in records
                      if now - self._registered.get((name, pk), -REREGISTER_SECONDS) >= REREGISTER_SECONDS})
        if not due:
            return
        client = self.driver.client
        with driver_errors():
            for name, pk in due:
                await client.zadd(self.layout.part(name, pk).log_parts, {pk: now})
        if len(self._registered) > _REGISTERED_BOUND:  # re-registering costs only a round trip
            self._registered.clear()
        self._registered.update(dict.fromkeys(due, now))

    async def read(self, table: str, after: int, limit: int) -> list[tuple[int, bytes]]:
        if not self.layout.clustered:
            members = await self.driver.eval(lua.READ_LOG, [self.layout.part(table, b"").log], [after, b"+inf", limit])
            return [_entry(m) for m in members]
        clock_after = after // RUN_SPACE - 1  # the run ``after`` falls in is read whole, then cut at ``after``
        while True:
            merged = await self._read_merged(table, clock_after, limit)
            page = [entry for entry in _ranked(merged) if entry[0] > after][:limit]
            if page or len(merged) < limit:
                return page
            clock_after = merged[-1][0]  # the page was all at or before ``after``: runs are whole, go on

    async def _read_merged(self, table: str, after: int, limit: int) -> list[tuple[int, bytes]]:
        """Merge the partitions' logs (clock values) up to the horizon; a run of equal values is never split
        by ``limit``."""
        client = self.driver.client
        with driver_errors():
            pks = await client.zrange(self.layout.part(table, b"").log_parts, 0, -1)
            seconds, micros = await client.time()
        horizon = seconds * 1_000_000 + micros - CLUSTER_HORIZON_US
        if not pks or horizon <= after:
            return []
        calls = [(lua.READ_LOG, [self.layout.part(table, pk).log], [after, horizon, limit]) for pk in pks]
        merged: list[tuple[int, bytes]] = []
        for chunk in range(0, len(calls), 256):
            for members in await self.driver.eval_many(calls[chunk:chunk + 256]):
                merged += [_entry(m) for m in members]
        merged.sort()  # by clock value, then by the record's bytes: the rank inside a run
        if len(merged) <= limit:
            return merged
        end = limit
        while end < len(merged) and merged[end][0] == merged[limit - 1][0]:
            end += 1
        return merged[:end]

    async def head(self, table: str) -> int:
        client = self.driver.client
        with driver_errors():
            if self.layout.clustered:  # the hybrid clock: no later record can have a lower sequence than now
                seconds, micros = await client.time()
                return (seconds * 1_000_000 + micros - CLUSTER_HORIZON_US + 1) * RUN_SPACE - 1
            head = await client.get(self.layout.part(table, b"").log_seq)
        return 0 if head is None else int(head)

    async def trim(self, table: str, before: int) -> int:
        client = self.driver.client
        with driver_errors():
            if not self.layout.clustered:
                return int(await client.zremrangebyscore(self.layout.part(table, b"").log, "-inf", f"({before}"))
            # Cluster: runs go whole, or a survivor's rank (its sequence) would change; a run ``before`` cuts
            # goes only if all of it is below ``before``, else it stays whole.
            clock, rank = divmod(before, RUN_SPACE)
            registry = self.layout.part(table, b"").log_parts
            gone, logs, run = 0, [], []
            for pk in await client.zrange(registry, 0, -1):
                log = self.layout.part(table, pk).log
                gone += int(await client.zremrangebyscore(log, "-inf", f"({clock}"))
                logs.append((pk, log))
                run += [(log, member) for member in await client.zrangebyscore(log, clock, clock)]
            if run and len(run) <= rank:
                for log, member in run:
                    gone += int(await client.zrem(log, member))
            empty = [pk for pk, log in logs if not await client.exists(log)]
        if empty:
            await self.driver.eval(lua.FORGET_LOGS, [registry], [self.clock() - FORGET_SECONDS, *empty])
        return gone


def _ranked(merged: list[tuple[int, bytes]]) -> list[tuple[int, bytes]]:
    """Cluster: clock values (sorted, runs whole) to sequences, ``µs * RUN_SPACE + rank in the run``."""
    out: list[tuple[int, bytes]] = []
    rank, last = 0, None
    for clock, record in merged:
        rank = rank + 1 if clock == last else 0
        last = clock
        if rank >= RUN_SPACE:  # cannot happen below 1,024 partitions writing in one µs; never reuse a number
            raise RuntimeError(f"more than {RUN_SPACE} change-log records at one clock value {clock}")
        out.append((clock * RUN_SPACE + rank, record))
    return out


def _entry(member: bytes) -> tuple[int, bytes]:
    seq, _, record = member.partition(b":")
    return int(seq), record
