"""The change-log contract (``accelerator.core.changelog``) on every storage backend.

A ``Logged`` value writes its item and appends its record in one atomic unit; records come back from
``read_log`` in commit order with strictly increasing sequences; a unit that raises leaves neither;
``trim_log`` drops a prefix; DeleteTable drops the log but a re-created table's sequences continue.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import orjson
import pytest

from accelerator.core.changelog import (
    CLUSTER_HORIZON_US,
    LOG_END,
    ChangeLog,
    Logged,
    LogRecord,
    encode_record,
)
from accelerator.core.errors import ConditionFailed
from accelerator.core.protocols import KEEP, KeyRef, Storage
from backends.redis import RedisStorage
from tests.backend_services import redis_cluster_storage
from tests.storage_backends import backend, storage_test  # noqa: F401  (backend is the parametrized fixture)
from tests.test_storage_contract import table_def


async def read_until(storage: Storage, table: str, count: int, after: int = 0) -> list[tuple[int, bytes]]:
    """Every record after ``after``, once at least ``count`` are visible (a cluster shows them after a horizon)."""
    log = storage if isinstance(storage, ChangeLog) else None
    assert log is not None, "the backend does not implement ChangeLog"
    deadline = time.monotonic() + 10
    while True:
        out: list[tuple[int, bytes]] = []
        cursor = after
        while page := await log.read_log(table, cursor, 3):
            out += page
            cursor = page[-1][0]
        if len(out) >= count or time.monotonic() > deadline:
            return out
        await asyncio.sleep(0.05)


def rec(n: int) -> bytes:
    return encode_record(n, None, b'{"n":%d}' % n, False)


@storage_test
async def test_logged_writes_come_back_in_order(storage: Storage) -> None:
    await storage.create_table(table_def("lg"))
    await storage.create_table(table_def("other"))
    for n in range(7):
        ref = KeyRef("lg", b"p%d" % (n % 3), b"s")
        await storage.transact([ref], lambda _o, n=n: [Logged(b'{"n":%d}' % n, rec(n))])
    # one unit over two tables and a deletion; KEEP and plain values are not logged
    refs = [KeyRef("lg", b"p0", b"s"), KeyRef("other", b"x", b""), KeyRef("lg", b"p1", b"s")]
    await storage.transact(refs, lambda _o: [Logged(None, rec(7)), Logged(b"{}", rec(70)), KEEP])
    await storage.transact([KeyRef("lg", b"p9", b"s")], lambda _o: [b'{"plain":1}'])
    records = await read_until(storage, "lg", 8)
    assert [LogRecord.decode(seq, data).at_ms for seq, data in records] == list(range(8))
    seqs = [seq for seq, _ in records]
    assert seqs == sorted(set(seqs)) and seqs[0] > 0
    assert await storage.get("lg", b"p0", b"s") is None  # the logged deletion happened
    assert await storage.get("lg", b"p9", b"s") == b'{"plain":1}'
    assert [LogRecord.decode(s, d).at_ms for s, d in await read_until(storage, "other", 1)] == [70]
    assert await read_until(storage, "lg", 0, after=seqs[-1]) == []
    assert await read_until(storage, "lg", 4, after=seqs[3]) == records[4:]
    assert isinstance(storage, ChangeLog)
    assert await storage.log_head("lg") >= seqs[-1]


@storage_test
async def test_a_failed_unit_logs_nothing(storage: Storage) -> None:
    await storage.create_table(table_def("lf"))
    ref = KeyRef("lf", b"a", b"")

    def refuse(_old: list[bytes | None]) -> list[object]:
        raise ConditionFailed(None)

    with pytest.raises(ConditionFailed):
        await storage.transact([ref], refuse)
    await storage.transact([ref], lambda _o: [Logged(b"{}", rec(1))])
    records = await read_until(storage, "lf", 1)
    assert [LogRecord.decode(s, d).at_ms for s, d in records] == [1]
    assert await storage.get("lf", b"a", b"") == b"{}"


@storage_test
async def test_trim_and_table_lifecycle(storage: Storage) -> None:
    assert isinstance(storage, ChangeLog)
    await storage.create_table(table_def("lt"))
    for n in range(5):
        await storage.transact([KeyRef("lt", b"k%d" % n, b"")], lambda _o, n=n: [Logged(b"{}", rec(n))])
    records = await read_until(storage, "lt", 5)
    assert len(records) == 5
    assert await storage.trim_log("lt", records[2][0]) == 2
    assert await read_until(storage, "lt", 3) == records[2:]
    await storage.delete_table("lt")
    assert await read_until(storage, "lt", 3) == records[2:], "the log outlives its table (streams read it)"
    assert await storage.trim_log("lt", LOG_END) == 3
    assert await storage.read_log("lt", 0, 10) == []
    await storage.create_table(table_def("lt"))
    await storage.transact([KeyRef("lt", b"k", b"")], lambda _o: [Logged(b"{}", rec(9))])
    again = await read_until(storage, "lt", 1)
    assert [LogRecord.decode(s, d).at_ms for s, d in again] == [9]
    assert again[0][0] > records[-1][0]  # sequences continue: a reader of the old log never goes back


@storage_test
async def test_concurrent_units_get_distinct_ordered_sequences(storage: Storage) -> None:
    await storage.create_table(table_def("lc"))

    async def bump(pk: bytes, times: int) -> None:
        for _ in range(times):
            def apply(old: list[bytes | None]) -> list[object]:
                n = 0 if old[0] is None else orjson.loads(old[0])["n"]
                new = orjson.dumps({"k": pk.decode(), "n": n + 1})
                return [Logged(new, encode_record(0, old[0], new, False))]

            await storage.transact([KeyRef("lc", pk, b"")], apply)

    await asyncio.gather(*(bump(b"k%d" % (i % 3), 10) for i in range(6)))
    records = [LogRecord.decode(seq, data) for seq, data in await read_until(storage, "lc", 60)]
    assert len(records) == 60 and len({r.seq for r in records}) == 60
    for key in ("k0", "k1", "k2"):  # each item's records in sequence order are its commits in order
        mine = [r for r in records if r.new is not None and r.new["k"] == key]
        assert [r.new["n"] for r in mine if r.new] == list(range(1, 21))
        assert [r.old["n"] if r.old else 0 for r in mine] == list(range(20))


def test_cluster_registry_forgets_partitions_that_went_quiet(tmp_path: Path) -> None:
    """Trimming drops a partition from the cluster's log registry once its log is empty and its registration
    old; a young registration survives, and a partition that logs again registers again first."""

    async def main() -> None:
        async with redis_cluster_storage(tmp_path) as storage:
            assert isinstance(storage, RedisStorage)
            await storage.create_table(table_def("lq"))
            for pk in (b"a", b"b"):
                await storage.transact([KeyRef("lq", pk, b"")], lambda _o: [Logged(b"{}", rec(1))])
            records = await read_until(storage, "lq", 2)
            registry = storage.layout.part("lq", b"").log_parts
            client = storage.driver.client
            assert await storage.trim_log("lq", records[-1][0] + 1) == 2
            assert sorted(await client.zrange(registry, 0, -1)) == [b"a", b"b"], "young registrations stay"
            storage.log.clock = lambda: time.time() + 3 * 3600  # three hours on: both went quiet
            assert await storage.trim_log("lq", records[-1][0] + 1) == 0
            assert await client.zrange(registry, 0, -1) == []
            await storage.transact([KeyRef("lq", b"a", b"")], lambda _o: [Logged(b'{"x":1}', rec(2))])
            assert await client.zrange(registry, 0, -1) == [b"a"], "its memory is old too: it registers again"
            again = await read_until(storage, "lq", 1, after=records[-1][0])
            assert [LogRecord.decode(s, d).at_ms for s, d in again] == [2]

    asyncio.run(main())


def test_cluster_numbers_records_that_share_a_clock_value(tmp_path: Path) -> None:
    """Two partitions can log at the same µs (seen in CI: a transaction's items on one node); each record
    still gets its own sequence, pages cut inside such a run lose nothing, and trimming keeps a run whole
    unless all of it is below the bound. The records are placed with ZADD at one score, because the same
    µs on two partitions cannot be caused on demand."""

    async def main() -> None:
        async with redis_cluster_storage(tmp_path) as storage:
            assert isinstance(storage, RedisStorage)
            await storage.create_table(table_def("lr"))
            client = storage.driver.client
            seconds, micros = await client.time()
            clock = seconds * 1_000_000 + micros - 2 * CLUSTER_HORIZON_US
            await storage.log.register([("lr", pk, b"") for pk in (b"a", b"b", b"c")])
            for n, pk in enumerate((b"c", b"a", b"b")):  # a and b share a clock value, c comes first
                score = clock - 1 if pk == b"c" else clock
                await client.zadd(storage.layout.part("lr", pk).log, {b"%d:%s" % (score, rec(n)): score})
            records = await storage.read_log("lr", 0, 10)
            seqs = [seq for seq, _ in records]
            assert len(records) == 3 and seqs == sorted(set(seqs))
            assert sorted(LogRecord.decode(s, d).at_ms for s, d in records) == [0, 1, 2]
            paged, cursor = [], 0
            while page := await storage.read_log("lr", cursor, 1):
                assert len(page) == 1
                paged += page
                cursor = page[-1][0]
            assert paged == records, "a page of one cuts the run and loses nothing"
            assert await storage.read_log("lr", seqs[1], 10) == records[2:]
            assert await storage.log_head("lr") >= seqs[-1]
            assert await storage.trim_log("lr", seqs[2]) == 1, "the run seqs[2] is in stays whole"
            assert await storage.read_log("lr", 0, 10) == records[1:]
            assert await storage.trim_log("lr", seqs[2] + 1) == 2
            assert await storage.read_log("lr", 0, 10) == []

    asyncio.run(main())
