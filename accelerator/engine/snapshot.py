"""One table's items as of one instant, read page by page while writes continue.

Backends with a read snapshot (``Snapshots``) give it directly. On the others (Redis, where nothing holds an
old version), the view is a scan rolled forward with the table's change log: note the log's head, scan
(each item read at some moment of the scan), note the head again; every item the log shows changed between
the two heads is replaced by its last logged image. The result is the table exactly as of the second head.
That needs the table's log to be on while the scan runs; without a change log the view is the plain scan.
"""

from __future__ import annotations

import asyncio
import logging
from bisect import bisect_right
from collections.abc import Callable
from typing import Any

import orjson

from accelerator.core.changelog import CLUSTER_HORIZON_US
from accelerator.core.keys import partition_hash
from accelerator.core.snapshots import Snapshot, Snapshots
from accelerator.core.tables import TableDef

__all__ = ["open_view", "pages", "native", "PAGE", "LOG_SETTLE_SECONDS"]

log = logging.getLogger("accelerator.snapshot")

LOG_SETTLE_SECONDS = CLUSTER_HORIZON_US / 1_000_000 + 0.1
"""After this long, every change committed before a moment is readable from the log on every backend (a Redis
Cluster's log is read only up to its horizon, ``accelerator.core.changelog``)."""

PAGE = 500
"""Items per page: one page is read (and written elsewhere) between two yields to the loop."""


def _levels(storage: Any) -> list[Any]:
    levels = [storage]
    while hasattr(levels[-1], "inner"):
        levels.append(levels[-1].inner)
    return levels


def native(storage: Any) -> bool:
    """Whether the backend under ``storage`` holds read snapshots (else views need the table's log on)."""
    return any(isinstance(level, Snapshots) for level in _levels(storage))


async def open_view(storage: Any, table: TableDef) -> Snapshot:
    """A consistent view of ``table`` through ``storage`` (the engine's stack), fixed when this returns.

    The stack's wrappers are followed through their ``inner`` down to the backend; a wrapper that transforms
    stored values (encryption) opens the snapshot's values with its ``open_value``.
    """
    levels = _levels(storage)
    found = [i for i, level in enumerate(levels) if isinstance(level, Snapshots)]
    if found:
        view: Snapshot = await levels[found[-1]].snapshot(table.name)
        for level in reversed(levels[: found[-1]]):
            opener = getattr(level, "open_value", None)
            if opener is not None:
                view = _Opened(view, table.name, opener)
        return view
    # The log is read through the outermost level, so its records pass every wrapper on the way up (opened when
    # encrypted, like the scanned rows); it exists when the backend keeps one.
    logs = hasattr(levels[-1], "log_head") and hasattr(levels[-1], "read_log")
    return await _RolledForward.open(storage, storage if logs else None, table)


class _Opened:
    """A snapshot whose values pass through a wrapper's ``open_value`` (decryption)."""

    def __init__(self, inner: Snapshot, table: str, opener: Callable[[str, bytes, bytes, bytes], bytes]) -> None:
        self.inner = inner
        self.table = table
        self.opener = opener

    async def scan(self, start: tuple[bytes, bytes] | None, limit: int) -> list[tuple[bytes, bytes, bytes]]:
        return [(pk, sk, self.opener(self.table, pk, sk, v)) for pk, sk, v in await self.inner.scan(start, limit)]

    async def close(self) -> None:
        await self.inner.close()


async def pages(view: Snapshot, limit: int = PAGE) -> Any:
    """Async iterator over the view's pages of (pk, sk, value); yields to the loop between pages."""
    start: tuple[bytes, bytes] | None = None
    while True:
        page = await view.scan(start, limit)
        if not page:
            return
        yield page
        start = page[-1][0], page[-1][1]
        await asyncio.sleep(0)


class _RolledForward:
    """A scan of the live table, corrected with the change log to the instant the scan ended (in memory)."""

    def __init__(self, rows: list[tuple[bytes, bytes, bytes]]) -> None:
        self.rows = rows
        self.keys = [(partition_hash(pk), pk, sk) for pk, sk, _ in rows]

    @classmethod
    async def open(cls, storage: Any, changes: Any, table: TableDef) -> _RolledForward:
        # The whole scan happens here, so the instant is fixed on return; rows are kept as bytes.
        head = await changes.log_head(table.name) if changes is not None else 0
        rows: list[tuple[bytes, bytes, bytes]] = []
        start: tuple[bytes, bytes] | None = None
        while page := await storage.scan(table.name, segment=0, total_segments=1, start=start, limit=PAGE):
            rows.extend(page)
            start = page[-1][0], page[-1][1]
            await asyncio.sleep(0)
        if changes is None:
            return cls(rows)
        if getattr(changes, "clustered", False):  # its head lags the clock: wait until the scan's end is readable
            await asyncio.sleep(LOG_SETTLE_SECONDS)
        end = await changes.log_head(table.name)
        return cls(_merge(rows, await _changes(changes, table, head, end)))

    async def scan(self, start: tuple[bytes, bytes] | None, limit: int) -> list[tuple[bytes, bytes, bytes]]:
        first = 0 if start is None else bisect_right(self.keys, (partition_hash(start[0]), *start))
        return self.rows[first : first + limit]

    async def close(self) -> None:
        self.rows, self.keys = [], []


async def _changes(storage: Any, table: TableDef, after: int, end: int) -> dict[tuple[bytes, bytes], bytes | None]:
    """The last image of every item the log changed in (after, end]: None for a deletion."""
    out: dict[tuple[bytes, bytes], bytes | None] = {}
    position = after
    while position < end:
        page = await storage.read_log(table.name, position, PAGE)
        if not page:
            break
        for seq, data in page:
            if seq > end:
                return out
            record = orjson.loads(data)
            image = record["n"] if record["n"] is not None else record["o"]
            if image is not None:
                out[table.key.key_of_item(image)] = None if record["n"] is None else orjson.dumps(record["n"])
            position = seq
        await asyncio.sleep(0)
    return out


def _merge(rows: list[tuple[bytes, bytes, bytes]],
           changed: dict[tuple[bytes, bytes], bytes | None]) -> list[tuple[bytes, bytes, bytes]]:
    if not changed:
        return rows
    merged = {(pk, sk): value for pk, sk, value in rows}
    for ref, value in changed.items():
        if value is None:
            merged.pop(ref, None)
        else:
            merged[ref] = value
    ordered = sorted(((partition_hash(pk), pk, sk), value) for (pk, sk), value in merged.items())
    return [(pk, sk, value) for (_, pk, sk), value in ordered]
