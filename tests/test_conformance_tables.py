"""DynamoDB conformance: control plane, Query/Scan, batches, transactions, indexes, tags, TTL, capacity.

Each case pins a behaviour of real DynamoDB (status, error type, the words a client matches on, the
members returned) that this accelerator once got wrong. They run through boto3 against a real server
process, so the same checks could run against DynamoDB itself.
"""

from __future__ import annotations

import contextlib
import re
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config

from tests.conftest import unique_name

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_HASH = [{"AttributeName": "p", "KeyType": "HASH"}]
_HASH_S = [{"AttributeName": "p", "AttributeType": "S"}]


def _error(exc: pytest.ExceptionInfo[Any]) -> tuple[str, str]:
    err = exc.value.response["Error"]
    return err["Code"], err["Message"]


def _raises(fn: Callable[[], Any], code: str, pattern: str = "") -> dict[str, Any]:
    """Call ``fn``; it must fail with ``code`` and a message matching ``pattern``. Returns the response."""
    with pytest.raises(Exception) as exc:  # noqa: PT011 - botocore's modeled classes differ per client
        fn()
    response: dict[str, Any] = exc.value.response  # type: ignore[attr-defined]
    assert response["Error"]["Code"] == code, response["Error"]
    assert re.search(pattern, response["Error"]["Message"]), response["Error"]["Message"]
    return response


@pytest.fixture
def raw(server: Any) -> Any:
    """A client that does not validate parameters, so the server sees what boto3 would refuse to send."""
    return boto3.client("dynamodb", endpoint_url=server.url, region_name="us-east-1", aws_access_key_id="test",
                        aws_secret_access_key="test",
                        config=Config(parameter_validation=False, retries={"max_attempts": 0}))


@pytest.fixture
def tables(ddb: Any) -> Iterator[Callable[..., str]]:
    """Create tables from full CreateTable arguments; they are deleted after the test."""
    created: list[str] = []

    def make(**kwargs: Any) -> str:
        name = unique_name()
        ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST", **kwargs)
        created.append(name)
        return name

    yield make
    for name in created:
        with contextlib.suppress(ddb.exceptions.ResourceNotFoundException):
            ddb.delete_table(TableName=name)


# -- tables ------------------------------------------------------------------------------------------


def test_duplicate_attribute_definition_names_the_attribute(ddb: Any) -> None:
    _raises(lambda: ddb.create_table(
        TableName=unique_name(), BillingMode="PAY_PER_REQUEST", KeySchema=[{"AttributeName": "xyz", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "xyz", "AttributeType": "S"},
                              {"AttributeName": "xyz", "AttributeType": "N"}]),
        "ValidationException", "uplicate.*xyz")


def test_describe_missing_table_names_it(ddb: Any) -> None:
    with pytest.raises(ddb.exceptions.ResourceNotFoundException) as exc:
        ddb.describe_table(TableName="non_existent_table")
    _, message = _error(exc)
    assert message == "Requested resource not found: Table: non_existent_table not found"
    with pytest.raises(ddb.exceptions.ResourceNotFoundException):
        ddb.delete_table(TableName=unique_name())
    with pytest.raises(ddb.exceptions.ResourceNotFoundException):
        ddb.update_table(TableName=unique_name(), BillingMode="PAY_PER_REQUEST")


