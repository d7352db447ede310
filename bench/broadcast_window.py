"""How long another node's cache serves the old item after a write: the cross-node broadcast's staleness window.

    python -m bench.broadcast_window                 # every case, 300 writes each; prints the table
    python -m bench.broadcast_window --write         # and writes bench/RESULTS.md (section broadcast-window)

Two accelerator processes (A and B) share one store and one broadcast channel, both with the cache on and an
hour of item TTL, so B's copy can only go away by the broadcast. For each write: B reads the key until it
answers from its cache (``x-accelerator-cache: hit``), A writes a new value, and from the moment A's answer
arrives B is read back to back until it returns the new value. The window is that time (it includes the last
read's own round trip, given as "read round trip"); "stale reads" are B's answers with the old value after A
had acknowledged. Without a broadcast B would serve the old item until its TTL.

Cases: ``postgres-notify`` (PostgreSQL backend, ``broadcast = "postgres"``: LISTEN/NOTIFY on its database),
``postgres-redis`` (PostgreSQL backend, Redis pub/sub), ``redis-redis`` (Redis backend, Redis pub/sub).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import orjson

from bench.compare import PG_DSN, REDIS_URL, Processes
from loadtest.process import free_port
from loadtest.results_md import wrap, write_section
from loadtest.wire import Connection

CASES: dict[str, tuple[str, str]] = {  # name: (backend kind, broadcast)
    "postgres-notify": ("postgres", "postgres"),
    "postgres-redis": ("postgres", REDIS_URL),
    "redis-redis": ("redis", REDIS_URL),
}
TABLE = "bench_broadcast"
WARM_LIMIT = 30.0  # seconds for both nodes' subscriptions to carry a first write


def _config(path: Path, port: int, kind: str, tag: str, broadcast: str) -> Path:
    backend = {"postgres": f'dsn = "{PG_DSN}"\nschema = "{tag}"', "redis": f'url = "{REDIS_URL}"\nprefix = "{tag}"'}
    path.write_text(f'[server]\nhost = "127.0.0.1"\nport = {port}\n\n[backend]\nkind = "{kind}"\n{backend[kind]}\n\n'
                    f'[cache]\nenabled = true\nitem_ttl = 3600\nbroadcast = "{broadcast}"\n'
                    f'broadcast_channel = "bench:{tag}"\n')
    return path


class Node:
    def __init__(self, port: int) -> None:
        self.conn = Connection(f"http://127.0.0.1:{port}")

    def call(self, op: str, request: dict[str, Any]) -> tuple[dict[str, Any], str]:
        reply = self.conn.request(op, orjson.dumps(request))
        if reply.status != 200:
            raise RuntimeError(f"{op}: HTTP {reply.status} {reply.body[:200]!r}")
        return orjson.loads(reply.body) if reply.body else {}, reply.headers.get("x-accelerator-cache", "")

    def value(self, key: str) -> tuple[str | None, str]:
        body, cache = self.call("GetItem", {"TableName": TABLE, "Key": {"pk": {"S": key}}})
        item = body.get("Item")
        return (item["v"]["S"] if item else None), cache

    def put(self, key: str, value: str) -> None:
        self.call("PutItem", {"TableName": TABLE, "Item": {"pk": {"S": key}, "v": {"S": value}}})


def _measure(a: Node, b: Node, samples: int, keys: int, label: str) -> dict[str, float]:
    a.call("CreateTable", {"TableName": TABLE, "BillingMode": "PAY_PER_REQUEST",
                           "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                           "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}]})
    deadline = time.monotonic() + WARM_LIMIT
    for key in (f"k{i}" for i in range(keys)):  # each key cached on B, then seen to change there once
        for warm in ("warm", "warm2"):
            a.put(key, warm)
            while b.value(key)[0] != warm:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{label}: B never saw A's write (is its broadcast subscribed?)")
    windows, stale, trips = [], 0, []
    for i in range(samples):
        key = f"k{i % keys}"
        while True:  # B answers from its cache: the copy the broadcast must remove
            started = time.perf_counter()
            _, cache = b.value(key)
            trips.append(time.perf_counter() - started)
            if cache == "hit":
                break
        new = f"v{i}"
        a.put(key, new)
        acked = time.perf_counter()
        while b.value(key)[0] != new:
            stale += 1
        windows.append(time.perf_counter() - acked)
        if (i + 1) % 50 == 0 or i + 1 == samples:
            print(f"\r{label}: {i + 1}/{samples} writes", end="", flush=True)
    print()
    windows.sort()
    return {"p50": statistics.median(windows), "p99": windows[min(len(windows) - 1, int(len(windows) * 0.99))],
            "max": windows[-1], "stale": stale / samples, "trip": statistics.median(trips), "n": samples}


async def _cleanup(kind: str, tag: str) -> None:
    if kind == "postgres":
        import asyncpg

        conn = await asyncpg.connect(PG_DSN)
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{tag}" CASCADE')
        finally:
            await conn.close()
    else:
        import redis.asyncio as aioredis

        client = aioredis.from_url(REDIS_URL)
        keys = [k async for k in client.scan_iter(match=f"{tag}:*", count=1000)]
        for i in range(0, len(keys), 500):
            await client.unlink(*keys[i:i + 500])
        await client.aclose()


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.broadcast_window", description=__doc__.split("\n")[0])
    p.add_argument("--samples", type=int, default=300, help="writes per case")
    p.add_argument("--keys", type=int, default=20, help="keys the writes go round")
    p.add_argument("--cases", default=",".join(CASES), help=f"some of {', '.join(CASES)}")
    p.add_argument("--write", action="store_true", help="write the table into bench/RESULTS.md")
    args = p.parse_args(argv)
    unknown = [c for c in args.cases.split(",") if c not in CASES]
    if unknown:
        p.error(f"unknown case {unknown[0]!r} (known: {', '.join(CASES)})")
    load_before, started = os.getloadavg()[0], time.time()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.cases.split(","):
            kind, broadcast = CASES[name]
            tag = f"bb{uuid.uuid4().hex[:8]}"
            procs = Processes(Path(tmp))
            try:
                ports = [free_port(), free_port()]
                for node, port in zip("ab", ports, strict=True):
                    config = _config(Path(tmp) / f"{name}-{node}.toml", port, kind, tag, broadcast)
                    procs.start(f"{name}-{node}", [sys.executable, "-m", "accelerator.cli", "serve", "--config",
                                                   str(config), "--log-level", "warning"], port, None,
                                health="/health")
                a, b = Node(ports[0]), Node(ports[1])
                rows.append((name, _measure(a, b, args.samples, args.keys, name)))
            finally:
                procs.stop_all()
                asyncio.run(_cleanup(kind, tag))
    lines = [f"Staleness window of the cross-node broadcast: node A writes, node B (cache on, item TTL an hour) is "
             f"read back to back from A's acknowledgement until it answers the new value; {args.samples} writes "
             f"over {args.keys} keys per case (`python -m bench.broadcast_window`); measured "
             f"{time.strftime('%Y-%m-%d %H:%M', time.gmtime(started))} UTC, load average {load_before:.1f} before "
             "the run:", "",
             "| case | backend | broadcast | window p50 ms | p99 ms | max ms | stale reads per write | "
             "read round trip ms |", "|---|---|---|---:|---:|---:|---:|---:|"]
    for name, r in rows:
        kind, broadcast = CASES[name]
        channel = "LISTEN/NOTIFY" if broadcast == "postgres" else "Redis pub/sub"
        lines.append(f"| {name} | {kind} | {channel} | {r['p50'] * 1000:.2f} | {r['p99'] * 1000:.2f} | "
                     f"{r['max'] * 1000:.2f} | {r['stale']:.2f} | {r['trip'] * 1000:.2f} |")
    body = "\n".join(lines) + "\n"
    print(body)
    if args.write:
        write_section("broadcast-window", "## Broadcast staleness window\n\n" + wrap("broadcast-window-table", body))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
