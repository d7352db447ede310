"""Writes at the store's speed: PutItem and UpdateItem throughput through the accelerator vs the driver's own
durable write of one key.

    python -m bench.write_throughput                 # sqlite, postgres, redis; 5 s per row; prints the table
    python -m bench.write_throughput --write         # and writes bench/RESULTS.md (section write-throughput)

Side by side in one run, at the same concurrency (``--connections``, 32): wrk sends PutItem of new ~100-byte
items (``putitem.lua``), then UpdateItem of keys drawn from 50,000 (``updateitem.lua``: a key's first update
creates it, later ones read and change it), to the accelerator (cache on) for each backend; the driver rows are
what the store gives a Python process for one key's durable write with the same concurrency (32 tasks on one
event loop): asyncpg's upsert in a transaction on a pool of the accelerator's size, redis-py's SET. The ratio is
accelerator / driver. An UpdateItem also reads the item first (it must, to apply the expression), so it does
more than the driver's row.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench.compare import PG_DSN, REDIS_URL, Processes, _accel_config
from loadtest.process import ROOT, free_port
from loadtest.results_md import wrap, write_section

BACKENDS: dict[str, dict[str, Any]] = {
    "sqlite": {},
    "postgres": {"dsn": PG_DSN, "schema": f"bench_w{uuid.uuid4().hex[:6]}"},
    "redis": {"url": REDIS_URL, "prefix": f"bw{uuid.uuid4().hex[:6]}"},
}
PG_POOL = 10
RMW_KEYS = 50_000  # as updateitem.lua draws its keys


SCRIPTS = {"PutItem": "putitem.lua", "UpdateItem": "updateitem.lua"}


def _wrk(url: str, table: str, connections: int, seconds: float, operation: str) -> dict[str, float]:
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds:g}s", "--latency", "-s",
                          str(ROOT / "bench" / SCRIPTS[operation]), url],
                         capture_output=True, text=True, env={"WRK_TABLE": table, "PATH": "/usr/bin:/bin"},
                         check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rate": rate, "p50_ms": _latency(out, "50%"), "p99_ms": _latency(out, "99%"),
            "errors": float(errors.group(1)) if errors else 0.0}


def _latency(out: str, pct: str) -> float:
    m = re.search(rf"{re.escape(pct)}\s+([\d.]+)(us|ms|s)", out)
    if m is None:
        return float("nan")
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
    return float(m.group(1)) * scale


def _create_table(url: str, table: str) -> None:
    import urllib.request

    body = (f'{{"TableName":"{table}","BillingMode":"PAY_PER_REQUEST","KeySchema":[{{"AttributeName":"pk",'
            f'"KeyType":"HASH"}}],"AttributeDefinitions":[{{"AttributeName":"pk","AttributeType":"S"}}]}}').encode()
    req = urllib.request.Request(url, data=body, method="POST", headers={
        "X-Amz-Target": "DynamoDB_20120810.CreateTable", "Content-Type": "application/x-amz-json-1.0"})
    with urllib.request.urlopen(req, timeout=30):
        pass


async def _driver_pg(connections: int, seconds: float, rmw: bool = False) -> float:
    """One key's upsert in a transaction; ``rmw``: the key (one of ``RMW_KEYS``) read FOR UPDATE first."""
    import asyncpg

    pool = await asyncpg.create_pool(PG_DSN, min_size=PG_POOL, max_size=PG_POOL)
    name = f"bench_drv_{uuid.uuid4().hex[:8]}"
    await pool.execute(f"CREATE TABLE {name} (k text PRIMARY KEY, v bytea NOT NULL)")
    done = 0
    end = time.perf_counter() + seconds
    value = b"x" * 100

    async def worker(w: int) -> None:
        nonlocal done
        i = 0
        while time.perf_counter() < end:
            i += 1
            key = f"u{random.randint(1, RMW_KEYS)}" if rmw else f"{w}-{i}"
            async with pool.acquire() as conn, conn.transaction():
                if rmw:
                    await conn.fetchval(f"SELECT v FROM {name} WHERE k = $1 FOR UPDATE", key)
                await conn.execute(f"INSERT INTO {name} (k, v) VALUES ($1, $2) "
                                   "ON CONFLICT (k) DO UPDATE SET v = excluded.v", key, value)
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(connections)))
    rate = done / (time.perf_counter() - started)
    await pool.execute(f"DROP TABLE {name}")
    await pool.close()
    return rate


CAS = """if redis.call('GET', KEYS[1]) == (ARGV[1] ~= '' and ARGV[1] or false) then
  redis.call('SET', KEYS[1], ARGV[2]) return 1 end return 0"""


