"""Cache hits during a TTL sweep: does the sweep hold the event loop?

One process, uvloop: the engine on SQLite under the cache, a table of ``--items`` items with TTL enabled,
98% of TTLs an hour ahead and 2% in the past. While one sweep runs, a hit task issues a cached GetItem every
turn of the loop (each hit waits for the loop to come round, as a request arriving would) and a ticker notes
every gap in the loop. Reported: hit p99 and worst hit (ready to answered),
the longest loop stall in wall time and in the loop thread's own CPU time (which a busy machine's scheduling
does not inflate: it is the work the loop did without yielding). A sweep over TTLs that all lie ahead (the
normal case of a session store) is run as shipped (short slices, each followed by a rest so the sweep takes
at most its duty of the loop), sliced without rests and unsliced (how the sweeper behaved before each change),
then the real sweep, which deletes the 2%.

    python -m bench.ttl_sweep_stall [--items 100000] [--write]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import tempfile
import time
from array import array
from typing import Any

import orjson

from accelerator.cache import CachedStore
from accelerator.config import CacheConfig
from accelerator.core.protocols import KeyRef
from accelerator.engine import TableEngine, ttl
from accelerator.engine.paging import HOUSEKEEPING_DUTY, SLICE_SECONDS, scan_all
from backends import open_storage

TABLE = "sessions"
HOT = {"TableName": TABLE, "Key": {"id": {"S": "hot"}}}


async def _fill(engine: TableEngine, items: int, now: float) -> None:
    await engine.call("CreateTable", {"TableName": TABLE, "BillingMode": "PAY_PER_REQUEST",
                                      "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
                                      "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}]})
    await engine.call("UpdateTimeToLive", {"TableName": TABLE, "TimeToLiveSpecification": {
        "Enabled": True, "AttributeName": "exp"}})
    await engine.call("PutItem", {"TableName": TABLE, "Item": {"id": {"S": "hot"}, "exp": {"N": str(now + 3600)}}})
    key_of = engine.storage  # raw storage writes: the engine's per-item path would take minutes for a million
    table = await engine.tables.get(TABLE)
    batch = []
    for i in range(items):
        exp = now - 60 if i % 50 == 0 else now + 3600  # 2% expired
        item = {"id": {"S": f"s{i:08d}"}, "exp": {"N": str(int(exp))}, "data": {"S": "x" * 100}}
        data = orjson.dumps(item)
        batch.append(key_of.transact([KeyRef(TABLE, *table.key.key_of_item(item))],
                                     functools.partial(lambda d, olds: [d], data)))
        if len(batch) == 512:
            await asyncio.gather(*batch)
            batch = []
    await asyncio.gather(*batch)


async def _idle() -> int:
    await asyncio.sleep(1.0)
    return 0


class _Counts:
    """Latencies in 1 µs buckets up to 100 ms (beyond: the last bucket) plus the exact maximum: a sweep of a
    million items sees tens of millions of hits, and the benchmark's own memory and allocations must not grow
    with them (lists of every sample did; whether that caused the one 588 ms stall seen at a million items
    was not pinned down)."""

    SIZE = 100_000

    def __init__(self) -> None:
        self.counts = array("q", bytes(8 * self.SIZE))
        self.n = 0
        self.max = 0.0

    def add(self, seconds: float) -> None:
        self.counts[min(int(seconds * 1e6), self.SIZE - 1)] += 1
        self.n += 1
        if seconds > self.max:
            self.max = seconds

    def quantile(self, q: float) -> float:
        """Nearest rank, in seconds (the bucket's upper edge)."""
        rank, seen = max(1, round(q * self.n)), 0
        for micros, count in enumerate(self.counts):
            seen += count
            if seen >= rank:  # the last bucket holds everything slower: its true figure is the maximum
                return (micros + 1) / 1e6 if micros < self.SIZE - 1 else self.max
        return self.max


async def _measure(cached: CachedStore, sweep: Any) -> dict[str, float]:
    stop = False
    hits = _Counts()
    longest = [0.0, 0.0]  # wall, loop-thread CPU

    async def ticker() -> None:
        last, last_cpu = time.perf_counter(), time.thread_time()
        while not stop:
            await asyncio.sleep(0)
            now, cpu = time.perf_counter(), time.thread_time()
            if now - last > longest[0]:
                longest[0] = now - last
            if cpu - last_cpu > longest[1]:
                longest[1] = cpu - last_cpu
            last, last_cpu = now, cpu

    async def hitter() -> None:
        while not stop:  # back to back: each hit waits one turn of the loop, as a request arriving would
            ready = time.perf_counter()
            await asyncio.sleep(0)
            await cached.call("GetItem", HOT)
            hits.add(time.perf_counter() - ready)

    tasks = [asyncio.ensure_future(ticker()), asyncio.ensure_future(hitter())]
    await asyncio.sleep(0)  # both running (each waiting for its next turn) before the sweep starts
    started = time.perf_counter()
    deleted = await sweep()
    took = time.perf_counter() - started
    stop = True
    await asyncio.gather(*tasks)
    return {"deleted": deleted, "sweep_s": took, "hits": hits.n,
            "p50_ms": 1000 * hits.quantile(0.5), "p99_ms": 1000 * hits.quantile(0.99),
            "max_ms": 1000 * hits.max, "stall_ms": 1000 * longest[0], "cpu_ms": 1000 * longest[1]}


async def main(args: argparse.Namespace) -> list[tuple[str, dict[str, float]]]:
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        engine = TableEngine(open_storage("sqlite", path=os.path.join(tmp, "db")), ttl_sweep_interval=0)
        cached = CachedStore(engine, CacheConfig())
        await cached.open()
        await _fill(engine, args.items, time.time())
        await cached.call("GetItem", HOT)  # now a hit
        quiet = functools.partial(engine.sweeper._sweep_table, TABLE, "no_such_attribute")  # nothing expired
        shipped = {"slice_seconds": SLICE_SECONDS, "duty": HOUSEKEEPING_DUTY}
        runs: list[tuple[str, dict[str, float], Any]] = [
            ("no sweep (1 s idle)", shipped, _idle),
            (f"nothing expired, as shipped ({_how(shipped)})", shipped, quiet),
            ("nothing expired, sliced, no rests (the sweeper before rests)", {"slice_seconds": 0.002, "duty": 1.0}, quiet),
            ("nothing expired, unsliced (the sweeper before slices)", {"slice_seconds": float("inf")}, quiet),
            (f"2% expired, as shipped ({_how(shipped)})", shipped, engine.sweeper.sweep),  # last: it deletes
        ]
        try:
            for label, options, sweep in runs:
                ttl.scan_all = functools.partial(scan_all, **options)
                out.append((label, await _measure(cached, sweep)))
        finally:
            ttl.scan_all = scan_all
            await cached.close()
    return out


def _how(options: dict[str, float]) -> str:
    return f"{options['slice_seconds'] * 1000:g} ms slices, {options['duty']:.0%} duty"


def markdown(args: argparse.Namespace, rows: list[tuple[str, dict[str, float]]]) -> str:
    lines = ["## Cache hits during a TTL sweep", "",
             f"`python -m bench.ttl_sweep_stall --items {args.items}`: SQLite, one process, {args.items:,} items "
             "(2% with a TTL in the past), cached GetItems back to back (one loop turn apart) during one sweep; a hit's latency "
             "runs from when it is ready to its answer. The stall in CPU time is the loop thread's own work between two "
             "turns; wall-time figures include the machine's scheduling (the idle row shows its noise).", "",
             "| sweep | items deleted | sweep s | hits | hit p50 ms | hit p99 ms | worst hit ms | longest stall ms | longest stall, CPU ms |",
             "|---|---|---|---|---|---|---|---|---|"]
    for label, r in rows:
        lines.append(f"| {label} | {r['deleted']:,.0f} | {r['sweep_s']:.2f} | {r['hits']:,.0f} | {r['p50_ms']:.3f} "
                     f"| {r['p99_ms']:.3f} | {r['max_ms']:.2f} | {r['stall_ms']:.2f} | {r['cpu_ms']:.2f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    import uvloop

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--write", action="store_true", help="write the section into bench/RESULTS.md")
    options = parser.parse_args()
    results = uvloop.run(main(options))
    text = markdown(options, results)
    print(text)
    if options.write:
        from loadtest.results_md import write_section

        write_section("ttl-sweep", text)
