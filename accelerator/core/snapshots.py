"""Consistent reads of a whole table as of one instant, for backups and exports, while writes continue.

A storage backend that can hold a read snapshot (SQLite's WAL read transaction, PostgreSQL's REPEATABLE READ,
a copy in memory) implements ``Snapshots``; the engine falls back to a scan rolled forward with the change
log on backends that cannot (see ``accelerator.engine.snapshot``)::

    view = await storage.snapshot("Orders")       # the instant is fixed when this returns
    try:
        start = None
        while page := await view.scan(start, 500):   # [(pk, sk, value), ...] in scan order
            start = page[-1][:2]
    finally:
        await view.close()
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

__all__ = ["Snapshot", "Snapshots"]


class Snapshot(Protocol):
    """One table as it was when the snapshot was taken."""

    async def scan(self, start: tuple[bytes, bytes] | None, limit: int) -> list[tuple[bytes, bytes, bytes]]:
        """Up to ``limit`` (pk, sk, value) strictly after ``start`` in scan order; [] at the end."""

    async def close(self) -> None:
        """Release what holds the snapshot (a connection, a read transaction)."""


@runtime_checkable
class Snapshots(Protocol):
    """A storage backend that can fix a table's contents as of now and read them later."""

    async def snapshot(self, table: str) -> Snapshot:
        """A view of ``table`` as of this call (an empty view if the table has no items)."""
