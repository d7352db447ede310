"""CachedStore writes against a counting fake store: write-through, invalidation, failures, flushes."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from accelerator.cache import CachedStore, LocalBus
from accelerator.config import CacheConfig
from accelerator.core.context import HIT, MISS
from accelerator.core.errors import ConditionalCheckFailedException, InternalServerError, ServiceUnavailable
from tests.cache_fakes import FakeStore, make_cached, run
from tests.test_cache_reads import S, call, get, key


@pytest.fixture
def setup() -> tuple[Any, FakeStore]:
    cs, store, _ = make_cached()
    store.data["t"][(b"a", b"")] = {"pk": S("a"), "v": S("old")}
    get(cs, "a")  # cached
    return cs, store


def put(cs: Any, pk: str, v: str, **extra: Any) -> dict[str, Any]:
    return run(cs.call("PutItem", {"TableName": "t", "Item": {"pk": S(pk), "v": S(v)}, **extra}))  # type: ignore[no-any-return]


def test_put_writes_through_after_the_store_acknowledged(setup: Any) -> None:
    cs, store = setup
    put(cs, "a", "new")
    put(cs, "b", "fresh")
    assert get(cs, "a") == ({"Item": {"pk": S("a"), "v": S("new")}}, HIT)
    assert get(cs, "b") == ({"Item": {"pk": S("b"), "v": S("fresh")}}, HIT)
    assert store.calls["GetItem"] == 1 and cs.stats.write_throughs == 2


def test_put_caches_numbers_in_their_canonical_form() -> None:
    cs, store, _ = make_cached()
    run(cs.call("PutItem", {"TableName": "t", "Item": {"pk": S("n"), "v": {"N": "001.50"}}}))
    assert get(cs, "n")[0]["Item"]["v"] == {"N": "1.5"}


def test_put_honours_return_values(setup: Any) -> None:
    cs, store = setup
    assert put(cs, "a", "new", ReturnValues="ALL_OLD") == {"Attributes": {"pk": S("a"), "v": S("old")}}
    assert get(cs, "a")[0]["Item"]["v"] == S("new")


def test_delete_leaves_a_negative_entry(setup: Any) -> None:
    cs, store = setup
    run(cs.call("DeleteItem", {"TableName": "t", "Key": key("a")}))
    assert get(cs, "a") == ({}, HIT)
    assert store.calls["GetItem"] == 1


def _update(cs: Any, mode: str | None) -> dict[str, Any]:
    req: dict[str, Any] = {"TableName": "t", "Key": key("a"), "AttributeUpdates": {"v": {"Value": S("upd")}}}
    if mode is not None:
        req["ReturnValues"] = mode
    return run(cs.call("UpdateItem", req))  # type: ignore[no-any-return]


@pytest.mark.parametrize("mode, expected, cached", [
    (None, {}, True),
    ("NONE", {}, True),
    ("ALL_NEW", {"Attributes": {"pk": S("a"), "v": S("upd")}}, True),
    ("ALL_OLD", {"Attributes": {"pk": S("a"), "v": S("old")}}, False),
    ("UPDATED_NEW", {"Attributes": {"v": S("upd")}}, False),
    ("UPDATED_OLD", {"Attributes": {"v": S("old")}}, False),
])
def test_update_honours_return_values_exactly_and_caches_the_new_item_when_it_can(
        setup: Any, mode: str | None, expected: dict[str, Any], cached: bool) -> None:
    cs, store = setup
    reference = FakeStore()
    reference.add_table("t")
    reference.data["t"][(b"a", b"")] = {"pk": S("a"), "v": S("old")}
    req: dict[str, Any] = {"TableName": "t", "Key": key("a"), "AttributeUpdates": {"v": {"Value": S("upd")}}}
    if mode is not None:
        req["ReturnValues"] = mode
    assert run(reference.call("UpdateItem", req)) == expected  # what the store alone answers
    assert _update(cs, mode) == expected
    response, status = get(cs, "a")
    assert response["Item"] == {"pk": S("a"), "v": S("upd")}
    assert status == (HIT if cached else MISS)


def test_a_failed_write_changes_nothing(setup: Any) -> None:
    cs, store = setup
    call(cs, "Scan", {"TableName": "t"})
    store.failures["PutItem"] = ConditionalCheckFailedException()
    with pytest.raises(ConditionalCheckFailedException):
        put(cs, "a", "never")
    assert get(cs, "a") == ({"Item": {"pk": S("a"), "v": S("old")}}, HIT)
    assert call(cs, "Scan", {"TableName": "t"})[1] == HIT


def test_a_cancelled_transaction_changes_nothing(setup: Any) -> None:
    cs, store = setup
    req = {"TransactItems": [
        {"Put": {"TableName": "t", "Item": {"pk": S("a"), "v": S("never")}}},
        {"ConditionCheck": {"TableName": "t", "Key": key("z"), "Fail": True}}]}
    with pytest.raises(Exception, match="Transaction cancelled"):
        run(cs.call("TransactWriteItems", req))
    assert get(cs, "a") == ({"Item": {"pk": S("a"), "v": S("old")}}, HIT)


@pytest.mark.parametrize("error", [ServiceUnavailable("down"), InternalServerError("?"), RuntimeError("bug")])
def test_a_write_with_unknown_outcome_drops_the_key(setup: Any, error: Exception) -> None:
    cs, store = setup
    store.failures["PutItem"] = error
    with pytest.raises(type(error)):
        put(cs, "a", "maybe")
    assert get(cs, "a")[1] == MISS


def test_a_cancelled_write_drops_the_key(setup: Any) -> None:
    cs, store = setup
    store.gates["PutItem"] = asyncio.Event()

    async def go() -> None:
        task = asyncio.ensure_future(cs.call("PutItem", {"TableName": "t", "Item": {"pk": S("a"), "v": S("x")}}))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    run(go())
    assert get(cs, "a")[1] == MISS


def test_batch_write_writes_through_and_drops_unprocessed_keys(setup: Any) -> None:
    cs, store = setup
    store.data["t"][(b"b", b"")] = {"pk": S("b"), "v": S("old")}
    get(cs, "b")
    store.unprocessed = {"b"}
    response = run(cs.call("BatchWriteItem", {"RequestItems": {"t": [
        {"PutRequest": {"Item": {"pk": S("c"), "v": S("new")}}},
        {"PutRequest": {"Item": {"pk": S("b"), "v": S("unapplied")}}},
        {"DeleteRequest": {"Key": key("a")}}]}}))
    assert list(response["UnprocessedItems"]["t"]) == [{"PutRequest": {"Item": {"pk": S("b"), "v": S("unapplied")}}}]
    store.unprocessed = set()
    assert get(cs, "c") == ({"Item": {"pk": S("c"), "v": S("new")}}, HIT)
    assert get(cs, "a") == ({}, HIT)
    assert get(cs, "b") == ({"Item": {"pk": S("b"), "v": S("old")}}, MISS)


def test_transact_write_puts_and_deletes_through_updates_invalidate(setup: Any) -> None:
    cs, store = setup
    for pk in ("u", "d"):
        store.data["t"][(pk.encode(), b"")] = {"pk": S(pk), "v": S("old")}
        get(cs, pk)
    run(cs.call("TransactWriteItems", {"TransactItems": [
        {"Put": {"TableName": "t", "Item": {"pk": S("a"), "v": S("tx")}}},
        {"Delete": {"TableName": "t", "Key": key("d")}},
        {"Update": {"TableName": "t", "Key": key("u"), "AttributeUpdates": {"v": {"Value": S("tx")}}}},
        {"ConditionCheck": {"TableName": "t", "Key": key("z")}}]}))
    assert get(cs, "a") == ({"Item": {"pk": S("a"), "v": S("tx")}}, HIT)
    assert get(cs, "d") == ({}, HIT)
    assert get(cs, "u") == ({"Item": {"pk": S("u"), "v": S("tx")}}, MISS)


def test_transact_write_with_a_token_invalidates_instead_of_writing_through(setup: Any) -> None:
    cs, store = setup
    run(cs.call("TransactWriteItems", {"ClientRequestToken": "tok", "TransactItems": [
        {"Put": {"TableName": "t", "Item": {"pk": S("a"), "v": S("tx")}}}]}))
    assert get(cs, "a") == ({"Item": {"pk": S("a"), "v": S("tx")}}, MISS)


def test_a_write_whose_keys_cannot_be_worked_out_flushes_its_table(setup: Any) -> None:
    cs, store = setup

    async def lenient(req: dict[str, Any]) -> Any:
        return {}
    store.op_PutItem = lenient  # type: ignore[method-assign]
    # a key the cache cannot encode (wrong type) but this store accepts: the whole table is flushed
    run(cs.call("PutItem", {"TableName": "t", "Item": {"pk": {"N": "1"}}}))
    assert cs.items.entries == 0 and get(cs, "a")[1] == MISS


def test_two_overlapping_writes_to_one_key_never_leave_the_older(setup: Any) -> None:
    cs, store = setup
    late = asyncio.Event()
    original = store.op_PutItem

    async def first_acknowledged_last(req: dict[str, Any]) -> Any:
        response = await original(req)
        if req["Item"]["v"] == S("1"):
            await late.wait()
        return response
    store.op_PutItem = first_acknowledged_last  # type: ignore[method-assign]

    async def go() -> None:
        first = asyncio.ensure_future(cs.call("PutItem", {"TableName": "t", "Item": {"pk": S("a"), "v": S("1")}}))
        await asyncio.sleep(0)  # "1" is applied, its answer held back
        await cs.call("PutItem", {"TableName": "t", "Item": {"pk": S("a"), "v": S("2")}})  # applied last
        late.set()
        await first  # acknowledged last: must not write "1" through over "2"
    run(go())
    stored = store.get("t", key("a"))
    assert stored is not None and stored["v"] == S("2")
    response, _ = get(cs, "a")
    assert response["Item"] == stored


def test_writes_are_broadcast_to_other_nodes() -> None:
    store = FakeStore()
    store.add_table("t")
    store.data["t"][(b"a", b"")] = {"pk": S("a"), "v": S("old")}
    bus = LocalBus()
    a = CachedStore(store, CacheConfig(), invalidator=bus.node())
    b = CachedStore(store, CacheConfig(), invalidator=bus.node())

    async def go() -> None:
        await a.open()
        await b.open()
        await b.call("GetItem", {"TableName": "t", "Key": key("a")})
        await b.call("Scan", {"TableName": "t"})
        await a.call("PutItem", {"TableName": "t", "Item": {"pk": S("a"), "v": S("new")}})
        assert (await b.call("GetItem", {"TableName": "t", "Key": key("a")}))["Item"]["v"] == S("new")
        assert (await b.call("Scan", {"TableName": "t"}))["Items"][0]["v"] == S("new")
        await a.call("DeleteTable", {"TableName": "t"})
        assert b.tables.get("t") is None
        await a.close()
        await b.close()
    run(go())
    assert b.stats.remote_invalidations == 2


def test_metrics_and_admin_routes() -> None:
    from accelerator.metrics import Metrics
    metrics = Metrics()
    store = FakeStore()
    store.add_table("t")
    cs = CachedStore(store, CacheConfig(), metrics=metrics)
    for _ in range(3):
        run(cs.call("GetItem", {"TableName": "t", "Key": key("a")}))
    from prometheus_client.parser import text_string_to_metric_families
    families = {f.name: f for f in text_string_to_metric_families(metrics.render().decode())}
    for name, kind, value in [("ItemCacheHits", "counter", 2), ("ItemCacheMisses", "counter", 1),
                              ("QueryCacheHits", "counter", 0), ("ScanCacheMisses", "counter", 0),
                              ("EvictedSize", "counter", 0), ("ItemCacheEntries", "gauge", 1)]:
        assert families[name].type == kind and families[name].samples[0].value == value, name
    assert families["EstimatedDbSize"].samples[0].value == cs.items.bytes > 0
    routes = cs.admin_routes()
    status, ctype, _, body = run(routes[b"GET", b"/admin/cache"][1]())
    assert status == 200 and b'"item_hits": 2' in body
    status, _, _, body = run(routes[b"GET", b"/admin/cache/tables/"][1](b"t"))
    assert b'"item_entries": 1' in body and b'"known": true' in body
    status, _, _, body = run(routes[b"POST", b"/admin/cache/flush/"][1](b"t"))
    assert b'"entries":1' in body and cs.items.entries == 0
    status, _, _, body = run(routes[b"POST", b"/admin/cache/flush"][1]())
    assert status == 200 and cs.tables.names() == []



def test_over_the_local_engine_written_items_are_cached_as_the_engine_normalised_them() -> None:
    """The local engine validates and normalises written items in place, so the cache keeps them without a
    second check (``trusted``); every write path must still leave canonical numbers and the right sizes."""
    from accelerator.cache.items import item_bytes
    from accelerator.core.values import item_size
    from accelerator.engine import TableEngine
    from backends.memory import MemoryStorage

    async def main() -> None:
        engine = TableEngine(MemoryStorage())
        await engine.open()
        cs = CachedStore(engine, CacheConfig())
        assert cs.trusted_items and not make_cached()[0].trusted_items  # an upstream-like store is checked
        await cs.call("CreateTable", {
            "TableName": "t", "BillingMode": "PAY_PER_REQUEST",
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}]})
        odd = {"N": "001.50"}
        await cs.call("PutItem", {"TableName": "t", "Item": {"pk": S("put"), "v": odd, "s": {"NS": ["02", "1"]}}})
        await cs.call("BatchWriteItem", {"RequestItems": {"t": [{"PutRequest": {"Item": {"pk": S("batch"),
                                                                                           "v": odd}}}]}})
        await cs.call("TransactWriteItems", {"TransactItems": [{"Put": {"TableName": "t",
                                                                        "Item": {"pk": S("txn"), "v": odd}}}]})
        await cs.call("UpdateItem", {"TableName": "t", "Key": key("upd"), "UpdateExpression": "SET v = :v",
                                     "ExpressionAttributeValues": {":v": odd}})
        for pk in ("put", "batch", "txn", "upd"):
            request = {"TableName": "t", "Key": key(pk)}
            cached = await cs.call("GetItem", dict(request))
            stored = await engine.call("GetItem", dict(request))
            assert cached["Item"]["v"] == {"N": "1.5"} and cached["Item"] == stored["Item"], pk
            entry = next(e for k, e in cs.items._data.items() if k[1] == pk.encode())
            assert item_bytes(entry) == item_size(stored["Item"]), pk  # the size, worked out when needed
        assert cs.stats.write_throughs == 4 and cs.stats.item_hits == 4 and cs.stats.item_misses == 0

    asyncio.run(main())
