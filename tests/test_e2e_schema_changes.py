"""Schema changes through the cache, with boto3 against a real server on every backend (cache on):
a deleted index's cached pages are gone, its name is reusable, and a table re-created under the same
name answers from its new schema. Two processes sharing one store see each other's changes through
the broadcast."""

from __future__ import annotations

import secrets
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from tests.cache_helpers import CacheServer, cache_header
from tests.conftest import boto_client, unique_name
from tests.test_cache_broadcast import REDIS, needs_redis


def S(v: str) -> dict[str, str]:
    return {"S": v}


def _index(name: str = "gsi1") -> dict[str, Any]:
    return {"IndexName": name, "KeySchema": [{"AttributeName": "color", "KeyType": "HASH"}],
            "Projection": {"ProjectionType": "ALL"}}


def _create(ddb: Any, with_index: bool = True) -> str:
    name = unique_name("sc")
    attrs = [{"AttributeName": "pk", "AttributeType": "S"}]
    extra: dict[str, Any] = {}
    if with_index:
        attrs.append({"AttributeName": "color", "AttributeType": "S"})
        extra["GlobalSecondaryIndexes"] = [_index()]
    ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST", AttributeDefinitions=attrs,
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}], **extra)
    return name


def _query(ddb: Any, name: str) -> dict[str, Any]:
    return ddb.query(TableName=name, IndexName="gsi1", KeyConditionExpression="color = :c",
                     ExpressionAttributeValues={":c": S("red")})


