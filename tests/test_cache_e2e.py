"""The cache rules where they are visible from outside: boto3 against a real server process.

The ``x-accelerator-cache`` header tells hit / miss / bypass; everything else asserted here would
hold against real DynamoDB too.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from tests.cache_helpers import ROOT, CacheServer, boto_client, cache_header

_names = itertools.count()


@pytest.fixture(scope="module", params=["memory", "sqlite"])
def server(request: pytest.FixtureRequest) -> Iterator[CacheServer]:
    with CacheServer(request.param) as srv:
        yield srv


@pytest.fixture(scope="module")
def ddb(server: CacheServer) -> Any:
    return boto_client(server.url)


def _table(ddb: Any, range_key: bool = False) -> str:
    name = f"cache_e2e_{next(_names)}"
    keys = [{"AttributeName": "pk", "KeyType": "HASH"}]
    attrs = [{"AttributeName": "pk", "AttributeType": "S"}]
    if range_key:
        keys.append({"AttributeName": "sk", "KeyType": "RANGE"})
        attrs.append({"AttributeName": "sk", "AttributeType": "N"})
    ddb.create_table(TableName=name, KeySchema=keys, AttributeDefinitions=attrs, BillingMode="PAY_PER_REQUEST")
    return name


@pytest.fixture
def table(ddb: Any) -> str:
    return _table(ddb)


def S(v: str) -> dict[str, str]:
    return {"S": v}


def test_hit_after_miss(server: CacheServer, ddb: Any, table: str) -> None:
    ddb.put_item(TableName=table, Item={"pk": S("a"), "v": S("1")})
    server.post(f"/admin/cache/flush/{table}")  # forget the written-through copy: the next read misses
    first = ddb.get_item(TableName=table, Key={"pk": S("a")})
    second = ddb.get_item(TableName=table, Key={"pk": S("a")})
    assert cache_header(first) == "miss" and cache_header(second) == "hit"
    assert first["Item"] == second["Item"] == {"pk": S("a"), "v": S("1")}
    missing = [ddb.get_item(TableName=table, Key={"pk": S("nope")}) for _ in range(2)]
    assert [cache_header(r) for r in missing] == ["miss", "hit"] and "Item" not in missing[1]


def test_consistent_read_bypasses(ddb: Any, table: str) -> None:
    ddb.put_item(TableName=table, Item={"pk": S("a"), "v": S("1")})
    for _ in range(2):
        response = ddb.get_item(TableName=table, Key={"pk": S("a")}, ConsistentRead=True)
        assert cache_header(response) == "bypass" and response["Item"]["v"] == S("1")


def test_read_your_writes(ddb: Any, table: str) -> None:
    key = {"pk": S("a")}
    for value in ("1", "2", "3"):
        ddb.put_item(TableName=table, Item={"pk": S("a"), "v": S(value)})
        response = ddb.get_item(TableName=table, Key=key)
        assert response["Item"]["v"] == S(value) and cache_header(response) == "hit"
    updated = ddb.update_item(TableName=table, Key=key, UpdateExpression="SET v = :v",
                              ExpressionAttributeValues={":v": S("4")})
    assert "Attributes" not in updated  # ReturnValues NONE honoured though the cache asked for ALL_NEW
    response = ddb.get_item(TableName=table, Key=key)
    assert response["Item"]["v"] == S("4") and cache_header(response) == "hit"
    old = ddb.update_item(TableName=table, Key=key, UpdateExpression="SET v = :v",
                          ExpressionAttributeValues={":v": S("5")}, ReturnValues="UPDATED_OLD")
    assert old["Attributes"] == {"v": S("4")}
    assert ddb.get_item(TableName=table, Key=key)["Item"]["v"] == S("5")
    ddb.delete_item(TableName=table, Key=key)
    response = ddb.get_item(TableName=table, Key=key)
    assert "Item" not in response and cache_header(response) == "hit"


def test_failed_conditional_write_changes_nothing(ddb: Any, table: str) -> None:
    ddb.put_item(TableName=table, Item={"pk": S("a"), "v": S("1")})
    with pytest.raises(ddb.exceptions.ConditionalCheckFailedException):
        ddb.put_item(TableName=table, Item={"pk": S("a"), "v": S("2")}, ConditionExpression="attribute_not_exists(pk)")
    response = ddb.get_item(TableName=table, Key={"pk": S("a")})
    assert response["Item"]["v"] == S("1") and cache_header(response) == "hit"


def test_projection_served_from_the_cached_whole_item(ddb: Any, table: str) -> None:
    ddb.put_item(TableName=table, Item={"pk": S("a"), "v": S("1"), "w": S("2")})
    response = ddb.get_item(TableName=table, Key={"pk": S("a")}, ProjectionExpression="w")
    assert response["Item"] == {"w": S("2")} and cache_header(response) == "hit"


def test_batch_get_and_write(ddb: Any, table: str, server: CacheServer) -> None:
    ddb.batch_write_item(RequestItems={table: [{"PutRequest": {"Item": {"pk": S(f"k{i}")}}} for i in range(5)]})
    server.post(f"/admin/cache/flush/{table}")
    keys = [{"pk": S(f"k{i}")} for i in range(6)]
    first = ddb.batch_get_item(RequestItems={table: {"Keys": keys}})
    second = ddb.batch_get_item(RequestItems={table: {"Keys": keys}})
    assert cache_header(first) == "miss" and cache_header(second) == "hit"
    for response in (first, second):
        assert sorted(i["pk"]["S"] for i in response["Responses"][table]) == [f"k{i}" for i in range(5)]
    ddb.batch_write_item(RequestItems={table: [{"DeleteRequest": {"Key": {"pk": S("k0")}}}]})
    third = ddb.batch_get_item(RequestItems={table: {"Keys": keys}})
    assert cache_header(third) == "hit" and len(third["Responses"][table]) == 4


def test_transact_get_bypasses(ddb: Any, table: str) -> None:
    response = ddb.transact_get_items(TransactItems=[{"Get": {"TableName": table, "Key": {"pk": S("a")}}}])
    assert cache_header(response) == "bypass"


def test_query_and_scan_pages(ddb: Any) -> None:
    table = _table(ddb, range_key=True)
    for pk in ("p", "q"):
        ddb.batch_write_item(RequestItems={table: [
            {"PutRequest": {"Item": {"pk": S(pk), "sk": {"N": str(i)}}}} for i in range(3)]})

    def query(pk: str) -> Any:
        return ddb.query(TableName=table, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": S(pk)})
    assert [cache_header(query("p")) for _ in range(2)] == ["miss", "hit"]
    ddb.put_item(TableName=table, Item={"pk": S("q"), "sk": {"N": "9"}})
    assert cache_header(query("p")) == "hit"  # another partition
    ddb.put_item(TableName=table, Item={"pk": S("p"), "sk": {"N": "9"}})
    response = query("p")
    assert cache_header(response) == "miss" and response["Count"] == 4
    assert [cache_header(ddb.scan(TableName=table)) for _ in range(2)] == ["miss", "hit"]
    ddb.delete_item(TableName=table, Key={"pk": S("q"), "sk": {"N": "0"}})
    response = ddb.scan(TableName=table)
    assert cache_header(response) == "miss" and response["Count"] == 7
    consistent = ddb.query(TableName=table, KeyConditionExpression="pk = :p",
                           ExpressionAttributeValues={":p": S("p")}, ConsistentRead=True)
    assert cache_header(consistent) == "bypass"


def test_delete_and_recreate_table_with_another_schema(ddb: Any) -> None:
    table = _table(ddb)
    ddb.put_item(TableName=table, Item={"pk": S("a")})
    ddb.delete_table(TableName=table)
    ddb.create_table(TableName=table, KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "N"}],
                     BillingMode="PAY_PER_REQUEST")
    response = ddb.get_item(TableName=table, Key={"id": {"N": "1"}})
    assert "Item" not in response and cache_header(response) == "miss"


def test_stats_metrics_and_cli(server: CacheServer, ddb: Any, table: str) -> None:
    ddb.get_item(TableName=table, Key={"pk": S("x")})
    ddb.get_item(TableName=table, Key={"pk": S("x")})
    stats = json.loads(server.get("/admin/cache"))
    assert stats["item_hits"] >= 1 and stats["item_cache"]["entries"] >= 1 and table in stats["tables"]
    metrics = server.get("/metrics").decode()
    for name in ("ItemCacheHits", "ItemCacheMisses", "QueryCacheHits", "QueryCacheMisses", "ScanCacheHits",
                 "ScanCacheMisses", "EvictedSize"):
        assert f"\n# TYPE {name}_total counter\n" in metrics and f"\n{name}_total " in metrics
    assert "\n# TYPE EstimatedDbSize gauge\n" in metrics
    assert 'cache="hit"' in metrics
    out = subprocess.run([sys.executable, "-m", "accelerator.cli", "cache", "flush", "--url", server.url,
                          "--table", table], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert json.loads(out)["flushed"] == table
    assert cache_header(ddb.get_item(TableName=table, Key={"pk": S("x")})) == "miss"
    out = subprocess.run([sys.executable, "-m", "accelerator.cli", "cache", "stats", "--url", server.url],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert "item_cache" in json.loads(out)


def test_no_header_without_the_cache() -> None:
    with CacheServer("memory", extra_args=("--no-cache",)) as srv:
        ddb = boto_client(srv.url)
        table = _table(ddb)
        response = ddb.get_item(TableName=table, Key={"pk": S("a")})
        assert cache_header(response) is None
