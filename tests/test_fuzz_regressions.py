"""Inputs the fuzzers (test_fuzz_router.py) found answered with a 500, each with the answer DynamoDB gives."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.test_fuzz_router import Harness, call

H, HR, IX = "fz_h", "fz_hr", "fz_ix"
KEY = {"pk": {"S": "a"}}


@pytest.fixture(scope="module")
def harness() -> Iterator[Harness]:
    h = Harness()
    yield h
    h.close()


@pytest.mark.parametrize("operation, body, error", [
    # len() of a non-list Keys (TypeError)
    ("BatchGetItem", {"RequestItems": {H: {"Keys": True}}}, "SerializationException"),
    ("BatchGetItem", {"RequestItems": {H: None}}, "SerializationException"),
    ("BatchWriteItem", {"RequestItems": {H: None}}, "SerializationException"),
    # a legacy condition entry that is not a structure (AttributeError / TypeError in expressions.legacy)
    ("Scan", {"TableName": H, "ScanFilter": {"pk": 1}}, "SerializationException"),
    ("Query", {"TableName": H, "KeyConditions": {"pk": "EQ"}}, "SerializationException"),
    ("Query", {"TableName": H, "KeyConditions": {"pk": {"ComparisonOperator": "EQ", "AttributeValueList": 5}}},
     "SerializationException"),
    ("UpdateItem", {"TableName": H, "Key": KEY, "AttributeUpdates": {"a": 1}}, "SerializationException"),
    ("UpdateItem", {"TableName": H, "Key": KEY, "Expected": {"pk": [None]}}, "SerializationException"),
    ("PutItem", {"TableName": H, "Item": KEY, "Expected": {"a": {"Exists": "no"}}}, "SerializationException"),
    # a null entry is an empty one: the engine's own message, not an AttributeError on None
    ("Query", {"TableName": H, "KeyConditions": {"pk": None}}, "ValidationException"),
    ("PutItem", {"TableName": H, "Item": KEY, "Expected": {"a": None}}, "ValidationException"),
    # ExpressionAttributeValues is not a GetItem member, so no shape checked it (TypeError: unhashable list)
    ("GetItem", {"TableName": H, "Key": KEY, "ExpressionAttributeValues": [[]]}, "SerializationException"),
    ("GetItem", {"TableName": H, "Key": KEY, "ExpressionAttributeValues": True}, "SerializationException"),
    # index definitions with members of the wrong type (AttributeError in engine.indexes)
    ("CreateTable", {"TableName": "fz_new", "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                     "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
                     "LocalSecondaryIndexes": [{"IndexName": "lsi", "KeySchema": [None]}]}, "SerializationException"),
    ("UpdateTable", {"TableName": "fz_upd", "GlobalSecondaryIndexUpdates": [{"Create": {"IndexName": "g2",
                     "KeySchema": [{"AttributeName": "x", "KeyType": "HASH"}],
                     "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": [1]}}}]}, "SerializationException"),
])
def test_bad_member_types_are_dynamodb_errors(harness: Harness, operation: str, body: dict[str, Any],
                                              error: str) -> None:
    status, reply = call(harness, operation, json.dumps(body).encode())
    assert status == 400 and reply is not None
    assert reply["__type"].endswith("#" + error), reply


def test_null_member_is_absent(harness: Harness) -> None:
    # ListTables {"Limit": null} sliced names[:None] and compared None > int (TypeError)
    status, reply = call(harness, "ListTables", b'{"Limit": null, "ExclusiveStartTableName": null}')
    assert status == 200 and reply is not None and H in reply["TableNames"]


@pytest.mark.parametrize("operation, body, where", [
    # a 1500-level document path recursed past Python's limit building the projection trie (RecursionError)
    ("GetItem", {"TableName": H, "Key": KEY, "ProjectionExpression": "a" + ".a" * 1500}, "ProjectionExpression"),
    ("GetItem", {"TableName": H, "Key": KEY, "ProjectionExpression": "a" + "[0]" * 1300}, "ProjectionExpression"),
    ("Scan", {"TableName": H, "FilterExpression": "a" + ".b" * 32 + " = :v", "ExpressionAttributeValues":
              {":v": {"N": "1"}}}, "FilterExpression"),
    ("UpdateItem", {"TableName": H, "Key": KEY, "UpdateExpression": "REMOVE a" + "[0]" * 40}, "UpdateExpression"),
])
def test_document_paths_deeper_than_32_levels(harness: Harness, operation: str, body: dict[str, Any],
                                              where: str) -> None:
    status, reply = call(harness, operation, json.dumps(body).encode())
    assert status == 400 and reply is not None
    assert reply["message"].startswith(f"Invalid {where}: The document path has too many nesting levels; "
                                       "nesting levels: "), reply


def test_path_of_32_levels_is_fine(harness: Harness) -> None:
    status, _ = call(harness, "GetItem", json.dumps({"TableName": H, "Key": KEY,
                                                     "ProjectionExpression": "a" + ".b" * 31}).encode())
    assert status == 200


def _nested(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {"S": "x"}
    for _ in range(levels):
        value = {"M": {"b": value}}
    return value


def test_update_cannot_nest_an_item_deeper_than_32_levels(harness: Harness) -> None:
    # Each part is within the limit, the result is not; repeated, `SET a.b... = a` doubled the depth until
    # orjson refused to encode the item (TypeError: Recursion limit reached).
    key = {"pk": {"S": "nested"}}
    status, _ = call(harness, "PutItem", json.dumps({"TableName": H, "Item": {**key, "a": _nested(31)}}).encode())
    assert status == 200
    for update, values in (("SET a" + ".b" * 20 + " = :v", {":v": _nested(20)}), ("SET a" + ".b" * 29 + " = a", None)):
        body: dict[str, Any] = {"TableName": H, "Key": key, "UpdateExpression": update}
        if values:
            body["ExpressionAttributeValues"] = values
        status, reply = call(harness, "UpdateItem", json.dumps(body).encode())
        assert status == 400 and reply is not None
        assert reply["message"].startswith("Nesting Levels have exceeded supported limits"), reply