def _wait_active(ddb: Any, name: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        table = ddb.describe_table(TableName=name)["Table"]
        if all(i["IndexStatus"] == "ACTIVE" for i in table.get("GlobalSecondaryIndexes", ())):
            return
        time.sleep(0.05)  # polling DescribeTable, as a DynamoDB client waits for an index
    raise AssertionError("index did not become ACTIVE")


def _no_index(exc: Any, server: Any) -> None:
    error = exc.value.response["Error"]
    if b"kind = \"dynamodb\"" in server.config.read_bytes():  # moto's own answer, passed through (see MOTO_DIFFERENCES)
        assert error["Code"] == "ResourceNotFoundException"
        return
    assert error["Code"] == "ValidationException"
    assert error["Message"] == "The table does not have the specified index: gsi1"


def test_a_deleted_index_is_not_answered_from_the_cache(server: Any, ddb: Any) -> None:
    name = _create(ddb)
    ddb.put_item(TableName=name, Item={"pk": S("a"), "color": S("red")})
    first, second = _query(ddb, name), _query(ddb, name)
    assert first["Items"] == second["Items"] == [{"pk": S("a"), "color": S("red")}]
    if cache_header(second) is not None:
        assert cache_header(second) == "hit"
    ddb.update_table(TableName=name, GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": "gsi1"}}])
    with pytest.raises(ddb.exceptions.ClientError) as exc:
        _query(ddb, name)
    _no_index(exc, server)


def test_a_deleted_index_name_is_reusable_at_once(ddb: Any) -> None:
    name = _create(ddb)
    ddb.put_item(TableName=name, Item={"pk": S("a"), "color": S("red")})
    ddb.put_item(TableName=name, Item={"pk": S("b"), "color": S("blue")})
    assert len(_query(ddb, name)["Items"]) == 1
    ddb.update_table(TableName=name, GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": "gsi1"}}])
    # the same name again, now keyed on another attribute: no leftover entries, no internal name
    ddb.update_table(
        TableName=name, AttributeDefinitions=[{"AttributeName": "shape", "AttributeType": "S"}],
        GlobalSecondaryIndexUpdates=[{"Create": {
            "IndexName": "gsi1", "KeySchema": [{"AttributeName": "shape", "KeyType": "HASH"}],
            "Projection": {"ProjectionType": "KEYS_ONLY"}}}])
    ddb.put_item(TableName=name, Item={"pk": S("c"), "color": S("red"), "shape": S("L")})
    _wait_active(ddb, name)
    page = ddb.query(TableName=name, IndexName="gsi1", KeyConditionExpression="shape = :s",
                     ExpressionAttributeValues={":s": S("L")})
    assert page["Items"] == [{"pk": S("c"), "shape": S("L")}]
    with pytest.raises(ddb.exceptions.ClientError) as exc:
        _query(ddb, name)  # the old key attribute is not the index's any more
    assert exc.value.response["Error"]["Code"] == "ValidationException"
    assert "!" not in exc.value.response["Error"]["Message"]
    # and once more, after the deleted storage had time to go
    for _ in range(2):
        ddb.update_table(TableName=name, GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": "gsi1"}}])
        ddb.update_table(TableName=name, AttributeDefinitions=[{"AttributeName": "color", "AttributeType": "S"}],
                         GlobalSecondaryIndexUpdates=[{"Create": _index()}])
        _wait_active(ddb, name)
        assert [i["pk"] for i in _query(ddb, name)["Items"]] == [S("a"), S("c")]


def test_a_table_created_again_under_its_name_answers_from_the_new_schema(ddb: Any) -> None:
    name = _create(ddb)
    ddb.put_item(TableName=name, Item={"pk": S("a"), "color": S("red")})
    assert len(_query(ddb, name)["Items"]) == 1
    assert ddb.get_item(TableName=name, Key={"pk": S("a")})["Item"]
    ddb.update_table(TableName=name, GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": "gsi1"}}])
    ddb.delete_table(TableName=name)
    ddb.get_waiter("table_not_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                           {"AttributeName": "color", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}], GlobalSecondaryIndexes=[_index()])
    ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    assert "Item" not in ddb.get_item(TableName=name, Key={"pk": S("a")})
    assert _query(ddb, name)["Items"] == []
    ddb.delete_table(TableName=name)


def test_ttl_setting_change_is_a_schema_change(ddb: Any) -> None:
    name = _create(ddb, with_index=False)
    ddb.put_item(TableName=name, Item={"pk": S("a"), "exp": {"N": "1"}})
    assert ddb.get_item(TableName=name, Key={"pk": S("a")})["Item"]
    ddb.update_time_to_live(TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "exp"})
    # DynamoDB may still return an expired item until it is deleted; what must hold is that the answer is
    # the store's, not a page cached under the old settings
    got = ddb.get_item(TableName=name, Key={"pk": S("a")})
    if cache_header(got) is not None:
        assert cache_header(got) in ("miss", "bypass")


@needs_redis
def test_a_schema_change_on_one_node_reaches_the_other() -> None:
    """Two servers on one SQLite file, invalidations over Redis: node two's cached index page goes."""
    cache = {"enabled": True, "broadcast": REDIS, "broadcast_channel": f"test:schema:{secrets.token_hex(6)}"}
    shared = Path(tempfile.mkdtemp(prefix="accel-schema-")) / "shared"  # one SQLite file for both nodes
    with CacheServer("sqlite", cache, data_dir=str(shared)) as one, \
            CacheServer("sqlite", cache, data_dir=str(shared)) as two:
        a, b = boto_client(one.url), boto_client(two.url)
        name = _create(a)
        a.put_item(TableName=name, Item={"pk": S("a"), "color": S("red")})
        # node two caches the page; the put's own invalidation may still be on its way and drop it once
        deadline = time.monotonic() + 10
        while cache_header(_query(b, name)) != "hit":
            assert time.monotonic() < deadline, "node two never answered the query from its cache"
        a.update_table(TableName=name, GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": "gsi1"}}])
        deadline = time.monotonic() + 10
        while True:  # until the broadcast arrived (milliseconds); a stale answer is a cached 200
            try:
                _query(b, name)
            except b.exceptions.ClientError as exc:
                assert exc.response["Error"]["Message"] == "The table does not have the specified index: gsi1"
                break
            assert time.monotonic() < deadline, "node two still answers the deleted index"
            time.sleep(0.01)
        # the second node's engine reads the new definition at once: the name can be reused from it
        b.update_table(TableName=name, AttributeDefinitions=[{"AttributeName": "color", "AttributeType": "S"}],
                       GlobalSecondaryIndexUpdates=[{"Create": _index()}])
        _wait_active(a, name)
        # node one hears of the new index through the broadcast too (asynchronous, like the delete above)
        deadline = time.monotonic() + 10
        while True:
            try:
                items = _query(a, name)["Items"]
                break
            except a.exceptions.ClientError as exc:  # node one's definition: still without it, or backfilling
                assert exc.response["Error"]["Message"] in (
                    "The table does not have the specified index: gsi1",
                    "Cannot read from backfilling global secondary index: gsi1")
                assert time.monotonic() < deadline, "node one never learnt of the re-created index"
                time.sleep(0.01)
        assert items == [{"pk": S("a"), "color": S("red")}]