def test_delete_table_description_leaves_out_the_schema(ddb: Any) -> None:
    name = unique_name()
    ddb.create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "p", "KeyType": "HASH"}, {"AttributeName": "c", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "p", "AttributeType": "S"},
                              {"AttributeName": "c", "AttributeType": "S"},
                              {"AttributeName": "x", "AttributeType": "S"}],
        GlobalSecondaryIndexes=[{"IndexName": "hello", "KeySchema": [{"AttributeName": "x", "KeyType": "HASH"}],
                                 "Projection": {"ProjectionType": "ALL"}}],
        LocalSecondaryIndexes=[{"IndexName": "hithere", "Projection": {"ProjectionType": "ALL"},
                                "KeySchema": [{"AttributeName": "p", "KeyType": "HASH"},
                                              {"AttributeName": "x", "KeyType": "RANGE"}]}])
    described = ddb.describe_table(TableName=name)["Table"]
    got = ddb.delete_table(TableName=name)["TableDescription"]
    for member in ("KeySchema", "AttributeDefinitions", "GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        assert member in described
        assert member not in got
    assert "CreationDateTime" not in got
    assert got["TableStatus"] == "DELETING" and _UUID.fullmatch(got["TableId"])
    assert got["TableArn"].startswith("arn:")
    assert got["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert got["BillingModeSummary"]["LastUpdateToPayPerRequestDateTime"] is not None
    assert got["ProvisionedThroughput"] == {"NumberOfDecreasesToday": 0, "ReadCapacityUnits": 0,
                                            "WriteCapacityUnits": 0}


def test_health_check_on_root_names_the_address(server: Any) -> None:
    with urllib.request.urlopen(server.url + "/", timeout=5) as reply:
        assert reply.status == 200
        assert reply.read().decode().strip() == "healthy: " + server.url.removeprefix("http://")
    for path in ("/abc", "/-", "/index.htm"):
        with pytest.raises(urllib.error.HTTPError) as exc:
            urllib.request.urlopen(server.url + path, timeout=5)
        assert 400 <= exc.value.code < 405


def test_describe_endpoints_gives_a_usable_address(ddb: Any) -> None:
    endpoints = ddb.describe_endpoints()["Endpoints"]
    assert len(endpoints) == 1 and endpoints[0]["CachePeriodInMinutes"] > 0
    again = boto3.client("dynamodb", endpoint_url="http://" + endpoints[0]["Address"], region_name="us-east-1",
                         aws_access_key_id="test", aws_secret_access_key="test")
    assert again.describe_endpoints()["Endpoints"] == endpoints


# -- query ---------------------------------------------------------------------------------------------


def test_legacy_begins_with_on_a_number_sort_key_is_rejected(ddb: Any, range_table: str) -> None:
    _raises(lambda: ddb.query(TableName=range_table, KeyConditions={
        "pk": {"AttributeValueList": [{"S": "x"}], "ComparisonOperator": "EQ"},
        "sk": {"AttributeValueList": [{"N": "17"}], "ComparisonOperator": "BEGINS_WITH"}}),
        "ValidationException", "BEGINS_WITH")


# -- transactions ----------------------------------------------------------------------------------


def test_transact_invalid_key_is_a_validation_error_reason(ddb: Any, table: str) -> None:
    response = _raises(lambda: ddb.transact_write_items(TransactItems=[
        {"Put": {"TableName": table, "Item": {"pk": {"N": "7"}}}},
        {"Put": {"TableName": table, "Item": {"pk": {"N": "8"}}}},
        {"Put": {"TableName": table, "Item": {"pk": {"S": "a"}}, "ConditionExpression": "attribute_exists(pk)"}},
    ]), "TransactionCanceledException")
    reasons = response["CancellationReasons"]
    assert [r["Code"] for r in reasons] == ["ValidationError", "None", "None"]
    assert "Message" in reasons[0] and "Message" not in reasons[1]


def test_transact_member_errors_fail_the_whole_request(raw: Any, table: str) -> None:
    update = {"TableName": table, "Key": {"pk": {"S": "a"}}, "UpdateExpression": "SET x = :one",
              "ConditionExpression": "x = :one", "ExpressionAttributeValues": {":one": {"N": "1"}}}
    for option in ("none", "dog"):
        _raises(lambda option=option: raw.transact_write_items(TransactItems=[
            {"Update": {**update, "ReturnValuesOnConditionCheckFailure": option}}]),
            "ValidationException", "[rR]eturnValuesOnConditionCheckFailure")
    _raises(lambda: raw.transact_write_items(TransactItems=[{"Put": {
        "TableName": table, "Item": {"pk": {"S": "a"}}, "ConditionExpression": "attribute_exists(pk)",
        "ExpressionAttributeNames": {"#xyz": 7}}}]), "SerializationException")


def test_transact_payload_over_4mb(ddb: Any, table: str) -> None:
    big = "x" * 100000
    _raises(lambda: ddb.transact_write_items(TransactItems=[
        {"Put": {"TableName": table, "Item": {"pk": {"S": str(i)}, "x": {"S": big}}}} for i in range(50)]),
        "ValidationException", "size cannot exceed")


# -- indexes -------------------------------------------------------------------------------------------


def test_batch_write_with_a_bad_index_key_writes_nothing(ddb: Any, tables: Callable[..., str]) -> None:
    name = tables(KeySchema=_HASH, AttributeDefinitions=[*_HASH_S, {"AttributeName": "x", "AttributeType": "S"}],
                  GlobalSecondaryIndexes=[{"IndexName": "hello", "Projection": {"ProjectionType": "ALL"},
                                           "KeySchema": [{"AttributeName": "x", "KeyType": "HASH"}]}])
    _raises(lambda: ddb.batch_write_item(RequestItems={name: [
        {"PutRequest": {"Item": {"p": {"S": "a"}, "x": {"S": "ok"}}}},
        {"PutRequest": {"Item": {"p": {"S": "b"}, "x": {"N": "3"}}}}]}), "ValidationException", "mismatch")
    assert "Item" not in ddb.get_item(TableName=name, Key={"p": {"S": "a"}}, ConsistentRead=True)


def test_index_projection_type_is_required(raw: Any) -> None:
    _raises(lambda: raw.create_table(
        TableName=unique_name(), BillingMode="PAY_PER_REQUEST", KeySchema=_HASH, AttributeDefinitions=_HASH_S,
        GlobalSecondaryIndexes=[{"IndexName": "hello", "KeySchema": _HASH, "Projection": {}}]),
        "ValidationException", "ProjectionType")
    _raises(lambda: raw.create_table(
        TableName=unique_name(), BillingMode="PAY_PER_REQUEST", KeySchema=_HASH, AttributeDefinitions=_HASH_S,
        GlobalSecondaryIndexes=[]), "ValidationException", "GlobalSecondaryIndexes")


def test_local_index_fetches_attributes_it_does_not_project(ddb: Any, tables: Callable[..., str]) -> None:
    key = [{"AttributeName": "p", "KeyType": "HASH"}, {"AttributeName": "c", "KeyType": "RANGE"}]
    name = tables(KeySchema=key, AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in "pcb"],
                  LocalSecondaryIndexes=[{"IndexName": "hello", "Projection": {"ProjectionType": "KEYS_ONLY"},
                                          "KeySchema": [key[0], {"AttributeName": "b", "KeyType": "RANGE"}]}])
    ddb.put_item(TableName=name, Item={"p": {"S": "x"}, "c": {"S": "1"}, "b": {"S": "b"}, "d": {"S": "d"}})
    condition = {"KeyConditionExpression": "p = :p", "ExpressionAttributeValues": {":p": {"S": "x"}}}
    got = ddb.query(TableName=name, IndexName="hello", Select="SPECIFIC_ATTRIBUTES", ProjectionExpression="d",
                    **condition)
    assert got["Items"] == [{"d": {"S": "d"}}]
    got = ddb.query(TableName=name, IndexName="hello", QueryFilter={
        "d": {"AttributeValueList": [{"S": "d"}], "ComparisonOperator": "EQ"}},
        KeyConditions={"p": {"AttributeValueList": [{"S": "x"}], "ComparisonOperator": "EQ"}})
    assert got["Items"] == [{"p": {"S": "x"}, "c": {"S": "1"}, "b": {"S": "b"}}]


# -- tags ----------------------------------------------------------------------------------------------


def test_tag_errors(raw: Any, tables: Callable[..., str]) -> None:
    name = tables(KeySchema=_HASH, AttributeDefinitions=_HASH_S)
    arn = raw.describe_table(TableName=name)["Table"]["TableArn"]
    tag = [{"Key": "k", "Value": "v"}]
    _raises(lambda: raw.tag_resource(ResourceArn="I_do_not_exist", Tags=tag), "AccessDeniedException")
    _raises(lambda: raw.tag_resource(ResourceArn=arn, Tags=[]), "ValidationException")
    _raises(lambda: raw.untag_resource(ResourceArn=arn, TagKeys=[]), "ValidationException")
    for key, value in (("ok", "#!%%^$$&"), ("->>;-)])", "ok"), ("!!!\\|", "<><")):
        _raises(lambda key=key, value=value: raw.tag_resource(ResourceArn=arn, Tags=[{"Key": key, "Value": value}]),
                "ValidationException")
    unicode = [{"Key": "законные буквы", "Value": "v"}, {"Key": "ѮѮ Ѯ", "Value": "ѮѮѮvalue"}]
    raw.tag_resource(ResourceArn=arn, Tags=unicode)
    assert sorted(t["Key"] for t in raw.list_tags_of_resource(ResourceArn=arn)["Tags"]) == sorted(
        t["Key"] for t in unicode)


def test_create_table_checks_tags_before_creating(raw: Any) -> None:
    name = unique_name()
    _raises(lambda: raw.create_table(TableName=name, BillingMode="PAY_PER_REQUEST", KeySchema=_HASH,
                                     AttributeDefinitions=_HASH_S,
                                     Tags=[{"Key": str(i), "Value": "v"} for i in range(51)]), "ValidationException")
    _raises(lambda: raw.describe_table(TableName=name), "ResourceNotFoundException")


# -- TTL -----------------------------------------------------------------------------------------------


def test_ttl_cannot_disable_what_was_never_enabled(ddb: Any, table: str) -> None:
    _raises(lambda: ddb.update_time_to_live(TableName=table, TimeToLiveSpecification={
        "AttributeName": "expiration", "Enabled": False}), "ValidationException", "disabled")
    _raises(lambda: ddb.update_time_to_live(TableName=unique_name(), TimeToLiveSpecification={
        "AttributeName": "expiration", "Enabled": True}), "ResourceNotFoundException")


# -- consumed capacity ------------------------------------------------------------------------------


def test_consumed_capacity_on_repeated_eventually_consistent_reads(ddb: Any, table: str) -> None:
    """A read served from the cache still reports what DynamoDB would bill."""
    ddb.put_item(TableName=table, Item={"pk": {"S": "a"}, "x": {"S": "y"}})
    for _ in range(2):
        got = ddb.get_item(TableName=table, Key={"pk": {"S": "a"}}, ReturnConsumedCapacity="TOTAL")
        assert got["ConsumedCapacity"] == {"TableName": table, "CapacityUnits": 0.5}
        got = ddb.query(TableName=table, KeyConditionExpression="pk = :p",
                        ExpressionAttributeValues={":p": {"S": "a"}}, ReturnConsumedCapacity="TOTAL")
        assert got["ConsumedCapacity"] == {"TableName": table, "CapacityUnits": 0.5}
        got = ddb.scan(TableName=table, ReturnConsumedCapacity="INDEXES")
        assert got["ConsumedCapacity"]["Table"] == {"CapacityUnits": 0.5}
        got = ddb.batch_get_item(RequestItems={table: {"Keys": [{"pk": {"S": "a"}}]}},
                                 ReturnConsumedCapacity="TOTAL")
        assert got["ConsumedCapacity"] == [{"TableName": table, "CapacityUnits": 0.5}]


# -- table class -------------------------------------------------------------------------------------


def test_table_class_errors_and_update(raw: Any, tables: Callable[..., str]) -> None:
    for bad in ("invalid_tableclass_name", "standard"):
        _raises(lambda bad=bad: raw.create_table(TableName=unique_name(), BillingMode="PAY_PER_REQUEST",
                                                 KeySchema=_HASH, AttributeDefinitions=_HASH_S, TableClass=bad),
                "ValidationException", "table.class")
    name = tables(KeySchema=_HASH, AttributeDefinitions=_HASH_S, TableClass="STANDARD")
    assert raw.describe_table(TableName=name)["Table"]["TableClassSummary"] == {"TableClass": "STANDARD"}
    raw.update_table(TableName=name, TableClass="STANDARD_INFREQUENT_ACCESS")
    summary = raw.describe_table(TableName=name)["Table"]["TableClassSummary"]
    assert summary["TableClass"] == "STANDARD_INFREQUENT_ACCESS" and "LastUpdateDateTime" in summary
    _raises(lambda: raw.update_table(TableName=name, TableClass="junk"), "ValidationException", "table.class")
