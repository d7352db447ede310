"""DescribeTable's ItemCount and TableSizeBytes (and each index's ItemCount and IndexSizeBytes).

DynamoDB does not count on every write: it refreshes these about every six hours, so they are approximate
in between. Here a background recount runs every ``[backend] table_stats_interval`` seconds (300 by
default; 0 turns it off and the figures stay 0). A round pages through each table and each of its indexes
with ``scan_all``, which gives the event loop back every couple of milliseconds, and stores the result in the
meta table (``stats:<table>``), so every process sharing the store reports the same figures and a restart
keeps them. A round that fails (the store is away) is counted in ``errors`` and logged once until a round
succeeds again; the figures then keep their last values.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

import orjson

from accelerator.core.errors import DynamoError, StorageError
from accelerator.core.guard import swallowed
from accelerator.core.values import item_size
from accelerator.engine.indexed_storage import IndexedStorage
from accelerator.engine.indexes import indexes_of
from accelerator.engine.meta import MetaStore
from accelerator.engine.paging import scan_all
from accelerator.engine.tables import TableRegistry

__all__ = ["TableStats", "PREFIX", "apply_stats"]

log = logging.getLogger("accelerator.engine.table_stats")
PREFIX = "stats:"

class TableStats:
    """The recount task; ``run_once`` is one round over every table (tests call it directly)."""

    def __init__(self, storage: IndexedStorage, meta: MetaStore, tables: TableRegistry, interval: float,
                 clock: Callable[[], float] = time.time) -> None:
        self.storage = storage
        self.meta = meta
        self.tables = tables
        self.interval = interval
        self.clock = clock
        self.errors = 0
        self.rounds = 0
        self._failing = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.interval > 0:
            self._task = asyncio.ensure_future(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)  # a restart keeps the stored figures: no recount at startup
            try:
                await self.run_once()
                self._failing = False
            except (DynamoError, StorageError) as exc:  # the store is away: keep the last figures, try later
                self.errors += 1
                if not self._failing:
                    log.warning("table statistics recount failed (logged once until it succeeds): %s", exc)
                self._failing = True
            except Exception as exc:  # noqa: BLE001 - a bug must not end the recounts until a restart
                self.errors += 1
                swallowed("table statistics recount", exc)

    async def run_once(self) -> None:
        """Recount every table and store the figures."""
        for name in await self.storage.list_tables():
            try:
                await self.recount(name)
            except StorageError:  # dropped while it was being counted
                continue
        self.rounds += 1

    async def recount(self, name: str) -> dict[str, Any]:
        """Count one table's items and bytes, and each index's; returns (and stores) the record."""
        table = await self.tables.get(name)
        count, size = await self._count(name)
        record: dict[str, Any] = {"created": table.created, "items": count, "bytes": size, "at": self.clock(),
                                  "indexes": {}}
        for index in indexes_of(table):
            if index.status == "ACTIVE":
                record["indexes"][index.name] = list(await self._count(index.storage_name))
        await self.meta.put(PREFIX + name, record)
        return record

    async def _count(self, storage_name: str) -> tuple[int, int]:
        count = size = 0
        async for rows in scan_all(self.storage, storage_name):
            count += len(rows)
            size += sum(item_size(orjson.loads(value)) for _, _, value in rows)
        return count, size


def apply_stats(desc: dict[str, Any], record: dict[str, Any] | None, created: float) -> None:
    """Put the last recount's figures into a table description (a record of an older table of this name is
    ignored)."""
    if record is None or record.get("created") != created:
        return
    desc["ItemCount"] = record["items"]
    desc["TableSizeBytes"] = record["bytes"]
    counts = record.get("indexes", {})
    for member in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        for index in desc.get(member, ()):
            if index["IndexName"] in counts:
                index["ItemCount"], index["IndexSizeBytes"] = counts[index["IndexName"]]
