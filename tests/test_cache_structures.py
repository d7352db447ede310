"""The cache's synchronous structures, with a fake clock (no test sleeps)."""

from __future__ import annotations

import pytest

from accelerator.cache.generations import Generations
from accelerator.cache.items import ItemCache, item_bytes
from accelerator.cache.queries import QueryCache, partition_of, query_key
from accelerator.cache.sizing import ENTRY_OVERHEAD, deep_size
from accelerator.core.keys import KeySchema
from tests.cache_fakes import FakeClock

K1, K2, K3 = (1, b"a", b""), (1, b"b", b""), (1, b"c", b"")
ITEM = {"pk": {"S": "a"}, "v": {"N": "1"}}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def test_item_ttl_expires_lazily(clock: FakeClock) -> None:
    cache = ItemCache(1 << 20, clock)
    cache.put(K1, ITEM, 300)
    clock.advance(299.9)
    assert cache.get(K1)[0] == ITEM
    clock.advance(0.2)
    assert cache.get(K1) is None


def test_negative_entry_has_its_own_ttl(clock: FakeClock) -> None:
    cache = ItemCache(1 << 20, clock)
    cache.put(K1, None, 10)
    cache.put(K2, ITEM, 300)
    entry = cache.get(K1)
    assert entry is not None and entry[0] is None
    clock.advance(11)
    assert cache.get(K1) is None
    assert cache.get(K2) is not None


def test_zero_ttl_means_no_time_expiry(clock: FakeClock) -> None:
    cache = ItemCache(1 << 20, clock)
    cache.put(K1, ITEM, 0)
    clock.advance(10 ** 9)
    assert cache.get(K1) is not None


def test_byte_bound_evicts_least_recently_used_and_counts_bytes(clock: FakeClock) -> None:
    one = ENTRY_OVERHEAD + 66 + 1 + deep_size(ITEM)
    cache = ItemCache(2 * one + 10, clock)
    cache.put(K1, ITEM, 0)
    cache.put(K2, ITEM, 0)
    assert cache.get(K1) is not None  # K1 is now the most recently used
    cache.put(K3, ITEM, 0)
    assert cache.get(K2) is None and cache.get(K1) is not None and cache.get(K3) is not None
    assert cache.bytes <= cache.max_bytes
    assert cache.evicted_bytes == one and cache.evictions == 1


def test_item_too_large_for_the_bound_is_not_cached(clock: FakeClock) -> None:
    cache = ItemCache(1000, clock)
    assert not cache.put(K1, {"pk": {"S": "a"}, "blob": {"S": "x" * 5000}}, 0)
    assert cache.get(K1) is None


def test_entry_keeps_dynamodb_item_size(clock: FakeClock) -> None:
    cache = ItemCache(1 << 20, clock)
    cache.put(K1, ITEM, 0)
    assert item_bytes(cache.get(K1)) == len("pk") + 1 + len("v") + 2
    cache.put(K2, ITEM, 0, item_bytes=99)
    assert item_bytes(cache.get(K2)) == 99


def test_purge_drops_only_one_incarnation(clock: FakeClock) -> None:
    cache = ItemCache(1 << 20, clock)
    cache.put(K1, ITEM, 0)
    cache.put((2, b"a", b""), ITEM, 0)
    assert cache.purge(1) == 1
    assert cache.get(K1) is None and cache.get((2, b"a", b"")) is not None


def test_deep_size_counts_values_and_skips_shared_tags() -> None:
    small, big = {"pk": {"S": "ab"}}, {"pk": {"S": "ab" + "x" * 1000}}
    assert deep_size(big) - deep_size(small) == 1000
    assert deep_size({"S": "x"}) == deep_size({"N": "y"})


def test_query_cache_invalidates_by_scope(clock: FakeClock) -> None:
    cache = QueryCache(1 << 20, clock)
    page = {"Items": [ITEM], "Count": 1, "ScannedCount": 1}
    cache.put((1, b"q-a"), (1, b"a"), page, 60)
    cache.put((1, b"q-b"), (1, b"b"), page, 60)
    cache.put((1, b"scan"), 1, page, 60)
    assert cache.invalidate((1, b"a")) == 1
    assert cache.get((1, b"q-a")) is None
    assert cache.get((1, b"q-b")) is page and cache.get((1, b"scan")) is page
    assert cache.invalidate(1) == 1 and cache.get((1, b"scan")) is None
    assert cache.invalidate((1, b"a")) == 0