async def _driver_redis(connections: int, seconds: float, rmw: bool = False) -> float:
    """One key's SET; ``rmw``: GET the key (one of ``RMW_KEYS``), then a compare-and-set script (two round
    trips, as an optimistic read-modify-write needs; a lost race is counted and not retried)."""
    import redis.asyncio as aioredis

    client = aioredis.from_url(REDIS_URL, max_connections=connections)
    cas = client.register_script(CAS)
    prefix = f"bench_drv_{uuid.uuid4().hex[:8]}:"
    done = 0
    end = time.perf_counter() + seconds
    value = b"x" * 100

    async def worker(w: int) -> None:
        nonlocal done
        i = 0
        while time.perf_counter() < end:
            i += 1
            if rmw:
                key = f"{prefix}u{random.randint(1, RMW_KEYS)}"
                old = await client.get(key)
                await cas(keys=[key], args=[old or b"", value])
            else:
                await client.set(f"{prefix}{w}-{i}", value)
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(connections)))
    rate = done / (time.perf_counter() - started)
    keys = [k async for k in client.scan_iter(match=prefix + "*", count=1000)]
    for i in range(0, len(keys), 1000):
        await client.delete(*keys[i:i + 1000])
    await client.aclose()
    return rate


def _hiredis() -> bool:
    """Whether redis-py parses with hiredis here (it does whenever hiredis is installed, as the redis extra does)."""
    try:
        from redis.utils import HIREDIS_AVAILABLE
    except ImportError:
        return False
    return bool(HIREDIS_AVAILABLE)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.write_throughput", description=__doc__.split("\n")[0])
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--backends", default="sqlite,postgres,redis")
    p.add_argument("--operations", default="PutItem,UpdateItem", help="some of " + ", ".join(SCRIPTS))
    p.add_argument("--write", action="store_true")
    args = p.parse_args(argv)
    operations = args.operations.split(",")
    if any(op not in SCRIPTS for op in operations):
        p.error(f"--operations takes {', '.join(SCRIPTS)}")
    started, load_before = time.time(), os.getloadavg()[0]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        procs = Processes(Path(tmp))
        try:
            for kind in args.backends.split(","):
                port = free_port()
                config = _accel_config(Path(tmp) / f"{kind}.toml", port, kind, BACKENDS[kind])
                procs.start(kind, [sys.executable, "-m", "accelerator.cli", "serve", "--config", str(config),
                                   "--log-level", "warning"], port, None, health="/health")
                url = f"http://127.0.0.1:{port}"
                results = {}
                for operation in operations:
                    table = f"bench_writes_{uuid.uuid4().hex[:6]}"
                    _create_table(url, table)
                    print(f"{kind}: wrk -c{args.connections} {operation} for {args.seconds:g}s ...", flush=True)
                    results[operation] = _wrk(url, table, args.connections, args.seconds, operation)
                drivers: dict[str, float | None] = {op: None for op in operations}
                measure = {"postgres": _driver_pg, "redis": _driver_redis}.get(kind)
                if measure is not None:
                    write = asyncio.run(measure(args.connections, args.seconds))
                    drivers = {op: write for op in operations}
                    if "UpdateItem" in operations:
                        drivers["rmw"] = asyncio.run(measure(args.connections, args.seconds, rmw=True))
                rows += [(kind, operation, accel, drivers[operation], drivers.get("rmw") if operation == "UpdateItem"
                          else None) for operation, accel in results.items()]
        finally:
            procs.stop_all()
    load = os.getloadavg()[0]
    lines = [f"PutItem of new ~100-byte items and UpdateItem (SET of two attributes) of keys drawn from 50,000, "
             f"{args.connections} connections (wrk), cache on, "
             f"{args.seconds:g} s per row (`python -m bench.write_throughput`); measured "
             f"{time.strftime('%Y-%m-%d %H:%M', time.gmtime(started))} UTC, load average {load_before:.1f} before "
             f"the run and {load:.1f} after it:", "",
             "| backend | operation | accelerator writes/s | p50 ms | p99 ms | driver writes/s (one key's durable "
             "write) | ratio | driver read-modify-writes/s | ratio |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    driver_names = {"postgres": f"asyncpg upsert in a transaction, pool {PG_POOL}",
                    "redis": "redis-py SET" + (", hiredis parser" if _hiredis() else "")}
    for kind, operation, accel, driver, rmw in rows:
        drv = f"{driver:,.0f} ({driver_names[kind]})" if driver else "–"
        ratio = f"{accel['rate'] / driver:.2f}×" if driver else "–"
        rmw_text = f"{rmw:,.0f} | {accel['rate'] / rmw:.2f}×" if rmw else "– | –"
        lines.append(f"| {kind} | {operation} | {accel['rate']:,.0f} | {accel['p50_ms']:.1f} | "
                     f"{accel['p99_ms']:.1f} | {drv} | {ratio} | {rmw_text} |")
        if accel["errors"]:
            lines.append(f"| ({kind} {operation}: {accel['errors']:.0f} non-2xx answers) | | | | | | | | |")
    verdicts = [f"- {kind} c{args.connections} {operation}: {accel['rate'] / driver:.2f}× the driver's write (target "
                f"≥ 0.5×): {'met' if accel['rate'] >= 0.5 * driver else 'NOT met'}"
                + (f"; {accel['rate'] / rmw:.2f}× the driver's own read-modify-write" if rmw else "")
                for kind, operation, accel, driver, rmw in rows if driver]
    if verdicts:
        lines += ["", *verdicts]
    body = "\n".join(lines) + "\n"
    print(body)
    if args.write:
        write_section("write-throughput", "## Write throughput\n\n" + wrap("write-throughput-table", body))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
