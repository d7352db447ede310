"""TableEngine: DynamoDB's operation semantics over a primitive ``Storage``.

Each operation family lives in its own module as plain functions over (engine, request); this class
only owns the storage, the table registry and the dispatch table.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from accelerator.core.errors import (
    ResourceInUseException,
    ResourceNotFoundException,
    UnknownOperationException,
)
from accelerator.core.protocols import Request, Response, Storage
from accelerator.engine import batch, items, query, transact
from accelerator.engine.indexes import IndexedStorage
from accelerator.engine.tables import TableRegistry, describe, table_from_request
from accelerator.engine.ttl import TtlSettings, TtlSweeper

__all__ = ["TableEngine"]

Handler = Callable[["TableEngine", Request], Awaitable[Response]]


class TableEngine:
    """A ``Store`` implemented over a ``Storage`` backend."""

    def __init__(self, storage: Storage, ttl_sweep_interval: float = 30.0) -> None:
        self.storage = IndexedStorage(storage)
        self.tables = TableRegistry(storage)
        self.ttl = TtlSettings(self.storage)
        self.sweeper = TtlSweeper(self.storage, self.ttl, ttl_sweep_interval)
        self.handlers: dict[str, Handler] = {
            "CreateTable": TableEngine.create_table,
            "DescribeTable": TableEngine.describe_table,
            "DeleteTable": TableEngine.delete_table,
            "ListTables": TableEngine.list_tables,
            "UpdateTimeToLive": TableEngine.update_ttl,
            "DescribeTimeToLive": TableEngine.describe_ttl,
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
        self.transactions = transact.TokenLedger()

    async def open(self) -> None:
        await self.storage.open()
        await self.ttl.open()
        self.sweeper.start()

    async def close(self) -> None:
        await self.sweeper.stop()
        await self.storage.close()

    def subscribe(self, listener: Callable[[str, bytes, bytes], None]) -> None:
        """Call ``listener(table, pk, sk)`` for items the engine deletes on its own (TTL expiry)."""
        self.sweeper.listeners.append(listener)

    async def call(self, operation: str, request: Request) -> Response:
        handler = self.handlers.get(operation)
        if handler is None:
            raise UnknownOperationException(operation)
        return await handler(self, request)

    # -- control plane ---------------------------------------------------------------------------
    async def create_table(self, req: Request) -> Response:
        table = table_from_request(req)
        try:
            await self.storage.create_table(table)
        except ResourceInUseException:
            raise ResourceInUseException(f"Table already exists: {table.name}") from None
        self.tables.forget(table.name)
        return {"TableDescription": describe(table)}

    async def describe_table(self, req: Request) -> Response:
        table = await self.tables.get(req["TableName"])
        return {"Table": describe(table)}

    async def delete_table(self, req: Request) -> Response:
        table = await self.tables.get(req["TableName"])
        try:
            await self.storage.delete_table(table.name)
        except ResourceNotFoundException:
            raise ResourceNotFoundException("Requested resource not found") from None
        self.tables.forget(table.name)
        await self.ttl.forget(table.name)
        return {"TableDescription": describe(table, "DELETING")}

    async def list_tables(self, req: Request) -> Response:
        names = await self.storage.list_tables()
        start = req.get("ExclusiveStartTableName")
        if start is not None:
            names = [n for n in names if n > start]
        limit = req.get("Limit", 100)
        page = names[:limit]
        response: Response = {"TableNames": page}
        if len(names) > limit:
            response["LastEvaluatedTableName"] = page[-1]
        return response

    async def update_ttl(self, req: Request) -> Response:
        table = await self.tables.get(req["TableName"])
        spec = req["TimeToLiveSpecification"]
        await self.ttl.set(table.name, spec)
        return {"TimeToLiveSpecification": spec}

    async def describe_ttl(self, req: Request) -> Response:
        table = await self.tables.get(req["TableName"])
        spec = await self.ttl.get(table.name)
        if spec is None or not spec["Enabled"]:
            return {"TimeToLiveDescription": {"TimeToLiveStatus": "DISABLED"}}
        return {"TimeToLiveDescription": {"TimeToLiveStatus": "ENABLED", "AttributeName": spec["AttributeName"]}}
