"""Small durable records about tables (TTL settings, tags, UpdateTable changes) in a hidden system table.

The records live in the storage backend like items, so every accelerator process on one backend sees
them; each process caches a record for ``ttl`` seconds.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

import orjson

from accelerator.core.errors import TableExists
from accelerator.core.keys import KeySchema
from accelerator.core.protocols import KEEP, KeyRef, Storage
from accelerator.core.tables import TableDef

__all__ = ["MetaStore", "META_TABLE", "TOKEN_PREFIX", "TOKEN_SECONDS"]

META_TABLE = "!meta"
TOKEN_PREFIX = b"token:"  # TransactWriteItems ClientRequestToken records, written in the transaction's unit
TOKEN_SECONDS = 600.0  # how long a token makes a retry idempotent


class MetaStore:
    """Records by string key, read through a short per-process cache."""

    def __init__(self, storage: Storage, ttl: float = 1.0) -> None:
        self.storage = storage
        self.ttl = ttl
        self._cache: dict[str, tuple[float, dict[str, Any] | None]] = {}

    async def open(self) -> None:
        definition = TableDef(name=META_TABLE, key=KeySchema("k", "S"), attribute_definitions=(), created=0.0)
        with contextlib.suppress(TableExists):
            await self.storage.create_table(definition)

    @staticmethod
    def _ref(key: str) -> KeyRef:
        return KeyRef(META_TABLE, key.encode(), b"")

    async def get(self, key: str) -> dict[str, Any] | None:
        now = time.monotonic()
        entry = self._cache.get(key)
        if entry is not None and entry[0] > now:
            return entry[1]
        ref = self._ref(key)
        data = await self.storage.get(ref.table, ref.pk, ref.sk)
        record = orjson.loads(data) if data is not None else None
        self._cache[key] = (now + self.ttl, record)
        return record

    def forget(self, key: str) -> None:
        """Read the record again on the next get (another process changed it)."""
        self._cache.pop(key, None)

    async def put(self, key: str, record: dict[str, Any]) -> None:
        data = orjson.dumps(record)
        await self.storage.transact([self._ref(key)], lambda olds: [data])
        self._cache[key] = (time.monotonic() + self.ttl, record)

    async def delete(self, key: str) -> None:
        await self.storage.transact([self._ref(key)], lambda olds: [None if olds[0] is not None else KEEP])
        self._cache.pop(key, None)
