"""CachedStore reads against a counting fake store: item cache, batch reads, query cache, bypasses."""

from __future__ import annotations

from typing import Any

import pytest

from accelerator.config import TableCacheConfig
from accelerator.core.context import BYPASS, CACHE_STATUS, HIT, MISS
from accelerator.core.errors import ResourceNotFoundException
from accelerator.expressions import plan
from tests.cache_fakes import FakeClock, FakeStore, make_cached, run


def S(v: str) -> dict[str, str]:
    return {"S": v}


def key(pk: str) -> dict[str, Any]:
    return {"pk": S(pk)}


def get(cs: Any, pk: str, **extra: Any) -> tuple[dict[str, Any], bytes]:
    async def go() -> tuple[dict[str, Any], bytes]:
        response = await cs.call("GetItem", {"TableName": "t", "Key": key(pk), **extra})
        return response, CACHE_STATUS.get()
    return run(go())  # type: ignore[no-any-return]


def call(cs: Any, op: str, req: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
    async def go() -> tuple[dict[str, Any], bytes]:
        response = await cs.call(op, req)
        return response, CACHE_STATUS.get()
    return run(go())  # type: ignore[no-any-return]


@pytest.fixture
def setup() -> tuple[Any, FakeStore, FakeClock]:
    cs, store, clock = make_cached()
    store.data["t"][(b"a", b"")] = {"pk": S("a"), "v": {"N": "1"}, "w": S("x")}
    return cs, store, clock


def test_hit_after_miss_does_not_touch_the_store(setup: Any) -> None:
    cs, store, _ = setup
    first, status = get(cs, "a")
    assert status == MISS and first["Item"]["v"] == {"N": "1"}
    calls = store.calls.total()
    for _ in range(5):
        again, status = get(cs, "a")
        assert status == HIT and again == first
    assert store.calls.total() == calls and store.calls["GetItem"] == 1 and store.calls["DescribeTable"] == 1
    assert cs.stats.item_hits == 5 and cs.stats.item_misses == 1


def test_a_creating_table_is_neither_served_nor_filled_until_active(setup: Any) -> None:
    cs, store, _ = setup
    store.creating.add("t")  # a restore or an import is filling it: the store answers its item operations
    for _ in range(2):
        assert get(cs, "a")[1] != HIT
    assert cs.tables.get("t") is None and store.calls["GetItem"] == 2 and cs.items.entries == 0
    store.creating.discard("t")
    assert get(cs, "a")[1] == MISS and get(cs, "a")[1] == HIT and store.calls["GetItem"] == 3


def test_not_found_is_cached_as_a_negative_entry_with_its_ttl(setup: Any) -> None:
    cs, store, clock = setup
    assert get(cs, "nope") == ({}, MISS)
    assert get(cs, "nope") == ({}, HIT)
    clock.advance(cs.config.negative_ttl + 1)
    assert get(cs, "nope") == ({}, MISS)
    assert store.calls["GetItem"] == 2


def test_item_ttl_and_per_table_ttl() -> None:
    cs, store, clock = make_cached(item_ttl=100, tables={"r": TableCacheConfig(item_ttl=5)})
    store.data["t"][(b"a", b"")] = {"pk": S("a")}
    store.data["r"][(b"a", b"1")] = {"pk": S("a"), "sk": S("1")}
    rkey = {"pk": S("a"), "sk": S("1")}
    for _ in range(2):
        get(cs, "a")
        call(cs, "GetItem", {"TableName": "r", "Key": rkey})
    clock.advance(6)
    assert get(cs, "a")[1] == HIT
    assert call(cs, "GetItem", {"TableName": "r", "Key": rkey})[1] == MISS
    clock.advance(95)
    assert get(cs, "a")[1] == MISS


def test_consistent_read_bypasses_and_does_not_fill(setup: Any) -> None:
    cs, store, _ = setup
    for _ in range(2):
        response, status = get(cs, "a", ConsistentRead=True)
        assert status == BYPASS and response["Item"]["pk"] == S("a")
    assert store.calls["GetItem"] == 2
    assert get(cs, "a")[1] == MISS


def test_table_with_caching_off_bypasses() -> None:
    cs, store, _ = make_cached(tables={"t": TableCacheConfig(enabled=False)})
    assert get(cs, "a")[1] == BYPASS and get(cs, "a")[1] == BYPASS
    assert store.calls["GetItem"] == 2


def test_unknown_table_and_bad_key_reach_the_store_for_its_error(setup: Any) -> None:
    cs, store, _ = setup
    with pytest.raises(ResourceNotFoundException):
        run(cs.call("GetItem", {"TableName": "missing", "Key": key("a")}))
    with pytest.raises(Exception) as exc:
        run(cs.call("GetItem", {"TableName": "t", "Key": {"pk": {"N": "1"}}}))
    assert "Type mismatch" in str(exc.value)


def test_a_request_the_planner_rejects_bypasses_to_the_store(setup: Any) -> None:
    cs, store, _ = setup
    _, status = get(cs, "a", ExpressionAttributeNames={"#unused": "v"})
    assert status == BYPASS and store.calls["GetItem"] == 1


def test_projections_are_applied_to_one_cached_whole_item(setup: Any) -> None:
    cs, store, _ = setup
    assert get(cs, "a", ProjectionExpression="v") == ({"Item": {"v": {"N": "1"}}}, MISS)
    assert get(cs, "a", AttributesToGet=["w", "pk"]) == ({"Item": {"w": S("x"), "pk": S("a")}}, HIT)
    assert get(cs, "a", ProjectionExpression="#w", ExpressionAttributeNames={"#w": "w"}) == (
        {"Item": {"w": S("x")}}, HIT)
    assert get(cs, "a")[0]["Item"] == {"pk": S("a"), "v": {"N": "1"}, "w": S("x")}
    assert store.calls["GetItem"] == 1


def test_batch_get_fetches_only_misses_in_one_call_and_merges(setup: Any) -> None:
    cs, store, _ = setup
    store.data["t"][(b"b", b"")] = {"pk": S("b")}
    get(cs, "a")
    get(cs, "gone")
    seen: list[Any] = []
    original = store.op_BatchGetItem

    async def spy(req: dict[str, Any]) -> Any:
        seen.append(req)
        return await original(req)
    store.op_BatchGetItem = spy  # type: ignore[method-assign]
    req = {"RequestItems": {"t": {"Keys": [key("a"), key("b"), key("gone"), key("c")]}}}
    response, status = call(cs, "BatchGetItem", req)
    assert status == MISS and len(seen) == 1
    assert seen[0]["RequestItems"]["t"]["Keys"] == [key("b"), key("c")]
    assert sorted(i["pk"]["S"] for i in response["Responses"]["t"]) == ["a", "b"]
    assert response["UnprocessedKeys"] == {}
    response, status = call(cs, "BatchGetItem", req)
    assert status == HIT and len(seen) == 1
    assert sorted(i["pk"]["S"] for i in response["Responses"]["t"]) == ["a", "b"]


def test_batch_get_passes_unprocessed_keys_through_in_the_clients_shape(setup: Any) -> None:
    cs, store, _ = setup
    store.data["t"][(b"b", b"")] = {"pk": S("b"), "v": S("bv")}
    store.unprocessed = {"b"}
    spec = {"Keys": [key("a"), key("b")], "AttributesToGet": ["v"]}
    response, _ = call(cs, "BatchGetItem", {"RequestItems": {"t": spec}})
    assert response["Responses"]["t"] == [{"v": {"N": "1"}}]
    assert response["UnprocessedKeys"] == {"t": {"Keys": [key("b")], "AttributesToGet": ["v"]}}
    store.unprocessed = set()
    assert get(cs, "b")[1] == MISS  # an unprocessed key was not cached as missing


def test_batch_get_consistent_read_bypasses(setup: Any) -> None:
    cs, store, _ = setup
    req = {"RequestItems": {"t": {"Keys": [key("a")], "ConsistentRead": True}}}
    assert call(cs, "BatchGetItem", req)[1] == BYPASS
    assert call(cs, "BatchGetItem", req)[1] == BYPASS
    assert store.calls["BatchGetItem"] == 2


def test_batch_get_cuts_hits_at_16_mb(monkeypatch: pytest.MonkeyPatch) -> None:
    from accelerator.cache import reads
    cs, store, _ = make_cached()
    monkeypatch.setattr(reads, "BATCH_GET_BYTES", 3000)
    for i in range(5):
        store.data["t"][(b"k%d" % i, b"")] = {"pk": S(f"k{i}"), "blob": S("x" * 1000)}
    keys = [key(f"k{i}") for i in range(5)]
    for _ in range(2):  # a miss, then all hits
        response, _ = call(cs, "BatchGetItem", {"RequestItems": {"t": {"Keys": keys}}})
        returned = [i["pk"]["S"] for i in response["Responses"]["t"]]
        assert returned == ["k0", "k1", "k2"]
        assert response["UnprocessedKeys"]["t"]["Keys"] == keys[3:]


def test_transact_get_bypasses(setup: Any) -> None:
    cs, store, _ = setup
    req = {"TransactItems": [{"Get": {"TableName": "t", "Key": key("a")}}]}
    assert call(cs, "TransactGetItems", req)[1] == BYPASS
    assert store.calls["TransactGetItems"] == 1


def _query(pk: str, **extra: Any) -> dict[str, Any]:
    return {"TableName": "r", "KeyConditions": {"pk": {"ComparisonOperator": "EQ", "AttributeValueList": [S(pk)]}},
            **extra}


@pytest.fixture
def ranged() -> tuple[Any, FakeStore]:
    cs, store, _ = make_cached()
    for pk in ("p", "q"):
        for sk in ("1", "2", "3"):
            store.data["r"][(pk.encode(), sk.encode())] = {"pk": S(pk), "sk": S(sk)}
    return cs, store


def test_query_hit_after_miss_and_pages_cached_separately(ranged: Any) -> None:
    cs, store = ranged
    first, status = call(cs, "Query", _query("p", Limit=2))
    assert status == MISS and first["Count"] == 2 and "LastEvaluatedKey" in first
    assert call(cs, "Query", _query("p", Limit=2)) == (first, HIT)
    second, status = call(cs, "Query", _query("p", Limit=2, ExclusiveStartKey=first["LastEvaluatedKey"]))
    assert status == MISS and [i["sk"]["S"] for i in second["Items"]] == ["3"]
    assert call(cs, "Query", _query("p", Limit=2, ExclusiveStartKey=first["LastEvaluatedKey"]))[1] == HIT
    assert store.calls["Query"] == 2
    assert (cs.stats.query_hits, cs.stats.query_misses) == (2, 2)


def test_query_page_invalidated_by_a_write_to_its_partition_only(ranged: Any) -> None:
    cs, store = ranged
    call(cs, "Query", _query("p"))
    call(cs, "PutItem", {"TableName": "r", "Item": {"pk": S("q"), "sk": S("9")}})
    assert call(cs, "Query", _query("p"))[1] == HIT  # another partition: still cached
    call(cs, "PutItem", {"TableName": "r", "Item": {"pk": S("p"), "sk": S("9")}})
    response, status = call(cs, "Query", _query("p"))
    assert status == MISS and [i["sk"]["S"] for i in response["Items"]] == ["1", "2", "3", "9"]


def test_query_by_expression_is_scoped_to_its_partition(ranged: Any) -> None:
    cs, store = ranged
    req = {"TableName": "r", "KeyConditionExpression": "pk = :v", "ExpressionAttributeValues": {":v": S("p")}}
    call(cs, "Query", req)
    call(cs, "DeleteItem", {"TableName": "r", "Key": {"pk": S("q"), "sk": S("1")}})
    assert call(cs, "Query", req)[1] == HIT
    call(cs, "DeleteItem", {"TableName": "r", "Key": {"pk": S("p"), "sk": S("1")}})
    response, status = call(cs, "Query", req)
    assert status == MISS and response["Count"] == 2


def test_query_whose_partition_cannot_be_told_depends_on_the_whole_table(
        ranged: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    cs, store = ranged

    def unsupported(*args: Any) -> Any:
        raise ValueError("not supported yet")
    monkeypatch.setattr(plan, "key_condition", unsupported)
    req = {"TableName": "r", "KeyConditionExpression": "pk = :v", "ExpressionAttributeValues": {":v": S("p")}}
    call(cs, "Query", req)
    assert call(cs, "Query", req)[1] == HIT
    call(cs, "PutItem", {"TableName": "r", "Item": {"pk": S("q"), "sk": S("9")}})
    assert call(cs, "Query", req)[1] == MISS


def test_scan_pages_invalidated_by_any_write_to_the_table(ranged: Any) -> None:
    cs, store = ranged
    scan = {"TableName": "r", "Limit": 2}
    call(cs, "Scan", scan)
    assert call(cs, "Scan", scan)[1] == HIT
    call(cs, "PutItem", {"TableName": "t", "Item": {"pk": S("z")}})  # another table
    assert call(cs, "Scan", scan)[1] == HIT
    call(cs, "UpdateItem", {"TableName": "r", "Key": {"pk": S("q"), "sk": S("3")},
                            "AttributeUpdates": {"x": {"Value": S("1")}}})
    assert call(cs, "Scan", scan)[1] == MISS
    assert (cs.stats.scan_hits, cs.stats.scan_misses) == (2, 2)


def test_query_consistent_read_and_query_ttl_zero_bypass(ranged: Any) -> None:
    cs, store = ranged
    assert call(cs, "Query", _query("p", ConsistentRead=True))[1] == BYPASS
    assert call(cs, "Query", _query("p"))[1] == MISS
    off, store2, _ = make_cached(store=store, query_ttl=0)
    assert call(off, "Query", _query("p"))[1] == BYPASS
    assert call(off, "Query", _query("p"))[1] == BYPASS


def test_query_ttl_expires_pages() -> None:
    cs, store, clock = make_cached(query_ttl=30)
    call(cs, "Query", _query("p"))
    clock.advance(29)
    assert call(cs, "Query", _query("p"))[1] == HIT
    clock.advance(2)
    assert call(cs, "Query", _query("p"))[1] == MISS


def test_table_changes_flush_its_entries(setup: Any) -> None:
    cs, store, _ = setup
    get(cs, "a")
    old = cs.tables.get("t")
    run(cs.call("DeleteTable", {"TableName": "t"}))
    assert not old.alive and cs.items.entries == 0
    run(cs.call("CreateTable", {"TableName": "t", "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
                                "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "N"}]}))
    response, status = call(cs, "GetItem", {"TableName": "t", "Key": {"id": {"N": "1"}}})
    assert response == {} and status == MISS  # the new schema was learned


def test_resource_not_found_from_the_store_forgets_the_table(setup: Any) -> None:
    cs, store, _ = setup
    get(cs, "a")
    del store.schemas["t"], store.data["t"]  # deleted behind this node's back
    with pytest.raises(ResourceNotFoundException):
        run(cs.call("PutItem", {"TableName": "t", "Item": {"pk": S("a")}}))
    assert cs.tables.get("t") is None


def test_control_plane_passes_through(setup: Any) -> None:
    cs, store, _ = setup
    response, status = call(cs, "DescribeTable", {"TableName": "t"})
    assert response["Table"]["TableName"] == "t" and status == b""
