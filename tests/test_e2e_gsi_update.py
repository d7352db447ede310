"""UpdateTable adds and removes global secondary indexes online: backfill, writes during it, restart."""

from __future__ import annotations

import signal
import time
from typing import Any

import pytest

from tests.conftest import boto_client, unique_name
from tests.server_process import ServerProcess


def _table(ddb: Any) -> str:
    name = unique_name("gu")
    ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
    return name


def _add_index(ddb: Any, name: str) -> dict[str, Any]:
    return ddb.update_table(
        TableName=name, AttributeDefinitions=[{"AttributeName": "color", "AttributeType": "S"}],
        GlobalSecondaryIndexUpdates=[{"Create": {
            "IndexName": "by_color", "KeySchema": [{"AttributeName": "color", "KeyType": "HASH"}],
            "Projection": {"ProjectionType": "ALL"}}}])["TableDescription"]


def _wait_active(ddb: Any, name: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        indexes = ddb.describe_table(TableName=name)["Table"].get("GlobalSecondaryIndexes", [])
        if indexes and all(i["IndexStatus"] == "ACTIVE" for i in indexes):
            return
        time.sleep(0.1)
    raise AssertionError("index did not become ACTIVE")


def _colors(ddb: Any, name: str, color: str) -> list[str]:
    page = ddb.query(TableName=name, IndexName="by_color", KeyConditionExpression="color = :c",
                     ExpressionAttributeValues={":c": {"S": color}})
    return sorted(i["pk"]["S"] for i in page["Items"])


def test_add_index_backfills_and_follows_writes(ddb: Any) -> None:
    name = _table(ddb)
    for i in range(30):
        ddb.put_item(TableName=name, Item={"pk": {"S": f"k{i:02}"}, "color": {"S": "red" if i % 2 else "blue"}})
    ddb.put_item(TableName=name, Item={"pk": {"S": "nocolor"}})
    ddb.put_item(TableName=name, Item={"pk": {"S": "badtype"}, "color": {"N": "5"}})
    desc = _add_index(ddb, name)
    assert desc["GlobalSecondaryIndexes"][0]["IndexStatus"] == "CREATING"
    assert {"AttributeName": "color", "AttributeType": "S"} in desc["AttributeDefinitions"]
    with pytest.raises(ddb.exceptions.ClientError) as exc:
        _colors(ddb, name, "red")
    assert exc.value.response["Error"]["Code"] == "ValidationException"
    # writes while the index is being built
    ddb.put_item(TableName=name, Item={"pk": {"S": "k00"}, "color": {"S": "red"}})
    ddb.delete_item(TableName=name, Key={"pk": {"S": "k01"}})
    ddb.put_item(TableName=name, Item={"pk": {"S": "new"}, "color": {"S": "blue"}})
    _wait_active(ddb, name)
    red = [f"k{i:02}" for i in range(30) if i % 2 and i != 1] + ["k00"]
    blue = [f"k{i:02}" for i in range(30) if not i % 2 and i != 0] + ["new"]
    assert _colors(ddb, name, "red") == sorted(red)
    assert _colors(ddb, name, "blue") == sorted(blue)
    ddb.update_item(TableName=name, Key={"pk": {"S": "k02"}}, UpdateExpression="SET color = :g",
                    ExpressionAttributeValues={":g": {"S": "green"}})
    assert _colors(ddb, name, "green") == ["k02"]
    with pytest.raises(ddb.exceptions.ClientError) as exc:
        _add_index(ddb, name)
    assert "already exists" in exc.value.response["Error"]["Message"]
    ddb.update_table(TableName=name, GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": "by_color"}}])
    assert "GlobalSecondaryIndexes" not in ddb.describe_table(TableName=name)["Table"]
    with pytest.raises(ddb.exceptions.ClientError) as exc:
        _colors(ddb, name, "red")
    assert "does not have the specified index" in exc.value.response["Error"]["Message"]
    with pytest.raises(ddb.exceptions.ResourceNotFoundException):
        ddb.update_table(TableName=name, GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": "by_color"}}])
    ddb.put_item(TableName=name, Item={"pk": {"S": "after"}, "color": {"S": "red"}})
    ddb.delete_table(TableName=name)


def test_backfill_resumes_after_a_crash() -> None:
    proc = ServerProcess({"kind": "sqlite"}).start()
    try:
        ddb = boto_client(proc.url)
        name = _table(ddb)
        for i in range(50):
            ddb.put_item(TableName=name, Item={"pk": {"S": f"k{i}"}, "color": {"S": "red"}})
        _add_index(ddb, name)
        proc.stop(signal.SIGKILL)  # before the backfill could start (it waits for the definition to settle)
        proc.start()
        ddb = boto_client(proc.url)
        _wait_active(ddb, name)
        assert len(_colors(ddb, name, "red")) == 50
    finally:
        proc.stop()
