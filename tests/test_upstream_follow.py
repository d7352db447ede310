"""The cache follows writes it did not see: with a DynamoDB upstream (moto's server), a write made straight to the
upstream reaches the accelerator's cache through the table's stream, long before the item TTL.

The item TTL is an hour here, so a changed answer can only come from the stream follower. A table without a
stream keeps the old answer (DAX's behaviour), which the last test shows after the follower has provably read past
the direct write on another table.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.conftest import boto_client
from tests.moto_upstream import MotoServer
from tests.server_process import ServerProcess

HOUR = 3600.0


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoServer]:
    server = MotoServer(record=False).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def accel(moto: MotoServer) -> Iterator[ServerProcess]:
    backend = moto.backend(consistent_window=0, stream_poll_interval=0.05)
    proc = ServerProcess(backend, cache={"enabled": True, "item_ttl": HOUR, "query_ttl": HOUR}).start()
    yield proc
    proc.stop()


def _table(client: Any, stream: bool) -> str:
    name = f"fw_{uuid.uuid4().hex[:10]}"
    extra: dict[str, Any] = {"StreamSpecification": {"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"}} \
        if stream else {}
    client.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                   {"AttributeName": "sk", "KeyType": "RANGE"}],
                        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                              {"AttributeName": "sk", "AttributeType": "S"}], **extra)
    return name


def _wait_for(check: Callable[[], bool], timeout: float = 60.0) -> float:
    """Seconds until ``check()`` held (a condition, polled; the bound only stops a broken run)."""
    start = time.monotonic()
    while not check():
        assert time.monotonic() - start < timeout, "the condition never held"
        time.sleep(0.01)
    return time.monotonic() - start


def _value(client: Any, table: str, pk: str = "a", sk: str = "1") -> str | None:
    item = client.get_item(TableName=table, Key={"pk": {"S": pk}, "sk": {"S": sk}}).get("Item")
    return None if item is None else item["v"]["S"]


def _put(client: Any, table: str, value: str, pk: str = "a", sk: str = "1") -> None:
    client.put_item(TableName=table, Item={"pk": {"S": pk}, "sk": {"S": sk}, "v": {"S": value}})


def test_direct_writes_reach_the_cache(accel: ServerProcess, moto: MotoServer) -> None:
    ddb, direct = boto_client(accel.url), moto.client()
    table = _table(ddb, stream=True)
    _put(direct, table, "1")
    assert _value(ddb, table) == "1"  # cached now, for an hour
    page = ddb.query(TableName=table, KeyConditionExpression="pk = :p",
                     ExpressionAttributeValues={":p": {"S": "a"}})
    assert [i["v"]["S"] for i in page["Items"]] == ["1"]
    _put(direct, table, "2")
    _wait_for(lambda: _value(ddb, table) == "2")
    page = ddb.query(TableName=table, KeyConditionExpression="pk = :p",
                     ExpressionAttributeValues={":p": {"S": "a"}})
    assert [i["v"]["S"] for i in page["Items"]] == ["2"]  # the partition's cached query page went too
    direct.delete_item(TableName=table, Key={"pk": {"S": "a"}, "sk": {"S": "1"}})
    _wait_for(lambda: _value(ddb, table) is None)


def test_a_table_without_a_stream_stays_as_cached(accel: ServerProcess, moto: MotoServer) -> None:
    ddb, direct = boto_client(accel.url), moto.client()
    plain, streamed = _table(ddb, stream=False), _table(ddb, stream=True)
    for table in (plain, streamed):
        _put(direct, table, "old")
        assert _value(ddb, table) == "old"
    _put(direct, plain, "new")
    _put(direct, streamed, "new")  # written after the plain table's change
    _wait_for(lambda: _value(ddb, streamed) == "new")
    # The follower polls every table's shards in one round, so it has read past the plain table's write time;
    # without a stream there is nothing to read: the cache keeps its answer until the item TTL (an hour).
    assert _value(ddb, plain) == "old"
    assert _value(boto_client(moto.url), plain) == "new"
