"""IndexedStorage: a ``Storage`` that keeps secondary-index entries in step with every item write.

The entry keys depend on the old and new item, so a write to an indexed table reads the old values,
runs ``apply`` once to learn the new ones, then runs the storage's atomic unit over item + entry keys
and checks, inside it, that the items are still what it read (else it starts over). ``apply`` is pure,
so the second run computes the same values. Tables without indexes pass straight through.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import orjson

from accelerator.core.errors import TableExists, TransactionConflictException, ValidationException
from accelerator.core.passthrough import PassThroughStorage
from accelerator.core.protocols import KEEP, ApplyFn, KeyRef, Storage
from accelerator.core.tables import TableDef
from accelerator.engine.indexes import (
    META,
    OVERRIDE_PREFIX,
    SEPARATOR,
    IndexDef,
    indexes_of,
    storage_def,
    with_override,
)

__all__ = ["IndexedStorage"]

_TTL = 1.0  # seconds a process caches a table's index definitions
_ATTEMPTS = 20


class _Stale(Exception):
    """The items changed between the read that planned the index entries and the atomic unit."""


class IndexedStorage(PassThroughStorage):
    """A ``Storage`` that keeps secondary-index entries in step with every item write."""

    def __init__(self, inner: Storage) -> None:
        self.inner = inner
        self._defs: dict[str, tuple[float, tuple[IndexDef, ...]]] = {}

    async def create_table(self, table: TableDef) -> None:
        await self.inner.create_table(table)
        for index in indexes_of(table):
            try:
                await self.inner.create_table(storage_def(index, table.created))
            except TableExists:
                # An index of the same name, deleted by UpdateTable from the table that had this name
                # before, is still waiting to be dropped: its entries are garbage, this table is new.
                await self.inner.delete_table(index.storage_name)
                await self.inner.create_table(storage_def(index, table.created))
        self._defs.pop(table.name, None)

    async def delete_table(self, name: str) -> None:
        table = await self.get_table(name)
        await self.inner.delete_table(name)
        self._defs.pop(name, None)
        for index in indexes_of(table) if table is not None else ():
            await self.inner.delete_table(index.storage_name)

    async def get_table(self, name: str) -> TableDef | None:
        """The table's definition with any index changes UpdateTable recorded."""
        table = await self.inner.get_table(name)
        if table is None:
            return None
        data = await self.inner.get(META, OVERRIDE_PREFIX + name.encode(), b"")
        return with_override(table, orjson.loads(data)) if data is not None else table

    def forget(self, name: str) -> None:
        """Read the table's index definitions again on the next write."""
        self._defs.pop(name, None)

    async def reindex(self, table: str, pk: bytes, sk: bytes, index_name: str) -> None:
        """Write one item's entry in one index (a backfill), unless the item changes meanwhile (then again)."""
        for _ in range(_ATTEMPTS):
            index = next((d for d in await self._indexes(table) if d.name == index_name), None)
            old = await self.inner.get(table, pk, sk)
            if index is None or old is None:
                return
            try:
                entries = _entries((index,), old)
            except ValidationException:
                return  # a value of the wrong type for the new key: DynamoDB leaves such items out
            if not entries:
                return
            ((ref, value),) = entries.items()

            def unit(current: list[bytes | None], old: bytes = old, value: bytes = value) -> list[Any]:
                if current[0] != old:
                    raise _Stale
                return [KEEP, value]

            try:
                await self.inner.transact([KeyRef(table, pk, sk), ref], unit)
                return
            except _Stale:
                continue
        raise TransactionConflictException("Transaction is ongoing for the item")

    async def list_tables(self) -> list[str]:
        return [n for n in await self.inner.list_tables() if SEPARATOR not in n]

    async def _indexes(self, name: str) -> tuple[IndexDef, ...]:
        now = time.monotonic()
        entry = self._defs.get(name)
        if entry is not None and entry[0] > now:
            return entry[1]
        table = await self.get_table(name)
        defs = indexes_of(table) if table is not None else ()
        self._defs[name] = (now + _TTL, defs)
        return defs

    async def transact(self, keys: Sequence[KeyRef], apply: ApplyFn) -> list[bytes | None]:
        refs = list(keys)
        now = time.monotonic()
        indexes = []
        for ref in refs:
            entry = self._defs.get(ref.table)  # the common case answers without awaiting anything
            indexes.append(entry[1] if entry is not None and entry[0] > now else await self._indexes(ref.table))
        if not any(indexes):
            return await self.inner.transact(refs, apply)
        count = len(refs)
        for _ in range(_ATTEMPTS):
            olds = await self.inner.get_many(refs)
            try:
                news: Sequence[Any] | None = apply(olds)
            except Exception:
                news = None  # the unit below runs apply again on current values and raises the real outcome
            entry_refs, entry_values = _entry_changes(refs, indexes, olds, news)

            def unit(current: list[bytes | None], olds: list[bytes | None] = olds,
                     values: list[Any] = entry_values) -> list[Any]:
                if current[:count] != olds:
                    raise _Stale
                return [*apply(current[:count]), *values]

            try:
                result = await self.inner.transact(refs + entry_refs, unit)
            except _Stale:
                continue
            return result[:count]
        raise TransactionConflictException("Transaction is ongoing for the item")


def _entries(indexes: tuple[IndexDef, ...], data: bytes | None) -> dict[KeyRef, bytes]:
    if data is None or not indexes:
        return {}
    item = orjson.loads(data)
    out: dict[KeyRef, bytes] = {}
    for index in indexes:
        entry = index.composite(item)
        if entry is not None:
            out[KeyRef(index.storage_name, *entry)] = orjson.dumps(index.project(item))
    return out


def _entry_changes(refs: list[KeyRef], indexes: list[tuple[IndexDef, ...]], olds: list[bytes | None],
                   news: Sequence[Any] | None) -> tuple[list[KeyRef], list[Any]]:
    if news is None:
        return [], []
    changes: dict[KeyRef, Any] = {}
    for defs, old, new in zip(indexes, olds, news, strict=True):
        if not defs or new is KEEP:
            continue
        before = _entries(defs, old)
        after = _entries(defs, new)
        for ref in before:
            if ref not in after:
                changes[ref] = None
        for ref, value in after.items():
            if before.get(ref) != value:
                changes[ref] = value
    return list(changes), list(changes.values())
