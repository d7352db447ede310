"""DynamoDB conformance of index definitions and of what a global index can be asked for.

Index names and projected attribute names have AWS's member constraints (also through UpdateTable),
NonKeyAttributes may not repeat a name, an INCLUDE projection needs them, an LSI cannot use the table's HASH
attribute as its RANGE key, and a Query or Scan of a global index may only ask for attributes the index
projects (a local index fetches the others from the table instead).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.conftest import unique_name
from tests.server_process import ServerProcess

_INVALID = "One or more parameter values were invalid: "
_KEYS = [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}]
_DEFS = [{"AttributeName": n, "AttributeType": "S"} for n in ("pk", "sk", "g", "l")]


@pytest.fixture(scope="module")
def loose(server: ServerProcess) -> Any:
    """boto3 without its own parameter validation, so over-long names reach the server."""
    return boto3.client("dynamodb", endpoint_url=server.url, region_name="us-east-1", aws_access_key_id="test",
                        aws_secret_access_key="test",
                        config=Config(parameter_validation=False, retries={"max_attempts": 1, "mode": "standard"}))


def _error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    err = exc.value.response["Error"]
    return err["Code"], err["Message"]


def _gsi(projection: dict[str, Any], name: str = "gsi1") -> dict[str, Any]:
    return {"IndexName": name, "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}], "Projection": projection}


def _lsi(projection: dict[str, Any], range_key: str = "l") -> dict[str, Any]:
    return {"IndexName": "lsi1", "Projection": projection,
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": range_key, "KeyType": "RANGE"}]}


def _create_fails(client: Any, **indexes: Any) -> tuple[str, str]:
    name = unique_name("ir")
    with pytest.raises(ClientError) as exc:
        client.create_table(TableName=name, KeySchema=_KEYS, AttributeDefinitions=_DEFS,
                            BillingMode="PAY_PER_REQUEST", **indexes)
    assert name not in client.list_tables()["TableNames"]
    return _error(exc)


_LONG = "n" * 256
_ELEMENTS = ("failed to satisfy constraint: Member must satisfy constraint: [Member must have length less than or "
             "equal to 255, Member must have length greater than or equal to 1]")


@pytest.mark.parametrize("member,build,path", [
    ("GlobalSecondaryIndexes", _gsi, "globalSecondaryIndexes.1.member.projection.nonKeyAttributes"),
    ("LocalSecondaryIndexes", _lsi, "localSecondaryIndexes.1.member.projection.nonKeyAttributes"),
])
def test_non_key_attribute_names_have_member_constraints(loose: Any, member: str, build: Any, path: str) -> None:
    for names in (["a", _LONG], [""]):
        shown = ", ".join(names)
        shown = shown if len(shown) <= 100 else shown[:100] + "..."
        assert _create_fails(loose, **{member: [build({"ProjectionType": "INCLUDE", "NonKeyAttributes": names})]}) \
            == ("ValidationException", f"1 validation error detected: Value '[{shown}]' at '{path}' {_ELEMENTS}")
    assert _create_fails(loose, **{member: [build({"ProjectionType": "INCLUDE", "NonKeyAttributes": []})]}) == (
        "ValidationException", f"1 validation error detected: Value '[]' at '{path}' failed to satisfy constraint: "
                               "Member must have length greater than or equal to 1")


@pytest.mark.parametrize("member,build", [("GlobalSecondaryIndexes", _gsi), ("LocalSecondaryIndexes", _lsi)])
def test_projection_rules(ddb: Any, member: str, build: Any) -> None:
    assert _create_fails(ddb, **{member: [build({"ProjectionType": "INCLUDE", "NonKeyAttributes": ["a", "b", "a"]})]}) \
        == ("ValidationException", "Cannot have two attributes with the same name")
    assert _create_fails(ddb, **{member: [build({"ProjectionType": "INCLUDE"})]}) == (
        "ValidationException", _INVALID + "ProjectionType is INCLUDE, but NonKeyAttributes is not specified")
    assert _create_fails(ddb, **{member: [build({"ProjectionType": "KEYS_ONLY", "NonKeyAttributes": ["a"]})]}) == (
        "ValidationException", _INVALID + "ProjectionType is KEYS_ONLY, but NonKeyAttributes is specified")


def test_local_index_range_key_cannot_be_the_table_hash_key(ddb: Any) -> None:
    assert _create_fails(ddb, LocalSecondaryIndexes=[_lsi({"ProjectionType": "ALL"}, range_key="pk")]) == (
        "ValidationException", "Both the Hash Key and the Range Key element in the KeySchema have the same name")


@pytest.fixture
def based(ddb: Any) -> Iterator[str]:
    """pk/sk with an INCLUDE GSI projecting ``a``, a KEYS_ONLY GSI, an ALL GSI and an INCLUDE LSI; one item."""
    name = unique_name("ir")
    ddb.create_table(TableName=name, KeySchema=_KEYS, AttributeDefinitions=_DEFS, BillingMode="PAY_PER_REQUEST",
                     GlobalSecondaryIndexes=[_gsi({"ProjectionType": "INCLUDE", "NonKeyAttributes": ["a"]}),
                                             _gsi({"ProjectionType": "KEYS_ONLY"}, "gsi_keys"),
                                             _gsi({"ProjectionType": "ALL"}, "gsi_all")],
                     LocalSecondaryIndexes=[_lsi({"ProjectionType": "INCLUDE", "NonKeyAttributes": ["a"]})])
    ddb.put_item(TableName=name, Item={k: {"S": k} for k in ("pk", "sk", "g", "l", "a", "b", "c")})
    yield name
    ddb.delete_table(TableName=name)


def test_update_table_index_name_constraints(loose: Any, based: str) -> None:
    path = "globalSecondaryIndexUpdates.1.member.create.indexName"
    cases = [
        (_LONG, f"Value '{'n' * 100}...' at '{path}' failed to satisfy constraint: Member must have length less than "
                "or equal to 255"),
        ("ab", f"Value 'ab' at '{path}' failed to satisfy constraint: Member must have length greater than or equal "
               "to 3"),
        ("bad name", f"Value 'bad name' at '{path}' failed to satisfy constraint: Member must satisfy regular "
                     "expression pattern: [a-zA-Z0-9_.-]+"),
    ]
    for name, message in cases:
        with pytest.raises(ClientError) as exc:
            loose.update_table(TableName=based, AttributeDefinitions=_DEFS,
                               GlobalSecondaryIndexUpdates=[{"Create": _gsi({"ProjectionType": "ALL"}, name)}])
        assert _error(exc) == ("ValidationException", "1 validation error detected: " + message)
    with pytest.raises(ClientError) as exc:
        loose.update_table(TableName=based, GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": _LONG}}])
    assert _error(exc)[0] == "ValidationException"
    names = [i["IndexName"] for i in loose.describe_table(TableName=based)["Table"]["GlobalSecondaryIndexes"]]
    assert sorted(names) == ["gsi1", "gsi_all", "gsi_keys"]


def _gquery(ddb: Any, table: str, index: str, **kw: Any) -> list[dict[str, Any]]:
    return ddb.query(TableName=table, IndexName=index, KeyConditionExpression="g = :g",
                     ExpressionAttributeValues={":g": {"S": "g"}}, **kw)["Items"]


def test_global_index_refuses_unprojected_attributes(ddb: Any, based: str) -> None:
    def refused(call: Any, index: str, missing: str) -> None:
        with pytest.raises(ClientError) as exc:
            call()
        assert _error(exc) == ("ValidationException",
                               f"{_INVALID}Global secondary index {index} does not project [{missing}]")

    refused(lambda: _gquery(ddb, based, "gsi1", ProjectionExpression="c, a, b"), "gsi1", "c, b")
    refused(lambda: _gquery(ddb, based, "gsi1", ProjectionExpression="#x.y", ExpressionAttributeNames={"#x": "b"}),
            "gsi1", "b")
    refused(lambda: _gquery(ddb, based, "gsi_keys", ProjectionExpression="pk, a"), "gsi_keys", "a")
    refused(lambda: ddb.query(TableName=based, IndexName="gsi1", AttributesToGet=["a", "c"],
                              KeyConditions={"g": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "g"}]}}),
            "gsi1", "c")
    refused(lambda: ddb.scan(TableName=based, IndexName="gsi1", ProjectionExpression="b"), "gsi1", "b")
    refused(lambda: ddb.scan(TableName=based, IndexName="gsi_keys", AttributesToGet=["c"]), "gsi_keys", "c")


def test_index_projection_that_it_can_answer(ddb: Any, based: str) -> None:
    assert _gquery(ddb, based, "gsi1", ProjectionExpression="pk, g, a") == [{"pk": {"S": "pk"}, "g": {"S": "g"},
                                                                            "a": {"S": "a"}}]
    assert _gquery(ddb, based, "gsi_keys", ProjectionExpression="sk") == [{"sk": {"S": "sk"}}]
    assert _gquery(ddb, based, "gsi_all", ProjectionExpression="c") == [{"c": {"S": "c"}}]
    # a local index fetches what it does not project from the table
    got = ddb.query(TableName=based, IndexName="lsi1", KeyConditionExpression="pk = :p",
                    ExpressionAttributeValues={":p": {"S": "pk"}}, ProjectionExpression="b, c")["Items"]
    assert got == [{"b": {"S": "b"}, "c": {"S": "c"}}]
