"""The client wrapper against real servers (moto, and the accelerator), side by side with boto3.

Every test body runs through boto3, the sync client and the async client; they must agree.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import boto3
import botocore.exceptions
import pytest
from botocore.config import Config

from accelerator.client import AcceleratorClient, AsyncAcceleratorClient, Attr, Key
from tests.backup_helpers import wait_for
from tests.client_adapters import blocking_async_client
from tests.client_servers import CREDENTIALS, server, server_kinds


@pytest.fixture(scope="module", params=server_kinds())
def srv(request: pytest.FixtureRequest) -> Iterator[Any]:
    with server(request.param) as proc:
        yield proc


@pytest.fixture(params=["boto3", "sync", "async"])
def client(srv: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    if request.param == "boto3":
        yield boto3.client("dynamodb", endpoint_url=srv.url, config=Config(retries={"max_attempts": 1}), **CREDENTIALS)
    elif request.param == "sync":
        with AcceleratorClient(srv.url, **CREDENTIALS) as sync_client:
            yield sync_client
    else:
        async_client, loop = blocking_async_client(srv.url, **CREDENTIALS)
        yield async_client
        async_client.close()
        loop.close()


def make_table(client: Any, range_key: str | None = None) -> str:
    name = f"tbl_{uuid.uuid4().hex[:10]}"
    schema = [{"AttributeName": "pk", "KeyType": "HASH"}]
    attrs = [{"AttributeName": "pk", "AttributeType": "S"}]
    if range_key:
        schema.append({"AttributeName": "sk", "KeyType": "RANGE"})
        attrs.append({"AttributeName": "sk", "AttributeType": range_key})
    client.create_table(
        TableName=name, KeySchema=schema, AttributeDefinitions=attrs, BillingMode="PAY_PER_REQUEST"
    )
    return name


def strip(resp: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in resp.items() if k != "ResponseMetadata"}


ALL_TYPES = {
    "pk": {"S": "all"},
    "s": {"S": "héllo"},
    "n": {"N": "-12.5"},
    "b": {"B": b"\x00\xffbin"},
    "t": {"BOOL": True},
    "z": {"NULL": True},
    "m": {"M": {"inner": {"L": [{"N": "1"}, {"S": "x"}, {"B": b"\x01"}]}}},
    "ss": {"SS": ["a"]},
    "ns": {"NS": ["7"]},
    "bs": {"BS": [b"\x02"]},
}


def test_item_round_trip_with_every_type(client: Any, srv: Any) -> None:
    name = make_table(client)
    assert strip(client.put_item(TableName=name, Item=ALL_TYPES)) == {}
    resp = client.get_item(TableName=name, Key={"pk": {"S": "all"}}, ConsistentRead=True)
    assert resp["Item"] == ALL_TYPES
    meta = resp["ResponseMetadata"]
    assert meta["HTTPStatusCode"] == 200 and meta["RequestId"]
    assert meta["HTTPHeaders"]["x-amzn-requestid"] == meta["RequestId"]
    assert strip(client.get_item(TableName=name, Key={"pk": {"S": "nope"}})) == {}


def test_missing_table_raises_resource_not_found(client: Any, srv: Any) -> None:
    with pytest.raises(client.exceptions.ResourceNotFoundException) as info:
        client.get_item(TableName="no_such_table", Key={"pk": {"S": "a"}})
    assert isinstance(info.value, botocore.exceptions.ClientError)
    assert info.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert info.value.operation_name == "GetItem"


def test_conditional_check_failed_carries_botocore_shape(client: Any, srv: Any) -> None:
    name = make_table(client)
    client.put_item(TableName=name, Item={"pk": {"S": "a"}, "v": {"N": "1"}})
    with pytest.raises(client.exceptions.ConditionalCheckFailedException) as info:
        client.put_item(
            TableName=name, Item={"pk": {"S": "a"}}, ConditionExpression="attribute_not_exists(pk)",
        )
    error = info.value.response
    assert error["Error"] == {"Code": "ConditionalCheckFailedException", "Message": "The conditional request failed"}
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "ConditionalCheckFailedException" in str(info.value)
    with pytest.raises(client.exceptions.ConditionalCheckFailedException) as info:
        client.delete_item(
            TableName=name, Key={"pk": {"S": "a"}}, ConditionExpression="v = :two",
            ExpressionAttributeValues={":two": {"N": "2"}}, ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    assert info.value.response["Item"] == {"pk": {"S": "a"}, "v": {"N": "1"}}


def test_update_and_delete_return_values(client: Any, srv: Any) -> None:
    name = make_table(client)
    client.put_item(TableName=name, Item={"pk": {"S": "a"}, "n": {"N": "1"}})
    resp = client.update_item(
        TableName=name, Key={"pk": {"S": "a"}}, UpdateExpression="SET n = n + :d, tag = :t",
        ExpressionAttributeValues={":d": {"N": "2"}, ":t": {"S": "x"}}, ReturnValues="ALL_NEW",
    )
    assert resp["Attributes"] == {"pk": {"S": "a"}, "n": {"N": "3"}, "tag": {"S": "x"}}
    old = client.delete_item(TableName=name, Key={"pk": {"S": "a"}}, ReturnValues="ALL_OLD")
    assert old["Attributes"]["n"] == {"N": "3"}


def test_transaction_cancelled_has_reasons(client: Any, srv: Any) -> None:
    name = make_table(client)
    client.put_item(TableName=name, Item={"pk": {"S": "taken"}})
    with pytest.raises(client.exceptions.TransactionCanceledException) as info:
        client.transact_write_items(TransactItems=[
            {"Put": {"TableName": name, "Item": {"pk": {"S": "taken"}},
                     "ConditionExpression": "attribute_not_exists(pk)"}},
            {"Put": {"TableName": name, "Item": {"pk": {"S": "free"}}}},
        ])  # fmt: skip
    reasons = info.value.response["CancellationReasons"]
    assert [r["Code"] for r in reasons] == ["ConditionalCheckFailed", "None"]
    assert "free" not in str(client.scan(TableName=name)["Items"])


def test_batch_write_then_batch_get_and_transact_get(client: Any, srv: Any) -> None:
    name = make_table(client)
    puts = [{"PutRequest": {"Item": {"pk": {"S": f"k{i}"}, "v": {"N": str(i)}}}} for i in range(10)]
    assert client.batch_write_item(RequestItems={name: puts})["UnprocessedItems"] == {}
    keys = [{"pk": {"S": f"k{i}"}} for i in range(10)]
    got = client.batch_get_item(RequestItems={name: {"Keys": keys}})
    assert sorted(int(item["v"]["N"]) for item in got["Responses"][name]) == list(range(10))
    tx = client.transact_get_items(TransactItems=[{"Get": {"TableName": name, "Key": k}} for k in keys[:3]])
    assert [r["Item"]["v"]["N"] for r in tx["Responses"]] == ["0", "1", "2"]


def test_query_and_scan_paginators(client: Any, srv: Any) -> None:
    name = make_table(client, range_key="N")
    for i in range(23):
        client.put_item(TableName=name, Item={"pk": {"S": "p"}, "sk": {"N": str(i)}})
    client.put_item(TableName=name, Item={"pk": {"S": "other"}, "sk": {"N": "0"}})
    pages = list(client.get_paginator("query").paginate(
        TableName=name, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "p"}},
        PaginationConfig={"PageSize": 5},
    ))  # fmt: skip
    assert [len(page["Items"]) for page in pages][:5] == [5, 5, 5, 5, 3]
    assert [int(i["sk"]["N"]) for page in pages for i in page["Items"]] == list(range(23))
    scanned = [i for page in client.get_paginator("scan").paginate(TableName=name, Limit=7) for i in page["Items"]]
    assert len(scanned) == 24


def test_describe_list_delete_and_ttl(client: Any, srv: Any) -> None:
    name = make_table(client)
    desc = client.describe_table(TableName=name)["Table"]
    assert desc["TableName"] == name and desc["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert hasattr(desc["CreationDateTime"], "tzinfo")  # a datetime, as boto3 gives
    assert name in client.list_tables()["TableNames"]
    spec = {"Enabled": True, "AttributeName": "expires"}
    assert client.update_time_to_live(TableName=name, TimeToLiveSpecification=spec)["TimeToLiveSpecification"] == spec
    ttl = client.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
    assert ttl["AttributeName"] == "expires"
    client.delete_table(TableName=name)
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.describe_table(TableName=name)


@pytest.fixture(params=["sync", "async"])
def table_client(srv: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    if request.param == "sync":
        with AcceleratorClient(srv.url, **CREDENTIALS) as sync_client:
            yield sync_client
    else:
        async_client, loop = blocking_async_client(srv.url, **CREDENTIALS)
        yield async_client
        async_client.close()
        loop.close()


def test_table_api_on_plain_values(table_client: Any, srv: Any) -> None:
    table = table_client.Table(make_table(table_client))
    exact = Decimal("3.1415926535897932384626433832795028841")
    item = {"pk": "a", "pi": exact, "f": 0.1, "i": 2**62, "b": b"\x00", "flags": {"x", "y"},
            "nums": {1, 2}, "nested": {"l": [1, "two", None, True]}, "none": None}  # fmt: skip
    table.put_item(Item=item)
    got = table.get_item(Key={"pk": "a"}, ConsistentRead=True)["Item"]
    assert got["pi"] == exact and got["f"] == Decimal("0.1") and got["i"] == 2**62
    assert got["b"] == b"\x00" and got["flags"] == {"x", "y"} and got["nums"] == {1, 2}
    assert got["nested"] == {"l": [1, "two", None, True]} and got["none"] is None
    assert table.get_item(Key={"pk": "missing"}).get("Item") is None
    old = table.delete_item(Key={"pk": "a"}, ReturnValues="ALL_OLD")["Attributes"]
    assert old["pi"] == exact


def test_table_expressions_and_conditions(table_client: Any, srv: Any) -> None:
    table = table_client.Table(make_table(table_client, range_key="N"))
    for i in range(12):
        table.put_item(Item={"pk": "p", "sk": i, "even": i % 2 == 0})
    resp = table.query(KeyConditionExpression="pk = :p AND sk >= :lo", ExpressionAttributeValues={":p": "p", ":lo": 9})
    assert [item["sk"] for item in resp["Items"]] == [9, 10, 11]
    cond = Key("pk").eq("p") & Key("sk").between(2, 5)
    assert [item["sk"] for item in table.query(KeyConditionExpression=cond)["Items"]] == [2, 3, 4, 5]
    evens = table.query_items(KeyConditionExpression=Key("pk").eq("p"), FilterExpression=Attr("even").eq(True), Limit=4)
    assert [item["sk"] for item in evens] == [0, 2, 4, 6, 8, 10]
    with pytest.raises(table_client.exceptions.ConditionalCheckFailedException):
        table.put_item(Item={"pk": "p", "sk": 1}, ConditionExpression=Attr("sk").not_exists())
    table.update_item(Key={"pk": "p", "sk": 1}, UpdateExpression="SET even = :t", ExpressionAttributeValues={":t": "no"})
    assert table.get_item(Key={"pk": "p", "sk": 1})["Item"]["even"] == "no"


def test_batch_writer_dedups_and_flushes(table_client: Any, srv: Any) -> None:
    table = table_client.Table(make_table(table_client))
    with table.batch_writer(overwrite_by_pkeys=["pk"]) as batch:
        for i in range(60):
            batch.put_item(Item={"pk": f"k{i % 40}", "round": i})
        batch.delete_item(Key={"pk": "k0"})
    items = {item["pk"]: item["round"] for item in table.scan_items()}
    assert len(items) == 39 and "k0" not in items
    assert items["k1"] == 41 and items["k39"] == 39


def test_one_sync_client_shared_by_16_threads(srv: Any) -> None:
    calls = 40 if srv.kind == "moto" else 250
    with AcceleratorClient(srv.url, **CREDENTIALS) as shared:
        name = make_table(shared)
        for t in range(16):
            shared.put_item(TableName=name, Item={"pk": {"S": f"t{t}"}, "v": {"N": str(t)}})
        errors: list[BaseException] = []

        def work(t: int) -> None:
            try:
                for i in range(calls):
                    key = (t + i) % 16
                    item = shared.get_item(TableName=name, Key={"pk": {"S": f"t{key}"}})["Item"]
                    assert item["v"]["N"] == str(key)
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(t,)) for t in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []


def test_async_client_many_concurrent_requests(srv: Any) -> None:
    async def main() -> None:
        async with AsyncAcceleratorClient(srv.url, **CREDENTIALS) as aclient:
            name = make_table_async_free(srv.url)
            got = await asyncio.gather(
                *(aclient.get_item(TableName=name, Key={"pk": {"S": f"k{i % 8}"}}) for i in range(64))
            )
            assert [r["Item"]["v"]["N"] for r in got] == [str(i % 8) for i in range(64)]

    asyncio.run(main())


def make_table_async_free(url: str) -> str:
    with AcceleratorClient(url, **CREDENTIALS) as sync_client:
        name = make_table(sync_client)
        for i in range(8):
            sync_client.put_item(TableName=name, Item={"pk": {"S": f"k{i}"}, "v": {"N": str(i)}})
    return name


def test_import_table_fills_in_a_client_token(client: Any, srv: Any, tmp_path: Any) -> None:
    # DynamoDB refuses an ImportTable without ClientToken; boto3 and this client make one when none is given.
    if srv.kind == "moto":
        pytest.skip("moto imports from S3 only")
    (tmp_path / "one.json").write_text('{"Item": {"pk": {"S": "a"}}}\n')
    name = f"imp_{uuid.uuid4().hex[:8]}"
    desc = client.import_table(
        S3BucketSource={"S3Bucket": f"file://{tmp_path}"}, InputFormat="DYNAMODB_JSON",
        TableCreationParameters={"TableName": name, "BillingMode": "PAY_PER_REQUEST",
                                 "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                                 "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}]},
    )["ImportTableDescription"]
    assert desc["ClientToken"] and desc["ImportStatus"] == "IN_PROGRESS"

    def ended() -> Any:
        now = client.describe_import(ImportArn=desc["ImportArn"])["ImportTableDescription"]
        return now if now["ImportStatus"] != "IN_PROGRESS" else None
    assert wait_for(ended, "import ended")["ImportStatus"] == "COMPLETED"
    client.delete_table(TableName=name)
