"""LoggingStorage: turns item writes of tables whose change log is on into ``Logged`` values (see
``accelerator.core.changelog`` for the record format and the reading API).

It sits between ``IndexedStorage`` and the backend, so it wraps the very ``apply`` the backend runs inside its
atomic unit: the record is computed from the values the unit read and committed with the write. A write that
changed nothing (absent before and after, or an equal item) gets no record, as in DynamoDB Streams.

A table's log is on while any of its meta records named ``<reason><table>`` (reasons: ``LOG_REASONS``) holds
``"log": true``: Streams writes ``stream:<table>``, point-in-time recovery ``pitr:<table>``, a backup on a backend without
read snapshots ``backup:<table>`` while it scans. Each process
reads that decision through a one-second cache (like index definitions); ``forget`` drops it at once.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from contextvars import ContextVar
from typing import Any

import orjson

from accelerator.core.changelog import Logged, encode_record
from accelerator.core.passthrough import PassThroughStorage
from accelerator.core.protocols import KEEP, ApplyFn, KeyRef, Storage
from accelerator.core.tables import TableDef

__all__ = ["LoggingStorage", "LOG_REASONS", "BY_SERVICE", "log_wanted"]

LOG_REASONS = ("stream:", "pitr:", "backup:")
META_TABLE = "!meta"  # accelerator.engine.meta.META_TABLE (that module imports this package's neighbours)
_TTL = 1.0

BY_SERVICE: ContextVar[bool] = ContextVar("changelog_by_service", default=False)
"""Set by the TTL sweeper around its deletions: their records carry DynamoDB's service identity."""


def log_wanted(records: Sequence[bytes | None]) -> bool:
    """Whether any of a table's reason records turns its log on."""
    return any(data is not None and orjson.loads(data).get("log") is True for data in records)


class LoggingStorage(PassThroughStorage):
    """A ``Storage`` and ``ChangeLog`` that logs the item writes of tables whose log is on; the rest passes through."""

    def __init__(self, inner: Storage, clock: Any = time.time) -> None:
        self.inner = inner
        self.clock = clock
        self._on: dict[str, tuple[float, bool]] = {}

    async def create_table(self, table: TableDef) -> None:
        await self.inner.create_table(table)
        self._on.pop(table.name, None)

    async def delete_table(self, name: str) -> None:
        await self.inner.delete_table(name)
        self._on.pop(name, None)

    def forget(self, name: str) -> None:
        """Read whether ``name`` logs again on its next write."""
        self._on.pop(name, None)

    async def logs(self, name: str) -> bool:
        """Whether writes to table ``name`` are logged now (cached for a second)."""
        if "!" in name:  # index and system tables: DynamoDB names cannot contain "!"
            return False
        now = time.monotonic()
        entry = self._on.get(name)
        if entry is not None and entry[0] > now:
            return entry[1]
        refs = [KeyRef(META_TABLE, (reason + name).encode(), b"") for reason in LOG_REASONS]
        on = log_wanted(await self.inner.get_many(refs))
        self._on[name] = (now + _TTL, on)
        return on

    async def transact(self, keys: Sequence[KeyRef], apply: ApplyFn) -> list[bytes | None]:
        refs = list(keys)
        now = time.monotonic()
        logged = []
        for i, ref in enumerate(refs):
            if "!" in ref.table:
                continue  # index and system tables never log
            entry = self._on.get(ref.table)  # the common case answers without awaiting anything
            if entry[1] if entry is not None and entry[0] > now else await self.logs(ref.table):
                logged.append(i)
        if not logged:
            return await self.inner.transact(refs, apply)
        service = BY_SERVICE.get()
        clock = self.clock

        def unit(olds: list[bytes | None]) -> list[Any]:
            news = list(apply(olds))
            at_ms = int(clock() * 1000)
            for i in logged:
                old, new = olds[i], news[i]
                if new is KEEP or not _changed(old, new):
                    continue
                news[i] = Logged(new, encode_record(at_ms, old, new, service))
            return news

        return await self.inner.transact(refs, unit)




def _changed(old: bytes | None, new: bytes | None) -> bool:
    """Whether a write changed the item; a set whose members were only reordered is the same set."""
    if old is None or new is None:
        return old is not new
    if old == new:
        return False
    before, after = orjson.loads(old), orjson.loads(new)
    return before != after and _canonical(before) != _canonical(after)


def _canonical(value: Any) -> Any:
    """``value`` with every string, number and binary set sorted, at any depth."""
    if isinstance(value, dict):
        return {k: sorted(v) if k in ("SS", "NS", "BS") and isinstance(v, list) else _canonical(v)
                for k, v in value.items()}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    return value
