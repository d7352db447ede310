"""A table's partition index ``P:{T}:parts`` (what Scan walks) and its upkeep in cluster mode.

Standalone, the WRITE script keeps the index in the same script. On a cluster the index lives in another
slot: writers report partitions that became empty or non-empty (``sync``), scans drop partitions they
found empty (``repair``), and DeleteTable walks it to delete the table's keys (``purge``).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from backends.redis import scripts as lua
from backends.redis.driver import Driver, driver_errors
from backends.redis.layout import Layout, Plan

__all__ = ["PartitionIndex"]


class PartitionIndex:
    def __init__(self, driver: Driver, layout: Layout, stats: Counter[str]) -> None:
        self.driver = driver
        self.layout = layout
        self.stats = stats

    async def purge(self, name: str) -> None:
        """Delete a table's partitions, walking its index in batches (no long-running script)."""
        client = self.driver.client
        empty = self.layout.part(name, b"")
        with driver_errors():
            while True:
                members = await client.zrangebylex(empty.index, b"-", b"+", start=0, num=256)
                if not members:
                    break
                pipe = client.pipeline(transaction=False)
                for member in members:
                    part = self.layout.part(name, member[4:])
                    for key in (part.zset, part.hash, part.version, part.pending):
                        pipe.execute_command("UNLINK", key)  # one key per command: any slot, any node
                await pipe.execute()
                await client.zrem(empty.index, *members)
            await client.unlink(empty.index, empty.index_versions)

    async def repair(self, table: str, members: list[bytes]) -> None:
        """Cluster: drop partitions a scan found empty from the index (a stale report left them)."""
        parts = [self.layout.part(table, member[4:]) for member in members]
        self.stats["index_repairs"] += len(parts)
        versions = await self.driver.eval_many([(lua.TOUCH, [p.zset, p.version], []) for p in parts])
        syncs = [
            (lua.SYNC_INDEX, [p.index, p.index_versions], [p.member, v, b"0"])
            for p, v in zip(parts, versions, strict=True)
            if v is not None
        ]
        if syncs:
            await self.driver.eval_many(syncs)

    async def sync(self, plan: Plan, results: list[list[Any]]) -> None:
        """Cluster: report partitions that became empty or non-empty to their table's index, then clear
        their pending marks."""
        if not self.layout.clustered:
            return
        syncs, clears = [], []
        for group, result in zip(plan.groups, results, strict=True):
            for n in range(1, len(result), 4):
                part = group[int(result[n]) - 1]
                version, nonempty, pending = result[n + 1 : n + 4]
                syncs.append((lua.SYNC_INDEX, [part.index, part.index_versions], [part.member, version, nonempty]))
                clears.append((lua.DELETE_IF, [part.pending], [pending]))
        if syncs:
            await self.driver.eval_many(syncs)
            await self.driver.eval_many(clears)
