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

import logging
import time
from collections.abc import Callable
from typing import Any

import orjson

from accelerator.core.errors import StorageError
from accelerator.core.values import item_size
from accelerator.engine.indexed_storage import IndexedStorage
from accelerator.engine.indexes import indexes_of
from accelerator.engine.meta import MetaStore
from accelerator.engine.paging import HOUSEKEEPING_DUTY, scan_all
from accelerator.engine.periodic import Periodic, RunsPeriodically
from accelerator.engine.tables import TableRegistry

__all__ = ["TableStats", "PREFIX", "apply_stats"]

log = logging.getLogger("accelerator.engine.table_stats")
PREFIX = "stats:"

class TableStats(RunsPeriodically):
    """The recount task; ``run_once`` is one round over every table (tests call it directly)."""

    def __init__(self, storage: IndexedStorage, meta: MetaStore, tables: TableRegistry, interval: float,
                 clock: Callable[[], float] = time.time) -> None:
        self.storage = storage
        self.meta = meta
        self.tables = tables
        self.interval = interval
        self.clock = clock
        self.rounds = 0
        # a restart keeps the stored figures: no recount at startup, the first one an interval later
        self.job = Periodic("table statistics recount", interval, self.run_once)

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
        async for rows in scan_all(self.storage, storage_name, duty=HOUSEKEEPING_DUTY):
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
