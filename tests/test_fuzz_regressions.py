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
