"""The store goes away under load and comes back: calls fail with BackendUnavailable meanwhile, succeed
afterwards, and no acknowledged write is lost.

PostgreSQL: the test terminates its own connections (``pg_terminate_backend`` on its own
application_name); the shared server keeps running. Redis: the test kills (SIGKILL) a ``redis-server``
it started itself, with ``appendfsync always``, and restarts it on the same port and directory; on a
cluster, one of three nodes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from accelerator.core.errors import BackendUnavailable
from accelerator.core.keys import KeySchema
from accelerator.core.protocols import KeyRef, Storage
from accelerator.core.tables import TableDef
from tests.backend_services import open_postgres, open_redis, pg_dsn, unique_name
from tests.redis_cluster import LocalCluster, RedisServer, require_redis_server

TABLE = TableDef(name="t", key=KeySchema("pk", "S"), attribute_definitions=(("pk", "S"),), created=1.0)


class Load:
    """Writers putting fresh keys until stopped; records what was acknowledged and what failed."""

    def __init__(self, storage: Storage, writers: int = 4) -> None:
        self.storage = storage
        self.acked: list[bytes] = []
        self.failures = 0
        self.running = True
        self.tasks = [asyncio.create_task(self._write(n)) for n in range(writers)]

    async def _write(self, n: int) -> None:
        i = 0
        while self.running:
            key = b"w%d-%d" % (n, i)
            i += 1
            try:
                await self.storage.transact([KeyRef("t", key, b"")], lambda _old, key=key: [b"v:" + key])
            except BackendUnavailable:
                self.failures += 1
                await asyncio.sleep(0.005)
            else:
                self.acked.append(key)

    async def stop(self) -> None:
        self.running = False
        await asyncio.gather(*self.tasks)  # anything but BackendUnavailable fails the test here

    async def check_nothing_lost(self) -> None:
        assert self.acked
        refs = [KeyRef("t", key, b"") for key in self.acked]
        for n in range(0, len(refs), 500):
            chunk = refs[n : n + 500]
            values = await self.storage.get_many(chunk)
            assert values == [b"v:" + ref.pk for ref in chunk]


async def eventually(call: Callable[[], Awaitable[Any]], timeout: float = 10.0) -> Any:
    """The result of the first call that does not raise BackendUnavailable."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await call()
        except BackendUnavailable:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)


async def unavailable_while_down(storage: Storage) -> None:
    for call in (
        lambda: storage.get("t", b"x", b""),
        lambda: storage.transact([KeyRef("t", b"x", b"")], lambda _old: [b"down"]),
        lambda: storage.scan("t", segment=0, total_segments=1, start=None, limit=10),
    ):
        with pytest.raises(BackendUnavailable):
            await call()


def test_postgres_connections_terminated_under_load() -> None:
    async def main() -> None:
        name = unique_name("accel_fault")
        async with open_postgres(application_name=name, pool_size=4) as storage:
            await storage.create_table(TABLE)
            admin = await asyncpg.connect(pg_dsn())
            try:
                load = Load(storage)
                killed = 0
                for _ in range(4):
                    await asyncio.sleep(0.15)
                    killed += await admin.fetchval(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                        " WHERE application_name = $1 AND pid <> pg_backend_pid()",
                        name,
                    )
                await asyncio.sleep(0.15)
                await load.stop()
            finally:
                await admin.close()
            assert killed > 0
            # The pool replaced every terminated connection: calls work again.
            assert await eventually(lambda: storage.get("t", b"absent", b"")) is None
            await storage.transact([KeyRef("t", b"after", b"")], lambda _old: [b"ok"])
            await load.check_nothing_lost()

    asyncio.run(main())


def test_redis_server_killed_and_restarted(tmp_path: Path) -> None:
    require_redis_server()
    server = RedisServer(tmp_path / "redis", aof=True).start()

    async def main() -> None:
        async with open_redis(url=server.url, socket_timeout=1.0, connect_timeout=0.5) as storage:
            await storage.create_table(TABLE)
            load = Load(storage)
            await asyncio.sleep(0.3)
            server.kill()
            await asyncio.sleep(0.1)
            await unavailable_while_down(storage)
            failures_while_down = load.failures
            await asyncio.to_thread(server.start)
            await eventually(lambda: storage.get("t", b"absent", b""))
            await asyncio.sleep(0.3)
            await load.stop()
            assert failures_while_down > 0
            await load.check_nothing_lost()  # AOF with appendfsync always: SIGKILL loses nothing acknowledged

    try:
        asyncio.run(main())
    finally:
        server.kill()


def test_redis_cluster_node_killed_and_restarted() -> None:
    require_redis_server()
    cluster = LocalCluster(aof=True).start()

    async def main() -> None:
        async with open_redis(cluster_nodes=cluster.nodes, socket_timeout=1.0, connect_timeout=0.5) as storage:
            await storage.create_table(TABLE)
            load = Load(storage)
            await asyncio.sleep(0.3)
            victim = cluster.servers[1]
            victim.kill()
            # Keys on the dead node's slots fail at once; after the node timeout the cluster is down.
            await asyncio.sleep(1.5)
            await unavailable_while_down(storage)
            failures_while_down = load.failures
            await asyncio.to_thread(victim.start)
            await asyncio.to_thread(cluster.wait_ok)
            await eventually(lambda: storage.transact([KeyRef("t", b"back", b"")], lambda _old: [b"ok"]))
            await asyncio.sleep(0.3)
            await load.stop()
            assert failures_while_down > 0
            await load.check_nothing_lost()
            rows = await storage.scan("t", segment=0, total_segments=1, start=None, limit=1 << 20)
            assert {pk for pk, _sk, _v in rows} >= set(load.acked)

    try:
        asyncio.run(main())
    finally:
        cluster.stop()
