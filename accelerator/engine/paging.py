"""Paging through a whole storage table in the background without holding the event loop.

Background jobs (TTL sweeps, index backfills, recovery of unfinished backfills) read every row of a table. A
backend whose reads complete inline (SQLite, memory) never suspends inside ``scan``, so a plain loop over
pages would run a whole table in one step of the event loop; ``scan_all`` gives the loop back whenever a
slice of work has lasted ``slice_seconds`` (DESIGN.md: background work yields at least every couple of ms).

Yielding alone is not enough: with ``sleep(0)`` the job takes its next slice on the very next turn, so under
load every request waits behind a slice (measured: a quiet TTL sweep of 100,000 items put a whole slice in
front of nearly every hit). After each slice the job therefore rests so that it uses at most ``duty`` of the
loop's time; requests that arrive while it rests run at full speed, and only the few that land during a
slice wait, by at most one slice.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from accelerator.core.protocols import Storage

__all__ = ["scan_all", "PAGE", "SLICE_SECONDS", "DUTY", "HOUSEKEEPING_DUTY", "MAX_REST"]

PAGE = 128
SLICE_SECONDS = 0.001
DUTY = 0.5  # the share of the loop a background scan may take; its rests are sized from its slices
# TTL sweeps and recounts: nobody waits for them (DynamoDB itself deletes expired items within days).
HOUSEKEEPING_DUTY = 0.25
MAX_REST = 1.0  # a loop busy for a long slice slows a scan down, but never stops it

Row = tuple[bytes, bytes, bytes]


async def scan_all(storage: Storage, table: str, *, page: int = PAGE, slice_seconds: float = SLICE_SECONDS,
                   duty: float = DUTY, clock: Callable[[], float] = time.perf_counter,
                   cpu_clock: Callable[[], float] = time.thread_time,
                   sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> AsyncIterator[list[Row]]:
    """Every row of ``table`` in the storage's scan order, a page at a time; the consumer's work on a page
    counts towards the slice, so a slow consumer is sliced too.

    After a slice the scan rests ``busy * (1 - duty) / duty`` seconds (``duty`` 1: only a turn of the loop),
    (at most ``MAX_REST``), where ``busy`` is the loop thread's CPU time over the slice, capped by its wall
    time: a backend whose
    reads wait on the network has kept the loop free meanwhile and is not made to rest for it, while CPU
    that other requests spent during the slice counts, so a busy loop slows the scan down."""
    if not 0 < duty <= 1:
        raise ValueError(f"duty must be in (0, 1], not {duty!r}")
    rest_per_second = (1 - duty) / duty
    start: tuple[bytes, bytes] | None = None
    began, began_cpu = clock(), cpu_clock()
    while True:
        rows = await storage.scan(table, segment=0, total_segments=1, start=start, limit=page)
        if rows:
            yield rows
        if len(rows) < page:
            return
        start = rows[-1][0], rows[-1][1]
        used = clock() - began
        if used >= slice_seconds:
            await sleep(min(MAX_REST, min(used, cpu_clock() - began_cpu) * rest_per_second))
            began, began_cpu = clock(), cpu_clock()
