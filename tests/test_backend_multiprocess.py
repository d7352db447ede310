"""Two processes sharing one PostgreSQL schema / Redis prefix through the storage contract.

Counter: each process runs N increments of one key (several concurrent units per process); the final
value is the total. Transfer: each process moves random amounts between accounts in different
partitions (different slots on a cluster: the lock protocol) while auditing with ``get_many``; every
audit sees the same total.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import random
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest

from accelerator.core.keys import KeySchema
from accelerator.core.protocols import KeyRef, Storage
from accelerator.core.tables import TableDef
from backends import open_storage
from tests.backend_services import open_postgres, open_redis

TABLE = TableDef(name="bank", key=KeySchema("pk", "S"), attribute_definitions=(("pk", "S"),), created=1.0)
COUNTER = KeyRef("bank", b"counter", b"")
ACCOUNTS = [KeyRef("bank", b"acct-%d" % i, b"") for i in range(4)]
PER_PROCESS = 150
TASKS = 3


def _options(storage: Any) -> tuple[str, dict[str, Any]]:
    """How a child process opens the same store as ``storage``."""
    from backends.postgres import PostgresStorage

    if isinstance(storage, PostgresStorage):
        return "postgres", {"dsn": storage.dsn, "schema": storage.schema, "pool_size": 4}
    if storage.cluster_nodes is not None:
        nodes = [f"{n.host}:{n.port}" for n in storage.cluster_nodes]
        return "redis-cluster", {"cluster_nodes": nodes, "prefix": storage.prefix}
    return "redis", {"url": storage.url, "prefix": storage.prefix}


def _increment(old: list[bytes | None]) -> list[bytes]:
    return [str(int(old[0] or b"0") + 1).encode()]


async def _counter_worker(storage: Storage) -> dict[str, int]:
    done = 0

    async def task(count: int) -> None:
        nonlocal done
        for _ in range(count):
            await storage.transact([COUNTER], _increment)
            done += 1

    await asyncio.gather(*(task(PER_PROCESS // TASKS) for _ in range(TASKS)))
    return {"done": done}


async def _transfer_worker(storage: Storage) -> dict[str, int]:
    rng = random.Random()
    bad = 0

    async def transfers() -> None:
        for _ in range(PER_PROCESS // TASKS):
            a, b = rng.sample(ACCOUNTS, 2)
            amount = rng.randint(1, 9)

            def move(old: list[bytes | None], amount: int = amount) -> list[bytes]:
                return [str(int(old[0] or b"0") - amount).encode(), str(int(old[1] or b"0") + amount).encode()]

            await storage.transact([a, b], move)

    async def audits() -> None:
        nonlocal bad
        for _ in range(PER_PROCESS // 2):
            values = await storage.get_many(ACCOUNTS)
            bad += sum(int(v or b"0") for v in values) != 400
            await asyncio.sleep(0)

    await asyncio.gather(audits(), *(transfers() for _ in range(TASKS)))
    return {"bad_audits": bad}


WORKERS: dict[str, Callable[[Storage], Any]] = {"counter": _counter_worker, "transfer": _transfer_worker}


def _child(kind: str, options: dict[str, Any], job: str, results: Any) -> None:
    async def main() -> dict[str, int]:
        storage = open_storage(kind, **options)
        await storage.open()
        try:
            result: dict[str, int] = await WORKERS[job](storage)
            return result
        finally:
            await storage.close()

    results.put(asyncio.run(main()))


def _run_children(storage: Storage, job: str) -> list[dict[str, int]]:
    kind, options = _options(storage)
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    children = [ctx.Process(target=_child, args=(kind, options, job, results)) for _ in range(2)]
    for child in children:
        child.start()
    try:
        out = [results.get(timeout=120) for _ in children]
    finally:
        for child in children:
            child.join(timeout=30)
            if child.is_alive():
                child.kill()
    assert all(child.exitcode == 0 for child in children)
    return out


def _stores() -> dict[str, Callable[[], AbstractAsyncContextManager[Any]]]:
    from tests.redis_cluster import shared_cluster

    return {
        "postgres": open_postgres,
        "redis": open_redis,
        "redis-cluster": lambda: open_redis(cluster_nodes=shared_cluster().nodes),
    }


@pytest.mark.parametrize("store", ["postgres", "redis", "redis-cluster"])
def test_two_processes_count_exactly(store: str) -> None:
    async def main() -> None:
        async with _stores()[store]() as storage:
            await storage.create_table(TABLE)
            results = await asyncio.to_thread(_run_children, storage, "counter")
            assert sum(r["done"] for r in results) == 2 * PER_PROCESS
            assert await storage.get("bank", COUNTER.pk, b"") == str(2 * PER_PROCESS).encode()

    asyncio.run(main())


@pytest.mark.parametrize("store", ["postgres", "redis", "redis-cluster"])
def test_two_processes_transfer_and_audit(store: str) -> None:
    async def main() -> None:
        async with _stores()[store]() as storage:
            await storage.create_table(TABLE)
            await storage.transact(ACCOUNTS, lambda _old: [b"100"] * len(ACCOUNTS))
            results = await asyncio.to_thread(_run_children, storage, "transfer")
            assert [r["bad_audits"] for r in results] == [0, 0]
            values = await storage.get_many(ACCOUNTS)
            assert sum(int(v or b"0") for v in values) == 400
            assert values != [b"100"] * len(ACCOUNTS)

    asyncio.run(main())
