"""scan_all: every row once, and the event loop gets a turn whenever a slice of work is used up."""

from __future__ import annotations

import asyncio

from accelerator.core.keys import KeySchema
from accelerator.core.protocols import KeyRef
from accelerator.core.tables import TableDef
from accelerator.engine.paging import MAX_REST, scan_all
from backends.memory import MemoryStorage


async def _filled(rows: int) -> MemoryStorage:
    storage = MemoryStorage()
    await storage.open()
    await storage.create_table(TableDef("t", KeySchema("pk", "S"), (("pk", "S"),), created=0.0))
    for i in range(rows):
        await storage.transact([KeyRef("t", f"k{i}".encode(), b"")], lambda _old, i=i: [str(i).encode()])
    return storage


def test_every_row_once_across_pages() -> None:
    async def run() -> list[bytes]:
        storage = await _filled(25)
        return [value async for page in scan_all(storage, "t", page=4) for _pk, _sk, value in page]

    values = asyncio.run(run())
    assert sorted(values) == sorted(str(i).encode() for i in range(25))


def test_empty_table_yields_no_page() -> None:
    async def run() -> list[object]:
        storage = await _filled(0)
        return [page async for page in scan_all(storage, "t")]

    assert asyncio.run(run()) == []


def test_yields_to_the_loop_when_the_slice_is_used() -> None:
    """The memory backend never suspends in scan: only scan_all's own yield lets the other task run. A fake clock
    that advances one slice per reading makes every page boundary a yield; a clock that stands still, none."""

    async def turns(clock_step: float) -> int:
        storage = await _filled(40)
        now = [0.0]

        def clock() -> float:
            now[0] += clock_step
            return now[0]

        ticks = [0]
        stop = asyncio.Event()

        async def other() -> None:
            while not stop.is_set():
                ticks[0] += 1
                await asyncio.sleep(0)

        task = asyncio.ensure_future(other())
        await asyncio.sleep(0)  # let it start
        before = ticks[0]
        async for _page in scan_all(storage, "t", page=4, slice_seconds=0.002, clock=clock):
            pass
        during = ticks[0] - before
        stop.set()
        await task
        return during

    assert asyncio.run(turns(0.0)) == 0
    assert asyncio.run(turns(0.002)) >= 9  # 40 rows in pages of 4: a yield after each full page


def _rests(duty: float, cpu_step: float, wall_step: float = 0.001) -> list[float]:
    """The rests scan_all takes over 40 rows in pages of 4 with a wall clock that moves one slice per reading
    and a loop-thread CPU clock that moves ``cpu_step`` per reading (no real time passes)."""
    wall, cpu = [0.0], [0.0]

    def clock() -> float:
        wall[0] += wall_step
        return wall[0]

    def cpu_clock() -> float:
        cpu[0] += cpu_step
        return cpu[0]

    rests: list[float] = []

    async def sleep(seconds: float) -> None:
        rests.append(seconds)

    async def run() -> None:
        storage = await _filled(40)
        async for _page in scan_all(storage, "t", page=4, slice_seconds=0.001, duty=duty, clock=clock,
                                    cpu_clock=cpu_clock, sleep=sleep):
            pass

    asyncio.run(run())
    return rests


def test_rests_keep_the_scan_to_its_duty_of_the_loop() -> None:
    """Each slice is followed by a rest of busy * (1 - duty) / duty: a quarter duty rests three times the slice,
    a full duty only gives a turn; busy time is the loop thread's CPU, so a scan whose backend made it wait
    (CPU standing still) is not made to rest for the wait."""
    quarter = _rests(0.25, cpu_step=0.001)
    assert len(quarter) >= 9 and all(abs(r - 0.003) < 1e-9 for r in quarter)
    assert all(r == 0.0 for r in _rests(1.0, cpu_step=0.001))
    assert all(r == 0.0 for r in _rests(0.25, cpu_step=0.0))
    half_busy = _rests(0.5, cpu_step=0.0005)  # the loop thread was busy half the slice
    assert half_busy and all(abs(r - 0.0005) < 1e-9 for r in half_busy)
    stalled = _rests(0.25, cpu_step=5.0, wall_step=5.0)  # a five-second slice of a busy loop
    assert stalled and all(r == MAX_REST for r in stalled), "the rest is bounded"


def test_a_duty_outside_zero_to_one_is_refused() -> None:
    import pytest

    async def run(duty: float) -> None:
        storage = await _filled(1)
        async for _page in scan_all(storage, "t", duty=duty):
            pass

    for duty in (0.0, -0.5, 1.5):
        with pytest.raises(ValueError, match="duty must be in"):
            asyncio.run(run(duty))
