"""Storage-level latency of each backend: what a cache miss costs below the accelerator.

    .venv/bin/python -m bench.backend_latency                    # every backend that is reachable
    .venv/bin/python -m bench.backend_latency --n 5000 --backends postgres,redis

One coroutine, one request at a time, straight on the ``Storage`` API (no HTTP, no cache): p50/p99 of
``get`` (1,000 single-item partitions, ~250-byte items, random order), of a 20-item ``query`` (one
2,000-item partition, random start) and of a single-key ``transact`` (a put). PostgreSQL and Redis use
their own schema / key prefix, dropped afterwards; redis-cluster is a throwaway 3-node cluster on free
ports (needs ``redis-server``). A backend that cannot be reached is reported and skipped.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

from accelerator.core.errors import BackendUnavailable
from accelerator.core.keys import KeySchema
from accelerator.core.protocols import Bound, KeyRef, Storage
from accelerator.core.tables import TableDef
from backends import open_storage

PG_DSN = os.environ.get("ACCEL_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("ACCEL_REDIS_URL", "redis://127.0.0.1:6379/0")
TABLE = TableDef(
    name="bench", key=KeySchema("pk", "S", "sk", "S"), attribute_definitions=(("pk", "S"), ("sk", "S")), created=1.0
)
ITEM = b'{"pk":{"S":"user#00000"},"sk":{"S":"profile"},"payload":{"S":"' + b"x" * 180 + b'"}}'
PARTITIONS = 1000
WIDE = 2000
TAG = f"bench_{os.getpid()}"


@asynccontextmanager
async def _opened(kind: str, drop: bool = False, **options: Any) -> AsyncIterator[Storage]:
    storage = open_storage(kind, **options)
    await storage.open()
    try:
        yield storage
    finally:
        if drop:
            await storage.drop()  # type: ignore[attr-defined]
        await storage.close()


@asynccontextmanager
async def _redis_cluster() -> AsyncIterator[Storage]:
    from tests.redis_cluster import LocalCluster

    cluster = await asyncio.to_thread(lambda: LocalCluster().start())
    try:
        async with _opened("redis-cluster", drop=True, cluster_nodes=cluster.nodes, prefix=TAG) as storage:
            yield storage
    finally:
        cluster.stop()


def _targets(tmp: Path) -> dict[str, Callable[[], AbstractAsyncContextManager[Storage]]]:
    return {
        "memory": lambda: _opened("memory"),
        "sqlite": lambda: _opened("sqlite", path=tmp / "bench.db"),
        "postgres": lambda: _opened("postgres", drop=True, dsn=PG_DSN, schema=TAG, pool_size=2),
        "redis": lambda: _opened("redis", drop=True, url=REDIS_URL, prefix=TAG, pool_size=2),
        "redis-cluster": _redis_cluster,
    }


async def _fill(storage: Storage) -> None:
    await storage.create_table(TABLE)

    async def put(pk: bytes, sk: bytes) -> None:
        await storage.transact([KeyRef("bench", pk, sk)], lambda _old: [ITEM])

    for n in range(0, PARTITIONS, 100):
        await asyncio.gather(*(put(b"user#%05d" % i, b"profile") for i in range(n, n + 100)))
    for n in range(0, WIDE, 100):
        await asyncio.gather(*(put(b"wide", b"event#%06d" % i) for i in range(n, n + 100)))


async def _timed(n: int, call: Callable[[int], Awaitable[Any]]) -> list[float]:
    for i in range(min(200, n)):  # warm up connections and statement caches
        await call(i)
    out = []
    for i in range(n):
        t0 = time.perf_counter_ns()
        await call(i)
        out.append((time.perf_counter_ns() - t0) / 1000)
    return out


def _pct(samples: list[float], q: int) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[q - 1] if len(samples) > 1 else samples[0]


async def measure(storage: Storage, n: int) -> dict[str, list[float]]:
    await _fill(storage)
    rng = random.Random(1)
    keys = [b"user#%05d" % rng.randrange(PARTITIONS) for _ in range(n)]
    starts = [b"event#%06d" % rng.randrange(WIDE - 20) for _ in range(n)]

    async def get(i: int) -> None:
        assert await storage.get("bench", keys[i], b"profile") == ITEM

    async def query(i: int) -> None:
        rows = await storage.query(
            "bench", b"wide", lo=Bound(starts[i], True), hi=None, forward=True, start=None, limit=20
        )
        assert len(rows) == 20

    async def put(i: int) -> None:
        await storage.transact([KeyRef("bench", keys[i], b"profile")], lambda _old: [ITEM])

    return {"get": await _timed(n, get), "query20": await _timed(n // 2, query), "put": await _timed(n // 2, put)}


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=3000, help="gets per backend (queries and puts: half)")
    parser.add_argument("--backends", default="memory,sqlite,postgres,redis,redis-cluster")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="accel-bench-") as tmp:
        targets = _targets(Path(tmp))
        for name in args.backends.split(","):
            try:
                async with targets[name]() as storage:
                    results = await measure(storage, args.n)
            except (BackendUnavailable, OSError, RuntimeError) as exc:
                print(f"{name}: skipped ({exc})", file=sys.stderr)
                continue
            rows.append((name, results))
    print(f"{'backend':<14}" + "".join(f"{op + ' p50':>13}{op + ' p99':>13}" for op in ("get", "query20", "put")))
    for name, results in rows:
        cells = "".join(
            f"{_pct(results[op], 50):>10.0f} µs{_pct(results[op], 99):>10.0f} µs" for op in ("get", "query20", "put")
        )
        print(f"{name:<14}{cells}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