def test_query_cache_index_follows_expiry_and_eviction(clock: FakeClock) -> None:
    cache = QueryCache(1 << 20, clock)
    page = {"Items": [], "Count": 0, "ScannedCount": 0}
    for i in range(50):
        cache.put((1, b"q%d" % i), (1, b"p"), page, 10)
    clock.advance(11)
    cache.put((1, b"new"), (1, b"other"), page, 10)  # a put expires what is due
    assert cache.entries == 1
    assert set(cache._scopes) == {(1, b"other")}


def test_query_key_normalizes_member_order_and_ignores_capacity() -> None:
    a = {"TableName": "t", "ExpressionAttributeValues": {":v": {"S": "x"}, ":w": {"N": "1"}}, "Limit": 5}
    b = {"Limit": 5, "ReturnConsumedCapacity": "TOTAL", "ExpressionAttributeValues": {":w": {"N": "1"},
                                                                                     ":v": {"S": "x"}},
         "TableName": "t"}
    assert query_key("Query", a) == query_key("Query", b)
    assert query_key("Query", a) != query_key("Scan", a)
    assert query_key("Query", a) != query_key("Query", {**a, "ExclusiveStartKey": {"pk": {"S": "x"}}})
    assert query_key("Query", a) != query_key("Query", {**a, "ScanIndexForward": False})


def test_partition_of_legacy_key_conditions_and_unknown_forms() -> None:
    schema = KeySchema("pk", "S", "sk", "S")
    legacy = {"KeyConditions": {"pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "p1"}]}}}
    assert partition_of(legacy, schema) == b"p1"
    assert partition_of({**legacy, "IndexName": "gsi"}, schema) is None
    expression = {"KeyConditionExpression": "pk = :v AND begins_with(sk, :s)",
                  "ExpressionAttributeValues": {":v": {"S": "p1"}, ":s": {"S": "x"}}}
    assert partition_of(expression, schema) == b"p1"
    assert partition_of({"KeyConditionExpression": "nonsense ="}, schema) is None  # then: table scope


def test_generations_exist_only_while_held() -> None:
    gens = Generations()
    gens.bump("x")  # nobody watches: no-op, nothing kept
    assert len(gens) == 0 and gens.current("x") == -1
    g = gens.hold("x")
    gens.bump("x")
    assert gens.current("x") == g + 1
    gens.hold("x")
    gens.release("x")
    assert gens.current("x") == g + 1
    gens.release("x")
    assert len(gens) == 0


def test_expired_entries_leaving_under_the_bound_are_not_evictions(clock: FakeClock) -> None:
    one = ENTRY_OVERHEAD + 66 + 1 + deep_size(ITEM)
    cache = ItemCache(2 * one + 10, clock)
    cache.put(K1, ITEM, 5)
    cache.put(K2, ITEM, 0)
    clock.advance(6)  # K1 expired, never read again
    cache.put(K3, ITEM, 0)  # the bound pushes K1 out from the least recently used end
    assert cache.entries == 2 and cache.bytes == 2 * one
    assert cache.evictions == 0 and cache.evicted_bytes == 0
    cache.put(K1, ITEM, 0)  # now a live entry (K2) goes: that is an eviction
    assert cache.get(K2) is None and cache.evictions == 1 and cache.evicted_bytes == one


def test_replacing_an_entry_keeps_the_byte_count_exact(clock: FakeClock) -> None:
    cache = ItemCache(1 << 20, clock)
    cache.put(K1, ITEM, 0)
    first = cache.bytes
    cache.put(K1, {**ITEM, "big": {"S": "x" * 100}}, 0)
    assert cache.bytes > first and cache.entries == 1
    cache.discard(K1)
    assert cache.bytes == 0 and cache.entries == 0
