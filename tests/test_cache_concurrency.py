"""Forced interleavings: the stale-fill race, single-flight, cancellation and errors of shared reads."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from accelerator.core.errors import ServiceUnavailable
from tests.cache_fakes import FakeStore, make_cached, run
from tests.test_cache_reads import S, key

GET = {"TableName": "t", "Key": key("a")}


def _setup() -> tuple[Any, FakeStore]:
    cs, store, _ = make_cached()
    store.data["t"][(b"a", b"")] = {"pk": S("a"), "v": S("old")}
    store.data["r"][(b"p", b"1")] = {"pk": S("p"), "sk": S("1"), "v": S("old")}
    return cs, store


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


@pytest.mark.parametrize("write", ["PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"])
def test_a_read_that_raced_a_write_never_fills_the_old_value(write: str) -> None:
    cs, store = _setup()
    requests = {
        "PutItem": {"TableName": "t", "Item": {"pk": S("a"), "v": S("new")}},
        "UpdateItem": {"TableName": "t", "Key": key("a"), "AttributeUpdates": {"v": {"Value": S("new")}},
                       "ReturnValues": "UPDATED_OLD"},  # not written through: the key is invalidated
        "DeleteItem": {"TableName": "t", "Key": key("a")},
        "BatchWriteItem": {"RequestItems": {"t": [{"PutRequest": {"Item": {"pk": S("a"), "v": S("new")}}}]}},
        "TransactWriteItems": {"ClientRequestToken": "x", "TransactItems": [
            {"Put": {"TableName": "t", "Item": {"pk": S("a"), "v": S("new")}}}]},
    }

    async def go() -> None:
        await cs.call("DescribeTable", {"TableName": "t"})
        gate = store.gates["GetItem"] = asyncio.Event()
        read = asyncio.ensure_future(cs.call("GetItem", dict(GET)))
        await _settle()  # the read has taken the old value from the store and waits
        await cs.call(write, requests[write])  # the write is applied and acknowledged meanwhile
        del store.gates["GetItem"]
        gate.set()
        await read  # the old answer is fine for a read that overlapped the write ...
        after = await cs.call("GetItem", dict(GET))  # ... but it must not have been cached
        assert after == ({"Item": store.get("t", key("a"))} if store.get("t", key("a")) else {})
    run(go())
    assert cs.item_flights.stale_fills == 1


def test_a_read_that_started_during_a_write_does_not_fill_the_old_value() -> None:
    cs, store = _setup()

    async def go() -> None:
        await cs.call("DescribeTable", {"TableName": "t"})
        write_gate = store.gates["PutItem"] = asyncio.Event()
        write = asyncio.ensure_future(cs.call("PutItem", {"TableName": "t", "Item": {"pk": S("a"), "v": S("new")}}))
        await _settle()  # the write is in flight, not applied
        read_gate = store.gates["GetItem"] = asyncio.Event()
        read = asyncio.ensure_future(cs.call("GetItem", dict(GET)))
        await _settle()  # the read took the old value
        write_gate.set()
        await write
        read_gate.set()
        assert (await read)["Item"]["v"] == S("old")
        assert (await cs.call("GetItem", dict(GET)))["Item"]["v"] == S("new")
    run(go())


def test_a_query_that_raced_a_write_to_its_partition_does_not_fill() -> None:
    cs, store = _setup()
    query = {"TableName": "r", "KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": S("p")}}

    async def go() -> None:
        await cs.call("DescribeTable", {"TableName": "r"})
        gate = store.gates["Query"] = asyncio.Event()
        read = asyncio.ensure_future(cs.call("Query", dict(query)))
        await _settle()
        await cs.call("PutItem", {"TableName": "r", "Item": {"pk": S("p"), "sk": S("2")}})
        del store.gates["Query"]
        gate.set()
        assert (await read)["Count"] == 1
        assert (await cs.call("Query", dict(query)))["Count"] == 2
    run(go())


def test_a_batch_get_that_raced_a_write_does_not_fill_that_key() -> None:
    cs, store = _setup()
    store.data["t"][(b"b", b"")] = {"pk": S("b"), "v": S("old")}

    async def go() -> None:
        await cs.call("DescribeTable", {"TableName": "t"})
        gate = store.gates["BatchGetItem"] = asyncio.Event()
        read = asyncio.ensure_future(cs.call("BatchGetItem", {"RequestItems": {"t": {"Keys": [key("a"), key("b")]}}}))
        await _settle()
        await cs.call("DeleteItem", {"TableName": "t", "Key": key("a")})
        gate.set()
        await read
        assert await cs.call("GetItem", dict(GET)) == {}
        assert cs.items.get((cs.tables.get("t").incarnation, b"b", b""))[0]["v"] == S("old")  # filled
    run(go())


def test_single_flight_collapses_concurrent_misses_into_one_store_read() -> None:
    cs, store = _setup()

    async def go() -> list[Any]:
        await cs.call("DescribeTable", {"TableName": "t"})
        gate = store.gates["GetItem"] = asyncio.Event()
        readers = [asyncio.ensure_future(cs.call("GetItem", dict(GET))) for _ in range(50)]
        await _settle()
        gate.set()
        return await asyncio.gather(*readers)
    results = run(go())
    assert store.calls["GetItem"] == 1 and cs.item_flights.joined == 49
    assert all(r == {"Item": {"pk": S("a"), "v": S("old")}} for r in results)


def test_single_flight_for_query_pages() -> None:
    cs, store = _setup()
    query = {"TableName": "r", "KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": S("p")}}

    async def go() -> list[Any]:
        gate = store.gates["Query"] = asyncio.Event()
        readers = [asyncio.ensure_future(cs.call("Query", dict(query))) for _ in range(20)]
        await _settle()
        gate.set()
        return await asyncio.gather(*readers)
    results = run(go())
    assert store.calls["Query"] == 1 and all(r["Count"] == 1 for r in results)


def test_a_read_after_an_acknowledged_write_does_not_join_an_older_flight() -> None:
    cs, store = _setup()

    async def go() -> None:
        await cs.call("DescribeTable", {"TableName": "t"})
        gate = store.gates["GetItem"] = asyncio.Event()
        old = asyncio.ensure_future(cs.call("GetItem", dict(GET)))
        await _settle()
        await cs.call("PutItem", {"TableName": "t", "Item": {"pk": S("a"), "v": S("new")}})
        assert (await cs.call("GetItem", dict(GET)))["Item"]["v"] == S("new")  # served from the write-through
        cs.items.clear()
        late = asyncio.ensure_future(cs.call("GetItem", dict(GET)))  # a miss while the old flight is pending
        await _settle()
        gate.set()
        assert (await old)["Item"]["v"] == S("old")
        assert (await late)["Item"]["v"] == S("new")
    run(go())
    assert store.calls["GetItem"] == 2


def test_a_store_error_reaches_every_waiter_and_nothing_is_cached() -> None:
    cs, store = _setup()

    async def go() -> list[Any]:
        await cs.call("DescribeTable", {"TableName": "t"})
        gate = store.gates["GetItem"] = asyncio.Event()
        original = store.op_GetItem

        async def failing(req: dict[str, Any]) -> Any:
            await gate.wait()
            raise ServiceUnavailable("down")
        store.op_GetItem = failing  # type: ignore[method-assign]
        readers = [asyncio.ensure_future(cs.call("GetItem", dict(GET))) for _ in range(5)]
        await _settle()
        gate.set()
        results = await asyncio.gather(*readers, return_exceptions=True)
        store.op_GetItem = original  # type: ignore[method-assign]
        return results
    results = run(go())
    assert all(isinstance(r, ServiceUnavailable) for r in results)
    assert store.calls["GetItem"] == 1 and cs.items.entries == 0 and not cs.item_flights.active
    assert len(cs.gens) == 0


def test_a_cancelled_leader_hands_the_read_to_a_follower() -> None:
    cs, store = _setup()

    async def go() -> list[Any]:
        await cs.call("DescribeTable", {"TableName": "t"})
        gate = store.gates["GetItem"] = asyncio.Event()
        leader = asyncio.ensure_future(cs.call("GetItem", dict(GET)))
        await _settle()
        followers = [asyncio.ensure_future(cs.call("GetItem", dict(GET))) for _ in range(3)]
        await _settle()
        leader.cancel()
        await _settle()
        gate.set()
        with pytest.raises(asyncio.CancelledError):
            await leader
        return await asyncio.gather(*followers)
    results = run(go())
    assert all(r["Item"]["v"] == S("old") for r in results)
    assert store.calls["GetItem"] == 2  # the cancelled leader's read, then one for the followers
    assert len(cs.gens) == 0 and not cs.item_flights.active


def test_a_cancelled_follower_does_not_disturb_the_others() -> None:
    cs, store = _setup()

    async def go() -> list[Any]:
        await cs.call("DescribeTable", {"TableName": "t"})
        gate = store.gates["GetItem"] = asyncio.Event()
        readers = [asyncio.ensure_future(cs.call("GetItem", dict(GET))) for _ in range(3)]
        await _settle()
        readers[1].cancel()
        await _settle()
        gate.set()
        return await asyncio.gather(readers[0], readers[2])
    results = run(go())
    assert all(r["Item"]["v"] == S("old") for r in results) and store.calls["GetItem"] == 1
    assert cs.items.entries == 1
