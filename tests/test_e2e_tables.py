"""Control plane through boto3: CreateTable, DescribeTable, ListTables, DeleteTable and their errors."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import unique_name


def _create(ddb: Any, name: str, **overrides: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "TableName": name,
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"},
                                 {"AttributeName": "sk", "AttributeType": "N"}],
        "ProvisionedThroughput": {"ReadCapacityUnits": 5, "WriteCapacityUnits": 7},
    }
    args.update(overrides)
    return ddb.create_table(**args)


def test_create_describe_delete(ddb: Any) -> None:
    name = unique_name()
    desc = _create(ddb, name)["TableDescription"]
    assert desc["TableName"] == name
    assert desc["KeySchema"][1] == {"AttributeName": "sk", "KeyType": "RANGE"}
    assert desc["ProvisionedThroughput"]["ReadCapacityUnits"] == 5
    assert desc["ProvisionedThroughput"]["WriteCapacityUnits"] == 7
    got = ddb.describe_table(TableName=name)["Table"]
    assert got["TableStatus"] == "ACTIVE"
    assert {a["AttributeName"]: a["AttributeType"] for a in got["AttributeDefinitions"]} == {"pk": "S", "sk": "N"}
    assert got["TableArn"].endswith(f":table/{name}")
    ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 2})
    assert ddb.delete_table(TableName=name)["TableDescription"]["TableStatus"] == "DELETING"
    with pytest.raises(ddb.exceptions.ResourceNotFoundException):
        ddb.describe_table(TableName=name)


def test_pay_per_request_echoed(ddb: Any) -> None:
    name = unique_name()
    desc = ddb.create_table(
        TableName=name, KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "B"}], BillingMode="PAY_PER_REQUEST",
    )["TableDescription"]
    assert desc["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    ddb.delete_table(TableName=name)


def test_create_existing_is_resource_in_use(ddb: Any) -> None:
    name = unique_name()
    _create(ddb, name)
    with pytest.raises(ddb.exceptions.ResourceInUseException):
        _create(ddb, name)
    ddb.delete_table(TableName=name)


def test_delete_missing_is_resource_not_found(ddb: Any) -> None:
    with pytest.raises(ddb.exceptions.ResourceNotFoundException):
        ddb.delete_table(TableName=unique_name())


def test_delete_table_removes_items(ddb: Any) -> None:
    name = unique_name()
    _create(ddb, name)
    ddb.put_item(TableName=name, Item={"pk": {"S": "a"}, "sk": {"N": "1"}})
    ddb.delete_table(TableName=name)
    _create(ddb, name)
    assert "Item" not in ddb.get_item(TableName=name, Key={"pk": {"S": "a"}, "sk": {"N": "1"}},
                                      ConsistentRead=True)
    ddb.delete_table(TableName=name)


@pytest.mark.parametrize("overrides, fragment", [
    ({"AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}]},
     "Invalid KeySchema: Some index key attribute have no definition"),
    ({"AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"},
                               {"AttributeName": "sk", "AttributeType": "N"},
                               {"AttributeName": "x", "AttributeType": "S"}]}, "does not exactly match"),
    ({"KeySchema": [{"AttributeName": "sk", "KeyType": "RANGE"}, {"AttributeName": "pk", "KeyType": "HASH"}]},
     "HASH"),
    ({"ProvisionedThroughput": None}, "ReadCapacityUnits"),
    ({"BillingMode": "PAY_PER_REQUEST"}, "PAY_PER_REQUEST"),
    ({"TableName": "ab"}, "length greater than or equal to 3"),
    ({"TableName": "bad name!"}, "regular expression"),
])
def test_create_table_validation(ddb: Any, overrides: dict[str, Any], fragment: str) -> None:
    args = {k: v for k, v in overrides.items() if v is not None}
    if overrides.get("ProvisionedThroughput", 1) is None:
        kwargs: dict[str, Any] = {
            "TableName": unique_name(), "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}]}
        with pytest.raises(ddb.exceptions.ClientError) as err:
            ddb.create_table(**kwargs)
    else:
        with pytest.raises(ddb.exceptions.ClientError) as err:
            _create(ddb, args.pop("TableName", unique_name()), **args)
    assert err.value.response["Error"]["Code"] == "ValidationException"
    assert fragment in err.value.response["Error"]["Message"]


def test_list_tables_pagination(ddb: Any) -> None:
    names = sorted(unique_name("lt") for _ in range(5))
    for n in names:
        _create(ddb, n)
    seen: list[str] = []
    start: dict[str, Any] = {}
    while True:
        page = ddb.list_tables(Limit=2, **start)
        assert len(page["TableNames"]) <= 2
        seen.extend(page["TableNames"])
        if "LastEvaluatedTableName" not in page:
            break
        start = {"ExclusiveStartTableName": page["LastEvaluatedTableName"]}
    assert seen == sorted(seen)
    assert [n for n in seen if n in names] == names
    for n in names:
        ddb.delete_table(TableName=n)


def test_update_table_and_deletion_protection(ddb: Any) -> None:
    name = unique_name()
    _create(ddb, name)
    desc = ddb.update_table(TableName=name, BillingMode="PAY_PER_REQUEST")["TableDescription"]
    assert desc["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    desc = ddb.update_table(TableName=name, BillingMode="PROVISIONED",
                            ProvisionedThroughput={"ReadCapacityUnits": 3, "WriteCapacityUnits": 4})["TableDescription"]
    assert desc["ProvisionedThroughput"]["WriteCapacityUnits"] == 4
    assert ddb.describe_table(TableName=name)["Table"]["ProvisionedThroughput"]["ReadCapacityUnits"] == 3
    with pytest.raises(ddb.exceptions.ClientError) as err:
        ddb.update_table(TableName=name)
    assert err.value.response["Error"]["Code"] == "ValidationException"
    ddb.update_table(TableName=name, DeletionProtectionEnabled=True)
    with pytest.raises(ddb.exceptions.ClientError) as err:
        ddb.delete_table(TableName=name)
    assert "protected against deletion" in err.value.response["Error"]["Message"]
    ddb.update_table(TableName=name, DeletionProtectionEnabled=False)
    ddb.delete_table(TableName=name)
    with pytest.raises(ddb.exceptions.ResourceNotFoundException):
        ddb.update_table(TableName=name, BillingMode="PAY_PER_REQUEST")


def test_tags(ddb: Any) -> None:
    name = unique_name()
    arn = ddb.create_table(
        TableName=name, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
        Tags=[{"Key": "team", "Value": "a"}])["TableDescription"]["TableArn"]
    ddb.tag_resource(ResourceArn=arn, Tags=[{"Key": "env", "Value": "test"}, {"Key": "team", "Value": "b"}])
    tags = {t["Key"]: t["Value"] for t in ddb.list_tags_of_resource(ResourceArn=arn)["Tags"]}
    assert tags == {"team": "b", "env": "test"}
    ddb.untag_resource(ResourceArn=arn, TagKeys=["team"])
    assert ddb.list_tags_of_resource(ResourceArn=arn)["Tags"] == [{"Key": "env", "Value": "test"}]
    ddb.delete_table(TableName=name)
    with pytest.raises(ddb.exceptions.ResourceNotFoundException):
        ddb.list_tags_of_resource(ResourceArn=arn)


def test_describe_limits(ddb: Any) -> None:
    limits = ddb.describe_limits()
    assert limits["TableMaxReadCapacityUnits"] > 0 and limits["AccountMaxWriteCapacityUnits"] > 0
