"""DynamoDB Streams end to end through boto3, on every storage backend.

The servers here roll a stream's shard over after 0.3 s, so every test also reads across roll-overs (the
consumer follows parent shards before their children, tests/stream_consumer.py).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import boto_client, unique_name
from tests.e2e_backends import E2E_BACKENDS
from tests.server_process import ServerProcess
from tests.stream_consumer import StreamReader, list_shards, streams_client

BACKENDS = [b for b in E2E_BACKENDS if b != "dynamodb-upstream"]
VIEWS = ["KEYS_ONLY", "NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES"]


@pytest.fixture(scope="module", params=BACKENDS)
def stream_server(request: pytest.FixtureRequest) -> Iterator[ServerProcess]:
    config = {**E2E_BACKENDS[request.param](), "stream_shard_seconds": 0.3, "ttl_sweep_interval": 0.2,
              "log_upkeep_interval": 0.2}
    proc = ServerProcess(config).start()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def ddb(stream_server: ServerProcess) -> Any:
    return boto_client(stream_server.url)


@pytest.fixture(scope="module")
def streams(stream_server: ServerProcess) -> Any:
    return streams_client(stream_server.url)


@pytest.fixture
def make_stream_table(ddb: Any) -> Iterator[Callable[..., str]]:
    created: list[str] = []

    def make(view: str | None = "NEW_AND_OLD_IMAGES", range_key: bool = False) -> str:
        name = unique_name("st")
        keys = [{"AttributeName": "pk", "KeyType": "HASH"}]
        attrs = [{"AttributeName": "pk", "AttributeType": "S"}]
        if range_key:
            keys.append({"AttributeName": "sk", "KeyType": "RANGE"})
            attrs.append({"AttributeName": "sk", "AttributeType": "S"})
        spec = {"StreamEnabled": True, "StreamViewType": view} if view else {"StreamEnabled": False}
        ddb.create_table(TableName=name, KeySchema=keys, AttributeDefinitions=attrs, BillingMode="PAY_PER_REQUEST",
                         StreamSpecification=spec)
        created.append(name)
        return name

    yield make
    for name in created:
        with contextlib.suppress(ClientError):
            ddb.delete_table(TableName=name)


def arn_of(ddb: Any, table: str) -> str:
    arn: str = ddb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    return arn


def error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    return exc.value.response["Error"]["Code"], exc.value.response["Error"]["Message"]


def shard_holding(streams: Any, arn: str, number: str) -> str:
    """The id of the shard whose sequence number range holds ``number``."""
    for shard in list_shards(streams, arn):
        numbers = shard["SequenceNumberRange"]
        if int(numbers["StartingSequenceNumber"]) <= int(number) <= int(numbers.get("EndingSequenceNumber", 10**40)):
            return str(shard["ShardId"])
    raise AssertionError(f"no shard holds {number}")


def S(value: str) -> dict[str, str]:  # noqa: N802 (DynamoDB's type name)
    return {"S": value}


def N(value: int) -> dict[str, str]:  # noqa: N802
    return {"N": str(value)}


def summary(record: dict[str, Any]) -> tuple[Any, ...]:
    body = record["dynamodb"]
    return (record["eventName"], body["Keys"]["pk"]["S"], body.get("OldImage"), body.get("NewImage"))


@pytest.mark.parametrize("view", VIEWS)
def test_every_write_path_logs_in_order_with_the_view_images(ddb: Any, streams: Any,
                                                              make_stream_table: Callable[..., str], view: str) -> None:
    table = make_stream_table(view)
    began = int(time.time())
    ddb.put_item(TableName=table, Item={"pk": S("a"), "v": N(1)})
    ddb.put_item(TableName=table, Item={"pk": S("a"), "v": N(1)})  # the same item again: no record
    ddb.update_item(TableName=table, Key={"pk": S("a")}, UpdateExpression="SET v = :v",
                    ExpressionAttributeValues={":v": N(2)})
    ddb.update_item(TableName=table, Key={"pk": S("a")}, UpdateExpression="SET v = :v",
                    ExpressionAttributeValues={":v": N(2)})  # changes nothing: no record
    with pytest.raises(ClientError):
        ddb.put_item(TableName=table, Item={"pk": S("a"), "v": N(9)}, ConditionExpression="attribute_not_exists(pk)")
    ddb.delete_item(TableName=table, Key={"pk": S("zz")})  # absent: no record
    ddb.batch_write_item(RequestItems={table: [
        {"PutRequest": {"Item": {"pk": S("b"), "v": N(1)}}},
        {"PutRequest": {"Item": {"pk": S("c"), "v": N(1)}}},
    ]})
    ddb.batch_write_item(RequestItems={table: [{"DeleteRequest": {"Key": {"pk": S("c")}}}]})
    ddb.transact_write_items(TransactItems=[
        {"Put": {"TableName": table, "Item": {"pk": S("d"), "v": N(1)}}},
        {"Update": {"TableName": table, "Key": {"pk": S("b")}, "UpdateExpression": "SET v = :v",
                    "ExpressionAttributeValues": {":v": N(5)}}},
        {"Delete": {"TableName": table, "Key": {"pk": S("a")}}},
    ])
    with pytest.raises(ClientError):  # a cancelled transaction logs nothing
        ddb.transact_write_items(TransactItems=[
            {"Put": {"TableName": table, "Item": {"pk": S("e"), "v": N(1)}}},
            {"ConditionCheck": {"TableName": table, "Key": {"pk": S("zz")},
                                "ConditionExpression": "attribute_exists(pk)"}},
        ])
    a1, a2 = {"pk": S("a"), "v": N(1)}, {"pk": S("a"), "v": N(2)}
    b1, b5, c1, d1 = ({"pk": S("b"), "v": N(1)}, {"pk": S("b"), "v": N(5)}, {"pk": S("c"), "v": N(1)},
                      {"pk": S("d"), "v": N(1)})
    # Each group is one request; the items of a batch or a transaction may come in any order among themselves.
    groups = [[("INSERT", "a", None, a1)], [("MODIFY", "a", a1, a2)],
              [("INSERT", "b", None, b1), ("INSERT", "c", None, c1)], [("REMOVE", "c", c1, None)],
              [("INSERT", "d", None, d1), ("MODIFY", "b", b1, b5), ("REMOVE", "a", a2, None)]]
    records = StreamReader(streams, arn_of(ddb, table)).read_until(sum(map(len, groups)))
    assert len(records) == sum(map(len, groups))

    def shown(entry: tuple[Any, ...]) -> str:
        event, key, old, new = entry
        return repr((event, key, old if view in ("OLD_IMAGE", "NEW_AND_OLD_IMAGES") else None,
                     new if view in ("NEW_IMAGE", "NEW_AND_OLD_IMAGES") else None))

    at = 0
    for group in groups:
        assert sorted(repr(summary(r)) for r in records[at:at + len(group)]) == sorted(map(shown, group))
        at += len(group)
    for record in records:  # whole seconds (boto3 makes a datetime of them), between the first write and now
        created = record["dynamodb"]["ApproximateCreationDateTime"].timestamp()
        assert began <= created <= time.time() and created == int(created)
    numbers = [int(r["dynamodb"]["SequenceNumber"]) for r in records]
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)
    for record in records:
        assert record["eventVersion"] == "1.1" and record["eventSource"] == "aws:dynamodb"
        assert record["dynamodb"]["StreamViewType"] == view and record["dynamodb"]["SizeBytes"] > 0
        assert record["dynamodb"]["Keys"] == {"pk": record["dynamodb"]["Keys"]["pk"]}
        assert len(record["dynamodb"]["SequenceNumber"]) >= 21 and "userIdentity" not in record
    assert len({r["eventID"] for r in records}) == len(records)


def test_ttl_deletions_carry_the_service_identity(ddb: Any, streams: Any,
                                                  make_stream_table: Callable[..., str]) -> None:
    table = make_stream_table("NEW_AND_OLD_IMAGES")
    ddb.update_time_to_live(TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "exp"})
    ddb.put_item(TableName=table, Item={"pk": S("old"), "exp": N(int(time.time()) - 100)})  # expired
    records = StreamReader(streams, arn_of(ddb, table)).read_until(2)
    assert [r["eventName"] for r in records] == ["INSERT", "REMOVE"]
    assert records[1]["userIdentity"] == {"PrincipalId": "dynamodb.amazonaws.com", "Type": "Service"}
    assert "userIdentity" not in records[0]
    assert records[1]["dynamodb"]["OldImage"]["pk"] == S("old")


def test_a_consumer_across_roll_overs_sees_every_record_once(ddb: Any, streams: Any,
                                                            make_stream_table: Callable[..., str]) -> None:
    table = make_stream_table("NEW_IMAGE", range_key=True)
    arn = arn_of(ddb, table)
    reader = StreamReader(streams, arn, limit=7)
    expected = []
    for round_ in range(4):
        for i in range(15):
            item = {"pk": S(f"p{i % 4}"), "sk": S(f"s{i % 3}"), "v": N(round_ * 100 + i)}
            ddb.put_item(TableName=table, Item=item)
            expected.append(item)
        reader.poll()
        before = len(list_shards(streams, arn))
        deadline = time.monotonic() + 10
        while len(list_shards(streams, arn)) == before and time.monotonic() < deadline:
            reader.poll()  # reading on while the open shard ages past its roll-over time
    records = reader.read_until(len(expected))
    assert [r["dynamodb"]["NewImage"] for r in records] == expected
    shards = list_shards(streams, arn_of(ddb, table), limit=2)
    assert len(shards) >= 3, "the stream rolled over"
    ids = [s["ShardId"] for s in shards]
    assert ids == sorted(ids)
    for parent, child in zip(shards, shards[1:], strict=False):
        assert child["ParentShardId"] == parent["ShardId"]
        assert int(parent["SequenceNumberRange"]["EndingSequenceNumber"]) < \
            int(child["SequenceNumberRange"]["StartingSequenceNumber"])
    children = streams.describe_stream(StreamArn=arn_of(ddb, table), ShardFilter={
        "Type": "CHILD_SHARDS", "ShardId": shards[0]["ShardId"]})["StreamDescription"]["Shards"]
    assert [c["ShardId"] for c in children] == [shards[1]["ShardId"]]


def test_stream_specification_rules(ddb: Any, streams: Any, make_stream_table: Callable[..., str]) -> None:
    name = unique_name("st")
    base = {"TableName": name, "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}], "BillingMode": "PAY_PER_REQUEST"}
    cases = [
        ({"StreamEnabled": True}, "Table is being created with a stream enabled, UpdateViewType is required"),
        ({"StreamEnabled": False, "StreamViewType": "KEYS_ONLY"},
         "Table is being created with a stream disabled, UpdateViewType should not be specified"),
        ({"StreamEnabled": True, "StreamViewType": "Fisk"}, "Member must satisfy enum value set: [NEW_IMAGE, "
                                                           "OLD_IMAGE, NEW_AND_OLD_IMAGES, KEYS_ONLY]"),
    ]
    for spec, message in cases:
        with pytest.raises(ClientError) as exc:
            ddb.create_table(**base, StreamSpecification=spec)
        code, text = error(exc)
        assert code == "ValidationException" and message in text
    assert name not in ddb.list_tables()["TableNames"], "a refused CreateTable creates nothing"

    table = make_stream_table(None)
    desc = ddb.describe_table(TableName=table)["Table"]
    assert "StreamSpecification" not in desc and "LatestStreamArn" not in desc
    assert streams.list_streams(TableName=table)["Streams"] == []
    updates = [
        ({"StreamEnabled": False}, f"Table has no stream to disable: TableName: {table}"),
        ({"StreamEnabled": True}, "If stream is being enabled then UpdateViewType is required"),
    ]
    for spec, message in updates:
        with pytest.raises(ClientError) as exc:
            ddb.update_table(TableName=table, StreamSpecification=spec)
        assert error(exc) == ("ValidationException", message if "TableName" in message else
                              "One or more parameter values were invalid: " + message)
    first = ddb.update_table(TableName=table, StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"})
    first_arn = first["TableDescription"]["LatestStreamArn"]
    assert first["TableDescription"]["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"}
    assert first_arn.endswith("/stream/" + first["TableDescription"]["LatestStreamLabel"])
    for spec in ({"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"},
                 {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}):
        with pytest.raises(ClientError) as exc:
            ddb.update_table(TableName=table, StreamSpecification=spec)
        assert error(exc) == ("ValidationException", f"Table already has an enabled stream: TableName: {table}")
    with pytest.raises(ClientError) as exc:
        ddb.update_table(TableName=table, StreamSpecification={"StreamEnabled": False, "StreamViewType": "KEYS_ONLY"})
    assert error(exc) == ("ValidationException", "One or more parameter values were invalid: If stream is being "
                                                 "disabled, then UpdateViewType must not be specified")
    ddb.update_table(TableName=table, StreamSpecification={"StreamEnabled": False})
    desc = ddb.describe_table(TableName=table)["Table"]
    assert "StreamSpecification" not in desc and desc["LatestStreamArn"] == first_arn
    assert streams.describe_stream(StreamArn=first_arn)["StreamDescription"]["StreamStatus"] == "DISABLED"
    second = ddb.update_table(TableName=table, StreamSpecification={"StreamEnabled": True,
                                                                     "StreamViewType": "NEW_IMAGE"})
    second_arn = second["TableDescription"]["LatestStreamArn"]
    assert second_arn != first_arn
    listed = streams.list_streams(TableName=table)["Streams"]
    assert [s["StreamArn"] for s in listed] == [first_arn, second_arn]
    page = streams.list_streams(TableName=table, Limit=1)
    assert [s["StreamArn"] for s in page["Streams"]] == [first_arn] and page["LastEvaluatedStreamArn"] == first_arn
    rest = streams.list_streams(TableName=table, Limit=1, ExclusiveStartStreamArn=first_arn)
    assert [s["StreamArn"] for s in rest["Streams"]] == [second_arn] and "LastEvaluatedStreamArn" not in rest
    assert {s["TableName"] for s in listed} == {table}


def test_iterator_kinds_and_limits(ddb: Any, streams: Any, make_stream_table: Callable[..., str]) -> None:
    table = make_stream_table("KEYS_ONLY")
    arn = arn_of(ddb, table)
    for i in range(5):
        ddb.put_item(TableName=table, Item={"pk": S(f"k{i}")})
    records = StreamReader(streams, arn).read_until(5)
    numbers = [r["dynamodb"]["SequenceNumber"] for r in records]
    shards = {s["ShardId"]: s for s in list_shards(streams, arn)}

    def read(kind: str, number: str, limit: int = 1) -> list[str]:
        it = streams.get_shard_iterator(StreamArn=arn, ShardId=shard_holding(streams, arn, number), ShardIteratorType=kind,
                                        SequenceNumber=number)["ShardIterator"]
        return [r["dynamodb"]["SequenceNumber"] for r in streams.get_records(ShardIterator=it, Limit=limit)["Records"]]

    assert read("AT_SEQUENCE_NUMBER", numbers[2]) == [numbers[2]]
    after = read("AFTER_SEQUENCE_NUMBER", numbers[2])
    assert after in ([numbers[3]], []), "the next record, unless it is in the child shard"
    open_shard = [sid for sid, s in shards.items() if "EndingSequenceNumber" not in s["SequenceNumberRange"]]
    if open_shard:
        latest = streams.get_shard_iterator(StreamArn=arn, ShardId=open_shard[-1],
                                            ShardIteratorType="LATEST")["ShardIterator"]
        assert streams.get_records(ShardIterator=latest)["Records"] == []


def test_bad_streams_inputs(ddb: Any, stream_server: ServerProcess, make_stream_table: Callable[..., str]) -> None:
    streams = streams_client(stream_server.url, validate=False)
    table = make_stream_table("KEYS_ONLY")
    arn = arn_of(ddb, table)
    ddb.put_item(TableName=table, Item={"pk": S("x")})
    (record,) = StreamReader(streams, arn).read_until(1)  # visible (on a cluster once 0.5 s old)
    number = record["dynamodb"]["SequenceNumber"]
    shard = shard_holding(streams, arn, number)
    good = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="AT_SEQUENCE_NUMBER",
                                      SequenceNumber=number)["ShardIterator"]
    missing_stream = arn.rsplit("/", 1)[0] + "/2001-01-01T00:00:00.000"
    calls: list[tuple[Callable[..., Any], dict[str, Any], str, str]] = [
        (streams.describe_stream, {"StreamArn": "x" * 40}, "ValidationException", "Invalid StreamArn"),
        (streams.describe_stream, {"StreamArn": missing_stream}, "ResourceNotFoundException",
         f"Requested resource not found: Stream: {missing_stream} not found"),
        (streams.describe_stream, {"StreamArn": arn, "Limit": 0}, "ValidationException", "greater than or equal to 1"),
        (streams.list_streams, {"Limit": 101}, "ValidationException", "less than or equal to 100"),
        (streams.list_streams, {"ExclusiveStartStreamArn": "y" * 40}, "ValidationException", "Invalid"),
        (streams.list_streams, {"TableName": "no_such_table_x"}, "ResourceNotFoundException", "Table: no_such_table_x"),
        (streams.get_shard_iterator, {"StreamArn": arn, "ShardId": "shardId-" + "9" * 25, "ShardIteratorType": "LATEST"},
         "ResourceNotFoundException", "Shard does not exist"),
        (streams.get_shard_iterator, {"StreamArn": arn, "ShardId": shard, "ShardIteratorType": "bulle"},
         "ValidationException", "Member must satisfy enum value set"),
        (streams.get_shard_iterator, {"StreamArn": arn, "ShardId": shard, "ShardIteratorType": "LATEST",
                                      "SequenceNumber": "0" * 21}, "ValidationException", "should not contain"),
        (streams.get_shard_iterator, {"StreamArn": arn, "ShardId": shard, "ShardIteratorType": "AT_SEQUENCE_NUMBER"},
         "ValidationException", "Must specify a SequenceNumber"),
        (streams.get_shard_iterator, {"StreamArn": arn, "ShardId": shard, "ShardIteratorType": "AT_SEQUENCE_NUMBER",
                                      "SequenceNumber": "x" * 21}, "ValidationException", "Invalid SequenceNumber"),
        (streams.get_records, {"ShardIterator": "sdfsdfsgagaddafgagasgasgasdfasdfasdf"}, "ValidationException",
         "Invalid ShardIterator"),
        (streams.get_records, {"ShardIterator": good[:-3] + ("AAA" if good[-3:] != "AAA" else "BBB")},
         "ValidationException", "Invalid ShardIterator"),
        (streams.get_records, {"ShardIterator": good, "Limit": 1001}, "ValidationException",
         "less than or equal to 1000"),
        (streams.get_records, {"ShardIterator": good, "Limit": 0}, "ValidationException", "greater than or equal to 1"),
    ]
    for call, kwargs, code, message in calls:
        with pytest.raises(ClientError) as exc:
            call(**kwargs)
        got_code, got_message = error(exc)
        assert got_code == code and message in got_message, (kwargs, got_code, got_message)
    assert streams.get_records(ShardIterator=good)["Records"], "the server is still up and the iterator good"


def test_a_deleted_tables_stream_is_disabled_and_stays_readable(ddb: Any, streams: Any,
                                                                make_stream_table: Callable[..., str]) -> None:
    """DynamoDB's DeleteTable: "the stream on that table goes into the DISABLED state, and the stream is
    automatically deleted after 24 hours" (the day is tested with a clock in test_stream_retention)."""
    table = make_stream_table("KEYS_ONLY")
    arn = arn_of(ddb, table)
    ddb.put_item(TableName=table, Item={"pk": S("a")})
    ddb.put_item(TableName=table, Item={"pk": S("b")})
    # Iterators taken before the delete, one per shard. Shards roll every 0.3 s here, and on Redis Cluster a
    # shard opened during the delete starts below the records of the last half second (its log's horizon),
    # so the records may lie in a child of these shards: what is asserted is that these still read, in order.
    iterators = [streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"],
                                            ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
                 for shard in list_shards(streams, arn)]
    ddb.delete_table(TableName=table)
    described = streams.describe_stream(StreamArn=arn)["StreamDescription"]
    assert described["StreamStatus"] == "DISABLED" and described["TableName"] == table
    assert all("EndingSequenceNumber" in s["SequenceNumberRange"] for s in described["Shards"])
    assert arn in [s["StreamArn"] for s in streams.list_streams(TableName=table)["Streams"]]
    records = StreamReader(streams, arn).read_until(2)
    assert [r["dynamodb"]["Keys"] for r in records] == [{"pk": S("a")}, {"pk": S("b")}]
    early = [r["dynamodb"]["Keys"] for it in iterators for r in streams.get_records(ShardIterator=it)["Records"]]
    assert early == [{"pk": S("a")}, {"pk": S("b")}][:len(early)]
    ddb.create_table(TableName=table, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                     BillingMode="PAY_PER_REQUEST")
    assert "LatestStreamArn" not in ddb.describe_table(TableName=table)["Table"], "the new table has none"
    ddb.put_item(TableName=table, Item={"pk": S("c")})
    assert streams.describe_stream(StreamArn=arn)["StreamDescription"]["StreamStatus"] == "DISABLED"


