"""Cache hits during a TTL sweep: does the sweep hold the event loop?

One process, uvloop: the engine on SQLite under the cache, a table of ``--items`` items with TTL enabled,
98% of TTLs an hour ahead and 2% in the past. While one sweep runs, a hit task issues a cached GetItem every
turn of the loop (each hit waits for the loop to come round, as a request arriving would) and a ticker notes
every gap in the loop. Reported: hit p99 and worst hit (ready to answered),
the longest loop stall in wall time and in the loop thread's own CPU time (which a busy machine's scheduling
does not inflate: it is the work the loop did without yielding). A sweep over TTLs that all lie ahead (the
normal case of a session store) is run sliced and unsliced (how the sweeper behaved before it was
time-sliced), then the real sweep, which deletes the 2%.

    python -m bench.ttl_sweep_stall [--items 100000] [--write]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import statistics
import tempfile
import time
from typing import Any

import orjson

from accelerator.cache import CachedStore
from accelerator.config import CacheConfig
from accelerator.core.protocols import KeyRef
from accelerator.engine import TableEngine, ttl
from accelerator.engine.paging import scan_all
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


async def _measure(cached: CachedStore, sweep: Any) -> dict[str, float]:
    stop = False
    gaps: list[float] = []
    hits: list[float] = []

    cpu_gaps: list[float] = []

    async def ticker() -> None:
        last, last_cpu = time.perf_counter(), time.thread_time()
        while not stop:
            await asyncio.sleep(0)
            now, cpu = time.perf_counter(), time.thread_time()
            gaps.append(now - last)
            cpu_gaps.append(cpu - last_cpu)
            last, last_cpu = now, cpu

    async def hitter() -> None:
        while not stop:  # back to back: each hit waits one turn of the loop, as a request arriving would
            ready = time.perf_counter()
            await asyncio.sleep(0)
            await cached.call("GetItem", HOT)
            hits.append(time.perf_counter() - ready)

    tasks = [asyncio.ensure_future(ticker()), asyncio.ensure_future(hitter())]
    await asyncio.sleep(0)  # both running (each waiting for its next turn) before the sweep starts
    started = time.perf_counter()
    deleted = await sweep()
    took = time.perf_counter() - started
    stop = True
    await asyncio.gather(*tasks)
    hits.sort()
    return {"deleted": deleted, "sweep_s": took, "hits": len(hits),
            "p50_ms": 1000 * statistics.median(hits), "p99_ms": 1000 * hits[int(0.99 * (len(hits) - 1))],
            "max_ms": 1000 * hits[-1], "stall_ms": 1000 * max(gaps), "cpu_ms": 1000 * max(cpu_gaps)}


async def main(args: argparse.Namespace) -> list[tuple[str, dict[str, float]]]:
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        engine = TableEngine(open_storage("sqlite", path=os.path.join(tmp, "db")), ttl_sweep_interval=0)
        cached = CachedStore(engine, CacheConfig())
        await cached.open()
        await _fill(engine, args.items, time.time())
        await cached.call("GetItem", HOT)  # now a hit
        quiet = functools.partial(engine.sweeper._sweep_table, TABLE, "no_such_attribute")  # nothing expired
        runs: list[tuple[str, float, Any]] = [
            ("no sweep (1 s idle)", 0.002, _idle),
            ("nothing expired, sliced (2 ms)", 0.002, quiet),
            ("nothing expired, unsliced", float("inf"), quiet),
            ("2% expired, sliced (2 ms)", 0.002, engine.sweeper.sweep),  # last: it deletes
        ]
        try:
            for label, slice_seconds, sweep in runs:
                ttl.scan_all = functools.partial(scan_all, slice_seconds=slice_seconds)
                out.append((label, await _measure(cached, sweep)))
        finally:
            ttl.scan_all = scan_all
            await cached.close()
    return out


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
        from bench.results import write_section

        write_section("ttl-sweep", text)
