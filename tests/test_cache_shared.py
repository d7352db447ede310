"""Shared generations: caches of several workers over one store, kept coherent with no messages.

Two (or three) ``CachedStore``s stand for the workers of one machine: one store, one
``SharedGenerations`` (a tiny one, so hashes collide), no broadcast. The rule under test: a read that
begins after a write was acknowledged, by any worker, never answers older than that write.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from accelerator.cache import CachedStore
from accelerator.cache.shared import SharedGenerations
from accelerator.config import CacheConfig
from tests.cache_fakes import FakeStore

CONFIG = CacheConfig(item_ttl=3600.0, negative_ttl=3600.0, query_ttl=3600.0)


def S(v: str) -> dict[str, str]:
    return {"S": v}


def N(v: int) -> dict[str, str]:
    return {"N": str(v)}


def _workers(count: int, store: FakeStore, slots: int = 64, epochs: int = 4) -> list[CachedStore]:
    shared = SharedGenerations(slots=slots, epochs=epochs)
    return [CachedStore(store, CONFIG, shared=shared) for _ in range(count)]


def _store(rng: random.Random | None = None) -> FakeStore:
    store = FakeStore(rng, max_yields=3 if rng else 0)
    store.add_table("t")
    store.add_table("r", range_name="sk")
    return store


async def _get(cs: CachedStore, table: str, key: dict[str, Any]) -> int | None:
    item = (await cs.call("GetItem", {"TableName": table, "Key": key})).get("Item")
    return None if item is None else int(item["v"]["N"])


@pytest.mark.parametrize("seed", range(8))
def test_no_read_answers_older_than_a_write_acknowledged_before_it_began(seed: int) -> None:
    rng = random.Random(seed)
    store = _store(rng)
    workers = _workers(3, store)
    keys = [("t", {"pk": S(k)}) for k in "abcd"] + [("r", {"pk": S(p), "sk": S(s)}) for p in "pq" for s in "12"]
    acked = [0] * len(keys)  # the newest version acknowledged per key (writes to one key are sequential)
    hits = 0

    async def writer(i: int) -> None:
        table, key = keys[i]
        for version in range(1, 40):
            cs = rng.choice(workers)
            if rng.random() < 0.7:
                await cs.call("PutItem", {"TableName": table, "Item": {**key, "v": N(version)}})
            else:
                await cs.call("UpdateItem", {"TableName": table, "Key": key,
                                             "AttributeUpdates": {"v": {"Action": "PUT", "Value": N(version)}},
                                             "ReturnValues": rng.choice(["NONE", "ALL_NEW", "UPDATED_OLD"])})
            acked[i] = version
            for _ in range(rng.randint(0, 4)):
                await asyncio.sleep(0)

    async def reader() -> None:
        nonlocal hits
        for _ in range(150):
            i = rng.randrange(len(keys))
            cs = rng.choice(workers)
            floor = acked[i]
            before = cs.stats.item_hits
            value = await _get(cs, *keys[i])
            hits += cs.stats.item_hits - before
            assert (value or 0) >= floor, f"key {keys[i]}: read {value} after version {floor} was acknowledged"
            if keys[i][0] == "r" and rng.random() < 0.3:
                partition = keys[i][1]["pk"]["S"]
                floors = {k[1]["sk"]["S"]: acked[j] for j, k in enumerate(keys) if k[0] == "r"
                          and k[1]["pk"]["S"] == partition}
                page = await cs.call("Query", {"TableName": "r", "KeyConditions": {
                    "pk": {"ComparisonOperator": "EQ", "AttributeValueList": [S(partition)]}}})
                got = {it["sk"]["S"]: int(it["v"]["N"]) for it in page["Items"]}
                for sk, low in floors.items():
                    assert got.get(sk, 0) >= low, f"query of {partition}: {sk} older than {low}"

    async def go() -> None:
        await asyncio.gather(*(writer(i) for i in range(len(keys))), *(reader() for _ in range(4)))

    asyncio.run(go())
    assert hits > 50  # the check ran on cached entries, not only on misses


def test_without_shared_generations_the_other_worker_answers_stale() -> None:
    """The counter-test: what the shared generations prevent does happen without them."""
    store = _store()
    a, b = CachedStore(store, CONFIG), CachedStore(store, CONFIG)

    async def go() -> None:
        await a.call("PutItem", {"TableName": "t", "Item": {"pk": S("k"), "v": N(1)}})
        assert await _get(b, "t", {"pk": S("k")}) == 1  # b caches version 1
        await a.call("PutItem", {"TableName": "t", "Item": {"pk": S("k"), "v": N(2)}})
        assert await _get(b, "t", {"pk": S("k")}) == 1  # stale
    asyncio.run(go())


@pytest.mark.parametrize("change", ["flush-table", "flush-all", "delete-table", "store-deleted"])
def test_table_wide_changes_on_one_worker_reach_the_others_entries(change: str) -> None:
    store = _store()
    a, b = _workers(2, store)

    async def go() -> None:
        await a.call("PutItem", {"TableName": "t", "Item": {"pk": S("k"), "v": N(1)}})
        assert await _get(b, "t", {"pk": S("k")}) == 1
        assert await _get(b, "t", {"pk": S("k")}) == 1 and b.stats.item_hits == 1
        if change == "flush-table":
            a.flush("t")
        elif change == "flush-all":
            a.flush()
        elif change == "delete-table":
            await a.call("DeleteTable", {"TableName": "t"})
            await a.call("CreateTable", {"TableName": "t", "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                                         "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}]})
        else:  # the store deleted the item on its own (TTL): the worker that noticed tells the others
            del store.data["t"][(b"k", b"")]
            a._store_deleted("t", b"k", b"")
        expected = None if change in ("delete-table", "store-deleted") else 1
        assert await _get(b, "t", {"pk": S("k")}) == expected
        assert b.stats.item_hits == 1  # the entry b held was not used
    asyncio.run(go())


class _LateAnswers:
    """The store beneath one worker: applies a write at once but holds its answer until ``release`` is set."""

    def __init__(self, store: FakeStore) -> None:
        self.store = store
        self.release = asyncio.Event()

    async def open(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def call(self, operation: str, request: Any) -> Any:
        response = await self.store.call(operation, request)
        if operation == "PutItem":
            await self.release.wait()
        return response


def test_a_write_overtaken_by_another_workers_write_is_not_written_through() -> None:
    """A's write applies first, B's applies and is acknowledged, then A's answer arrives: A must not cache
    its own (older) item as the latest."""
    store = _store()
    shared = SharedGenerations(slots=64, epochs=4)
    late = _LateAnswers(store)
    a, b = CachedStore(late, CONFIG, shared=shared), CachedStore(store, CONFIG, shared=shared)

    async def go() -> None:
        first = asyncio.ensure_future(a.call("PutItem", {"TableName": "t", "Item": {"pk": S("k"), "v": N(1)}}))
        while not store.get("t", {"pk": S("k")}):
            await asyncio.sleep(0)
        await b.call("PutItem", {"TableName": "t", "Item": {"pk": S("k"), "v": N(2)}})
        late.release.set()
        await first
        assert await _get(a, "t", {"pk": S("k")}) == 2
        assert await _get(b, "t", {"pk": S("k")}) == 2
    asyncio.run(go())


def test_a_worker_dying_inside_a_bump_does_not_stall_the_others() -> None:
    """The bump lock is released by the kernel when its holder dies (a semaphore would stay taken)."""
    import os

    shared = SharedGenerations(slots=64, epochs=4)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the worker: take the lock, say so, die holding it
        with shared._locked():
            os.write(write, b"x")
            os._exit(0)
    os.close(write)
    assert os.read(read, 1) == b"x"
    os.waitpid(pid, 0)
    before = shared.counters[10]
    assert shared.bump((10,)) == before + 1  # returns at once: no one holds the lock any more
    os.close(read)


def test_forked_workers_share_the_counters_and_lose_no_bump() -> None:
    import os

    shared = SharedGenerations(slots=64, epochs=4)
    children = []
    for _ in range(4):
        pid = os.fork()
        if pid == 0:
            for _ in range(20000):
                shared.bump((20, 21))
            os._exit(0)
        children.append(pid)
    for pid in children:
        assert os.waitpid(pid, 0)[1] == 0
    assert shared.counters[20] == shared.counters[21] == 80000


def test_write_slots_are_the_slots_reads_stamp() -> None:
    shared = SharedGenerations(slots=1 << 16, epochs=16)
    for table, pk, sk in [("t", b"a", b""), ("users", b"\x00\xff", b"k"), ("x" * 200, b"p" * 50, b"s" * 30)]:
        assert shared.write_slots(table, pk, sk) == (shared.item_slot(table, pk, sk),
                                                     shared.partition_slot(table, pk), shared.table_slot(table))