def test_dynamodb_upstream_proxies_the_streams_api() -> None:
    """With a DynamoDB upstream (moto's server here), the Streams API is the upstream's, through the accelerator."""
    proc = ServerProcess(E2E_BACKENDS["dynamodb-upstream"]()).start()
    try:
        ddb, streams = boto_client(proc.url), streams_client(proc.url)
        table = unique_name("st")
        created = ddb.create_table(
            TableName=table, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"})["TableDescription"]
        ddb.put_item(TableName=table, Item={"pk": S("a"), "v": N(1)})
        arn = created["LatestStreamArn"]
        assert arn in [s["StreamArn"] for s in streams.list_streams(TableName=table)["Streams"]]
        records = StreamReader(streams, arn).read_until(1)
        assert [(r["eventName"], r["dynamodb"]["NewImage"]) for r in records] == [("INSERT", {"pk": S("a"),
                                                                                             "v": N(1)})]
        with pytest.raises(ClientError) as exc:
            streams.get_records(ShardIterator="x" * 40)
        assert exc.value.response["Error"]["Code"] != "UnknownOperationException"
    finally:
        proc.stop()


def test_reordered_sets_are_no_change(ddb: Any, streams: Any, make_stream_table: Callable[..., str]) -> None:
    table = make_stream_table("NEW_IMAGE")
    first = {"pk": S("a"), "s": {"SS": ["x", "y"]}, "m": {"M": {"n": {"NS": ["1", "2"]}}}}
    ddb.put_item(TableName=table, Item=first)
    ddb.put_item(TableName=table, Item={"pk": S("a"), "s": {"SS": ["y", "x"]}, "m": {"M": {"n": {"NS": ["2", "1"]}}}})
    ddb.update_item(TableName=table, Key={"pk": S("a")}, UpdateExpression="SET s = :s",
                    ExpressionAttributeValues={":s": {"SS": ["y", "x"]}})
    ddb.put_item(TableName=table, Item={"pk": S("a"), "s": {"SS": ["z"]}})  # the first real change
    records = StreamReader(streams, arn_of(ddb, table)).read_until(2)  # a spurious record would be second
    assert [r["eventName"] for r in records] == ["INSERT", "MODIFY"]
    assert records[1]["dynamodb"]["NewImage"] == {"pk": S("a"), "s": {"SS": ["z"]}}
