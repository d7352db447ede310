"""Durable records of backups, exports and imports, each kind in a hidden system table of the backend.

A record is a JSON object under its ARN. Listing reads the whole system table (records are small and few);
every accelerator process on one backend sees the same records.
"""

from __future__ import annotations

import contextlib
from typing import Any

import orjson

from accelerator.core.errors import TableExists
from accelerator.core.keys import KeySchema
from accelerator.core.protocols import KeyRef, Storage
from accelerator.core.tables import TableDef

__all__ = ["Catalog"]

_PAGE = 500


class Catalog:
    """Records by ARN in the system table ``name`` (it starts with "!", so ListTables never shows it)."""

    def __init__(self, storage: Storage, name: str) -> None:
        self.storage = storage
        self.name = name

    async def open(self) -> None:
        definition = TableDef(name=self.name, key=KeySchema("arn", "S"), attribute_definitions=(), created=0.0)
        with contextlib.suppress(TableExists):
            await self.storage.create_table(definition)

    async def get(self, arn: str) -> dict[str, Any] | None:
        data = await self.storage.get(self.name, arn.encode(), b"")
        return None if data is None else orjson.loads(data)

    async def put(self, arn: str, record: dict[str, Any]) -> None:
        data = orjson.dumps(record)
        await self.storage.transact([KeyRef(self.name, arn.encode(), b"")], lambda olds: [data])

    async def delete(self, arn: str) -> None:
        await self.storage.transact([KeyRef(self.name, arn.encode(), b"")], lambda olds: [None])

    async def all(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        start: tuple[bytes, bytes] | None = None
        while page := await self.storage.scan(self.name, segment=0, total_segments=1, start=start, limit=_PAGE):
            out.extend(orjson.loads(value) for _, _, value in page)
            start = page[-1][0], page[-1][1]
        return out
