"""What the PostgreSQL and Redis backends do beyond the shared contract: their layout, locks and limits."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from accelerator.core.errors import BackendUnavailable, ConditionFailed, ValidationException
from accelerator.core.keys import KeySchema, partition_hash
from accelerator.core.protocols import KeyRef
from accelerator.core.tables import TableDef
from backends.postgres import PostgresStorage
from backends.redis import RedisStorage
from backends.redis import scripts as lua
from backends.redis.layout import key_range as _range
from tests.backend_services import open_postgres, open_redis
from tests.redis_cluster import shared_cluster

TABLE = TableDef(
    name="t", key=KeySchema("pk", "S", "sk", "S"), attribute_definitions=(("pk", "S"), ("sk", "S")), created=1.0
)


def put_if_absent(value: bytes) -> Any:
    def apply(old: list[bytes | None]) -> list[bytes]:
        if old[0] is not None:
            raise ConditionFailed(old[0])
        return [value]

    return apply


def increment(old: list[bytes | None]) -> list[bytes]:
    return [str(int(old[0] or b"0") + 1).encode()]


def cluster_storage(**options: Any) -> Any:
    return open_redis(cluster_nodes=shared_cluster().nodes, **options)


# ----- PostgreSQL


def test_postgres_hash_partitioned_items() -> None:
    async def main() -> None:
        async with open_postgres(partitions=4) as storage:
            await storage.create_table(TABLE)
            for i in range(40):
                await storage.transact([KeyRef("t", b"p%d" % i, b"s")], lambda _old, i=i: [b"%d" % i])
            async with storage._connection() as conn:
                children = await conn.fetchval(
                    "SELECT count(*) FROM pg_inherits WHERE inhparent = $1::regclass", f"{storage.schema}.items"
                )
                used = await conn.fetchval(f"SELECT count(DISTINCT tableoid) FROM {storage.schema}.items")
            assert children == 4 and used == 4
            rows = await storage.scan("t", segment=0, total_segments=1, start=None, limit=100)
            assert [partition_hash(pk) for pk, _sk, _v in rows] == sorted(partition_hash(pk) for pk, _, _ in rows)
            assert len(rows) == 40

    asyncio.run(main())


def test_postgres_put_if_absent_race_between_two_pools() -> None:
    """An absent key is locked too: of 30 racing creators on two pools, exactly one wins."""

    async def main() -> None:
        async with open_postgres() as first:
            await first.create_table(TABLE)
            second = PostgresStorage(first.dsn, schema=first.schema, pool_size=4)
            await second.open()
            try:
                key = KeyRef("t", b"new", b"item")
                outcomes = await asyncio.gather(
                    *(
                        (first if n % 2 else second).transact([key], put_if_absent(b"%d" % n))
                        for n in range(30)
                    ),
                    return_exceptions=True,
                )
            finally:
                await second.close()
            winners = [o for o in outcomes if not isinstance(o, BaseException)]
            assert len(winners) == 1 and winners[0] == [None]
            assert all(isinstance(o, ConditionFailed) for o in outcomes if o not in winners)

    asyncio.run(main())


def test_postgres_locks_tables_then_keys_in_a_fixed_order() -> None:
    storage = PostgresStorage(schema="s")
    a, b = KeyRef("u", b"x", b""), KeyRef("t", b"y", b"1")
    statement = storage._lock_statement([a, b, a])
    assert statement == storage._lock_statement([b, a])
    parts = statement.split("; ")
    assert parts[0] == "BEGIN"
    assert [p.startswith("SELECT pg_advisory_xact_lock_shared(") for p in parts[1:]] == [True, True, False, False]


def test_postgres_options_and_unreachable_server() -> None:
    with pytest.raises(ValueError):
        PostgresStorage(schema="Robert'); DROP")
    with pytest.raises(ValueError):
        PostgresStorage(partitions=1)

    async def main() -> None:
        storage = PostgresStorage("postgresql://postgres@127.0.0.1:1/test", connect_timeout=1.0)
        with pytest.raises(BackendUnavailable) as info:
            await storage.open()
        assert isinstance(info.value.__cause__, OSError)
        with pytest.raises(BackendUnavailable):
            await storage.get("t", b"a", b"")

    asyncio.run(main())


# ----- Redis


def test_redis_lex_ranges() -> None:
    from accelerator.core.protocols import Bound

    assert _range(None, None, True, None) == (b"-", b"+")
    assert _range(Bound(b"a", True), Bound(b"c", False), True, None) == (b"[a", b"(c")
    assert _range(Bound(b"a", True), None, True, b"b") == (b"(b", b"+")
    assert _range(Bound(b"c", False), None, True, b"b") == (b"(c", b"+")  # start before lo: lo wins
    assert _range(None, Bound(b"x", True), False, b"m") == (b"-", b"(m")
    assert _range(None, Bound(b"m", True), False, b"x") == (b"-", b"[m")


def test_redis_options_and_unreachable_server() -> None:
    with pytest.raises(ValueError):
        RedisStorage(prefix="a{b}")

    async def main() -> None:
        storage = RedisStorage("redis://127.0.0.1:1/0", connect_timeout=0.5)
        with pytest.raises(BackendUnavailable):
            await storage.open()
        async with open_redis() as opened:
            with pytest.raises(ValidationException):
                await opened.create_table(TableDef(name="a{b}", key=TABLE.key, attribute_definitions=(), created=1.0))

    asyncio.run(main())


@pytest.mark.parametrize("clustered", [False, True], ids=["redis", "redis-cluster"])
def test_redis_contention_between_processes_escalates_to_locks(clustered: bool) -> None:
    """Two clients (as two processes would) on one counter: when the other client's write lands between a
    unit's read and its compare-and-write, twice (in its batch, then on its own), the unit takes locks.

    The other client's writes are real ones through its own connections; they are made to land at that
    point by running them just before this client sends its WRITE (a race the scheduler would decide)."""

    async def main() -> None:
        opener = cluster_storage if clustered else open_redis
        async with opener(retry={"max_attempts": 1}) as first:
            await first.create_table(TABLE)
            nodes = [f"{n.host}:{n.port}" for n in first.cluster_nodes] if clustered else None
            second = RedisStorage(first.url, cluster_nodes=nodes, prefix=first.prefix, retry={"max_attempts": 1})
            await second.open()
            key = KeyRef("t", b"counter", b"")
            writes = first.driver.eval_many
            interfere = 2

            async def eval_many(calls: Any) -> Any:
                nonlocal interfere
                if interfere and any(script is lua.WRITE for script, _, _ in calls):
                    interfere -= 1
                    await second.transact([key], increment)
                return await writes(calls)

            first.driver.eval_many = eval_many  # type: ignore[method-assign]
            try:
                await first.transact([key], increment)
                await asyncio.gather(*(s.transact([key], increment) for _ in range(20) for s in (first, second)))
            finally:
                await second.close()
            assert await first.get("t", b"counter", b"") == b"43"
            stats = first.stats + second.stats
            assert stats["conflicts"] == stats["escalations"] == stats["locked_units"] > 0
            assert first.stats["batch_retries"] >= 1

    asyncio.run(main())


@pytest.mark.parametrize("clustered", [False, True], ids=["redis", "redis-cluster"])
def test_redis_writer_waits_for_a_foreign_lock(clustered: bool) -> None:
    async def main() -> None:
        opener = cluster_storage if clustered else open_redis
        async with opener() as storage:
            await storage.create_table(TABLE)
            part = storage.layout.part("t", b"p")
            await storage.driver.client.set(part.lock, b"someone-else", px=300)
            began = time.monotonic()
            await storage.transact([KeyRef("t", b"p", b"s")], lambda _old: [b"after the lock"])
            assert time.monotonic() - began >= 0.25
            assert storage.stats["lock_waits"] > 0
            assert await storage.get("t", b"p", b"s") == b"after the lock"

    asyncio.run(main())


def test_redis_cluster_cross_slot_transaction_locks_and_unlocks() -> None:
    async def main() -> None:
        async with cluster_storage() as storage:
            await storage.create_table(TABLE)
            pks = [b"a", b"b", b"c", b"d"]
            parts = [storage.layout.part("t", pk) for pk in pks]
            assert len({p.slot for p in parts}) > 1
            keys = [KeyRef("t", pk, b"s") for pk in pks]
            await storage.transact(keys, lambda _old: [b"1", b"2", b"3", b"4"])
            assert storage.stats["locked_units"] == 1
            assert await storage.get_many(keys) == [b"1", b"2", b"3", b"4"]
            for part in parts:
                assert await storage.driver.client.exists(part.lock) == 0
            # A foreign lock on one partition holds back a cross-slot snapshot read until it is gone.
            await storage.driver.client.set(parts[2].lock, b"someone-else", px=300)
            began = time.monotonic()
            assert await storage.get_many(keys) == [b"1", b"2", b"3", b"4"]
            assert time.monotonic() - began >= 0.25

    asyncio.run(main())


def test_redis_cluster_scan_repairs_a_stale_index_entry() -> None:
    async def main() -> None:
        async with cluster_storage() as storage:
            await storage.create_table(TABLE)
            await storage.transact([KeyRef("t", b"live", b"s")], lambda _old: [b"v"])
            ghost = storage.layout.part("t", b"ghost")
            await storage.driver.client.zadd(ghost.index, {ghost.member: 0})  # as a late "non-empty" report leaves it
            rows = await storage.scan("t", segment=0, total_segments=1, start=None, limit=10)
            assert rows == [(b"live", b"s", b"v")]
            assert storage.stats["index_repairs"] == 1
            assert await storage.driver.client.zscore(ghost.index, ghost.member) is None

    asyncio.run(main())


@pytest.mark.parametrize("clustered", [False, True], ids=["redis", "redis-cluster"])
def test_redis_index_follows_partitions(clustered: bool) -> None:
    async def main() -> None:
        opener = cluster_storage if clustered else open_redis
        async with opener() as storage:
            await storage.create_table(TABLE)
            part = storage.layout.part("t", b"p")
            await storage.transact([KeyRef("t", b"p", b"1"), KeyRef("t", b"p", b"2")], lambda _old: [b"a", b"b"])
            assert await storage.driver.client.zrange(part.index, 0, -1) == [part.member]
            await storage.transact([KeyRef("t", b"p", b"1")], lambda _old: [None])
            assert await storage.driver.client.zrange(part.index, 0, -1) == [part.member]
            await storage.transact([KeyRef("t", b"p", b"2")], lambda _old: [None])
            assert await storage.driver.client.zrange(part.index, 0, -1) == []
            assert await storage.driver.client.exists(part.zset, part.hash) == 0

    asyncio.run(main())


def test_postgres_existing_layout_wins_over_a_changed_partitions_option(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        async with open_postgres(partitions=2) as storage:
            again = PostgresStorage(storage.dsn, schema=storage.schema, pool_size=1, partitions=0)
            await again.open()
            try:
                await again.create_table(TABLE)
                assert await again.list_tables() == ["t"]
            finally:
                await again.close()

    asyncio.run(main())
    assert "exists with partitions=2" in caplog.text


def test_redis_cluster_lost_index_report_is_made_by_the_next_writer() -> None:
    """A writer that dies between its write and its index report: the next writer reports for it."""

    async def main() -> None:
        async with cluster_storage() as storage:
            await storage.create_table(TABLE)
            real_sync = storage.index.sync

            async def lost(*_args: Any) -> None:  # a fault we cannot cause on demand: the report's connection dies
                raise BackendUnavailable("redis: connection lost before the index report")

            storage.index.sync = lost  # type: ignore[method-assign]
            with pytest.raises(BackendUnavailable):
                await storage.transact([KeyRef("t", b"p", b"1")], lambda _old: [b"unacknowledged"])
            storage.index.sync = real_sync  # type: ignore[method-assign]
            assert await storage.get("t", b"p", b"1") == b"unacknowledged"
            assert await storage.scan("t", segment=0, total_segments=1, start=None, limit=10) == []
            await storage.transact([KeyRef("t", b"p", b"2")], lambda _old: [b"next"])
            rows = await storage.scan("t", segment=0, total_segments=1, start=None, limit=10)
            assert rows == [(b"p", b"1", b"unacknowledged"), (b"p", b"2", b"next")]
            part = storage.layout.part("t", b"p")
            assert await storage.driver.client.exists(part.pending) == 0

    asyncio.run(main())


def test_sqlite_scan_after_a_key_seeks_instead_of_filtering_from_the_segment_start(tmp_path: Any) -> None:
    """A paged scan (TTL sweeps, backfills) must cost O(page), not O(rows before the page)."""
    import sqlite3

    from backends.sqlite.storage import _SCAN_AFTER, _SCHEMA  # noqa: PLC2701 - the query plan is the subject

    conn = sqlite3.connect(tmp_path / "plan.db")
    for statement in _SCHEMA:
        conn.execute(statement)
    plan = conn.execute("EXPLAIN QUERY PLAN " + _SCAN_AFTER, ("t", 5, b"pk", b"", 10, 256)).fetchall()
    assert "(h,pk,sk)>(?,?,?)" in plan[0][-1], plan
