"""A table's ARN in TableName: DynamoDB takes it wherever a request names one table (and in transactions).

Each operation runs through boto3 against a real server per backend, once by name and once by ARN, and both
must reach the same table; an ARN of an index, or a malformed one, is still refused as a table name.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import unique_name


@pytest.fixture
def arn_table(ddb: Any) -> Iterator[tuple[str, str]]:
    name = unique_name("arn")
    ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                     KeySchema=[{"AttributeName": "p", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "p", "AttributeType": "S"}])
    yield name, ddb.describe_table(TableName=name)["Table"]["TableArn"]
    with contextlib.suppress(ClientError):  # the test may have deleted it by ARN
        ddb.delete_table(TableName=name)


def test_item_operations_take_the_table_arn(ddb: Any, arn_table: tuple[str, str]) -> None:
    name, arn = arn_table
    ddb.put_item(TableName=arn, Item={"p": {"S": "a"}, "v": {"N": "1"}})
    assert ddb.get_item(TableName=name, Key={"p": {"S": "a"}}, ConsistentRead=True)["Item"]["v"] == {"N": "1"}
    ddb.update_item(TableName=arn, Key={"p": {"S": "a"}}, UpdateExpression="SET v = v + :one",
                    ExpressionAttributeValues={":one": {"N": "1"}})
    assert ddb.get_item(TableName=arn, Key={"p": {"S": "a"}})["Item"]["v"] == {"N": "2"}
    assert [i["p"]["S"] for i in ddb.query(TableName=arn, KeyConditionExpression="p = :p",
                                            ExpressionAttributeValues={":p": {"S": "a"}})["Items"]] == ["a"]
    assert ddb.scan(TableName=arn)["Count"] == 1
    ddb.transact_write_items(TransactItems=[{"Put": {"TableName": arn, "Item": {"p": {"S": "b"}}}},
                                            {"ConditionCheck": {"TableName": arn, "Key": {"p": {"S": "a"}},
                                                                "ConditionExpression": "attribute_exists(p)"}}])
    got = ddb.transact_get_items(TransactItems=[{"Get": {"TableName": arn, "Key": {"p": {"S": "b"}}}}])
    assert got["Responses"][0]["Item"] == {"p": {"S": "b"}}
    ddb.delete_item(TableName=arn, Key={"p": {"S": "b"}})
    assert "Item" not in ddb.get_item(TableName=name, Key={"p": {"S": "b"}}, ConsistentRead=True)


def test_table_operations_take_the_table_arn(ddb: Any, arn_table: tuple[str, str]) -> None:
    name, arn = arn_table
    assert ddb.describe_table(TableName=arn)["Table"]["TableName"] == name
    assert ddb.update_table(TableName=arn, BillingMode="PAY_PER_REQUEST")["TableDescription"]["TableName"] == name
    ddb.get_waiter("table_exists").wait(TableName=name)
    ddb.update_time_to_live(TableName=arn, TimeToLiveSpecification={"AttributeName": "exp", "Enabled": True})
    assert ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]["AttributeName"] == "exp"
    assert ddb.delete_table(TableName=arn)["TableDescription"]["TableName"] == name


@pytest.mark.parametrize("suffix", ["/index/by_x", "/stream/2024-01-01T00:00:00.000"])
def test_other_arns_are_not_table_names(ddb: Any, arn_table: tuple[str, str], suffix: str) -> None:
    _, arn = arn_table
    with pytest.raises(ClientError) as exc:
        ddb.get_item(TableName=arn + suffix, Key={"p": {"S": "a"}})
    assert exc.value.response["Error"]["Code"] == "ValidationException"
    assert "at 'tableName' failed to satisfy constraint" in exc.value.response["Error"]["Message"]


def test_a_missing_table_by_arn_is_not_found(ddb: Any, arn_table: tuple[str, str]) -> None:
    _, arn = arn_table
    missing = arn.rsplit("/", 1)[0] + "/" + unique_name("gone")
    with pytest.raises(ClientError) as exc:
        ddb.describe_table(TableName=missing)
    assert exc.value.response["Error"]["Code"] == "ResourceNotFoundException"
