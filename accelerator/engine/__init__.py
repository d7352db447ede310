"""TableEngine: DynamoDB's operation semantics over a primitive ``Storage``.

Each operation family lives in its own module as plain functions over (engine, request); this class
only owns the storage, the table registry and the dispatch table.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from accelerator.core.errors import ResourceNotFoundException, TableMissing, UnknownOperationException
from accelerator.core.protocols import Request, Response, Storage
from accelerator.engine import (
    backups,
    batch,
    capacity,
    control,
    exports,
    imports,
    index_admin,
    items,
    pitr,
    query,
    resume,
    streams,
    transact,
)
from accelerator.engine.catalog import Catalog
from accelerator.engine.changelog import LoggingStorage
from accelerator.engine.handler import Handler
from accelerator.engine.indexed_storage import IndexedStorage
from accelerator.engine.log_maintenance import LogMaintenance
from accelerator.engine.meta import MetaStore
from accelerator.engine.snapshot import log_settle_seconds
from accelerator.engine.stream_iterators import IteratorCodec
from accelerator.engine.stream_state import StreamState
from accelerator.engine.table_stats import PREFIX as STATS_PREFIX
from accelerator.engine.table_stats import TableStats
from accelerator.engine.tables import TableRegistry
from accelerator.engine.ttl import TtlSettings, TtlSweeper

__all__ = ["TableEngine"]


class TableEngine:
    """A ``Store`` implemented over a ``Storage`` backend."""

    validates_items = True
    """Every item a write stores was validated, numbers normalised, in place in the request (the cache above
    keeps that same dict as written through, so it need not check it again)."""

    def __init__(self, storage: Storage, ttl_sweep_interval: float = 30.0, export_root: str = "exports",
                 stream_shard_seconds: float = 4 * 3600.0, log_upkeep_interval: float = 60.0,
                 table_stats_interval: float = 300.0) -> None:
        self.changelog = LoggingStorage(storage)
        self.storage = IndexedStorage(self.changelog)
        self.tables = TableRegistry(self.storage)
        self._background: set[asyncio.Task[None]] = set()
        self.meta = MetaStore(self.storage)
        self.ttl = TtlSettings(self.meta)
        self.sweeper = TtlSweeper(self.storage, self.ttl, ttl_sweep_interval)
        self.streams = StreamState(self.storage, self.storage, self.changelog.forget, stream_shard_seconds,
                                   settle=log_settle_seconds(storage))
        self.iterators = IteratorCodec(self.storage)
        self.log_upkeep = LogMaintenance(self.storage, self.streams, log_upkeep_interval)
        self.pitr_upkeep = pitr.PitrUpkeep(self, log_upkeep_interval)
        self.stats = TableStats(self.storage, self.meta, self.tables, table_stats_interval)
        self.backups = Catalog(self.storage, backups.CATALOG)
        self.exports = Catalog(self.storage, exports.CATALOG)
        self.imports = Catalog(self.storage, imports.CATALOG)
        self.fills = Catalog(self.storage, "!fills")
        """Tables a restore or an import is filling, by name (``accelerator.engine.resume``)."""
        self.tables.filling = self._filling
        self.export_root = export_root
        """The directory plain S3Bucket names of exports and imports resolve under."""
        self.handlers: dict[str, Handler] = {
            **control.HANDLERS,
            **backups.HANDLERS,
            **pitr.HANDLERS,
            **exports.HANDLERS,
            **imports.HANDLERS,
            **streams.HANDLERS,
            "GetItem": items.get_item,
            "PutItem": items.put_item,
            "DeleteItem": items.delete_item,
            "UpdateItem": items.update_item,
            "Query": query.query,
            "Scan": query.scan,
            "BatchGetItem": batch.batch_get_item,
            "BatchWriteItem": batch.batch_write_item,
            "TransactGetItems": transact.transact_get_items,
            "TransactWriteItems": transact.transact_write_items,
        }

    async def open(self) -> None:
        await self.storage.open()
        await self.meta.open()
        for catalog in (self.backups, self.exports, self.imports, self.fills):
            await catalog.open()
        self.sweeper.start()
        self.log_upkeep.start()
        if self.pitr_upkeep.interval > 0:
            self.spawn(self.pitr_upkeep.run())
        self.stats.start()
        await index_admin.resume_backfills(self)
        await resume.resume_fills(self)

    async def _filling(self, name: str) -> bool:
        # The very flag DescribeTable reports CREATING from, so the data plane finds the table exactly when
        # DescribeTable says ACTIVE (the fills catalog, for resuming after a restart, is cleared after it).
        changes = await self.meta.get("table:" + name)
        return bool(changes and changes.get("Filling"))

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run background work (index backfills) until it ends or the engine closes."""
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def close(self) -> None:
        for task in list(self._background):
            task.cancel()
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        await self.sweeper.stop()
        await self.log_upkeep.stop()
        await self.stats.stop()
        await self.storage.close()

    def subscribe(self, listener: Callable[[str, bytes, bytes], None]) -> None:
        """Call ``listener(table, pk, sk)`` for items the engine deletes on its own (TTL expiry)."""
        self.sweeper.listeners.append(listener)

    def forget_table(self, name: str) -> None:
        """Another process changed this table's definition: read it again now, not within a second."""
        self.tables.forget(name)
        self.storage.forget(name)
        self.changelog.forget(name)
        for prefix in ("ttl:", "tags:", "table:", "indexes:", STATS_PREFIX):
            self.meta.forget(prefix + name)

    async def call(self, operation: str, request: Request) -> Response:
        handler = self.handlers.get(operation)
        if handler is None:
            raise UnknownOperationException(operation)
        try:
            if request.get("ReturnConsumedCapacity") in ("TOTAL", "INDEXES"):
                return await capacity.metered(operation, request, lambda: handler(self, request))
            return await handler(self, request)
        except TableMissing:
            # The table (or an index's storage) went away between the definition read and the storage call,
            # e.g. a concurrent DeleteTable: what DynamoDB answers for a missing table, with no internal name.
            raise ResourceNotFoundException("Requested resource not found") from None
