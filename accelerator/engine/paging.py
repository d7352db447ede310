"""Paging through a whole storage table in the background without holding the event loop.

Background jobs (TTL sweeps, index backfills, recovery of unfinished backfills) read every row of a table. A
backend whose reads complete inline (SQLite, memory) never suspends inside ``scan``, so a plain loop over
pages would run a whole table in one step of the event loop; ``scan_all`` gives the loop back whenever a
slice of work has lasted ``slice_seconds`` (DESIGN.md: background work yields at least every couple of ms).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

from accelerator.core.protocols import Storage

__all__ = ["scan_all", "PAGE", "SLICE_SECONDS"]

PAGE = 256
SLICE_SECONDS = 0.002

Row = tuple[bytes, bytes, bytes]


async def scan_all(storage: Storage, table: str, *, page: int = PAGE, slice_seconds: float = SLICE_SECONDS,
                   clock: Callable[[], float] = time.perf_counter) -> AsyncIterator[list[Row]]:
    """Every row of ``table`` in the storage's scan order, a page at a time; the consumer's work on a page
    counts towards the slice, so a slow consumer is sliced too."""
    start: tuple[bytes, bytes] | None = None
    began = clock()
    while True:
        rows = await storage.scan(table, segment=0, total_segments=1, start=start, limit=page)
        if rows:
            yield rows
        if len(rows) < page:
            return
        start = rows[-1][0], rows[-1][1]
        if clock() - began >= slice_seconds:
            await asyncio.sleep(0)
            began = clock()
