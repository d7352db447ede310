"""DynamoDB conformance of what does not deserialize: invalid base64 in B/BS values and bodies that are not JSON.

DynamoDB answers both with SerializationException before it looks at the table: a B value must be canonical,
padded base64 (the message quotes the value and names the first fault), and a body that does not parse gets
the type alone, with no message. Raw requests, since boto3 encodes binary values itself.
"""

from __future__ import annotations

import base64
import http.client
import json
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import unique_name
from tests.server_process import ServerProcess

_SERIALIZATION = "com.amazon.coral.service#SerializationException"
_VALIDATION = "com.amazon.coral.validate#ValidationException"


def _post(url: str, op: str, body: bytes) -> tuple[int, dict[str, Any]]:
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    try:
        conn.request("POST", "/", body=body, headers={"X-Amz-Target": "DynamoDB_20120810." + op,
                                                       "Content-Type": "application/x-amz-json-1.0"})
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read() or b"null")
    finally:
        conn.close()


def _call(server: ServerProcess, op: str, request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    return _post(server.url, op, json.dumps(request).encode())


@pytest.fixture
def btable(ddb: Any) -> Iterator[str]:
    """A table whose hash key ``p`` is binary."""
    name = unique_name("b64")
    ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                     KeySchema=[{"AttributeName": "p", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "p", "AttributeType": "B"}])
    yield name
    ddb.delete_table(TableName=name)


_BLOB = "can not be converted to a Blob: "
BAD_BASE64 = [
    ("YWJjZGVmZ2g", f"'YWJjZGVmZ2g' {_BLOB}Base64 encoded length is expected a multiple of 4 bytes but found: 11"),
    ("YQ", f"'YQ' {_BLOB}Base64 encoded length is expected a multiple of 4 bytes but found: 2"),
    ("YWJj??!!", f"'YWJj??!!' {_BLOB}Invalid Base64 character: '?'"),
    ("YW Jj", f"'YW Jj' {_BLOB}Base64 encoded length is expected a multiple of 4 bytes but found: 5"),
    ("YW-j", f"'YW-j' {_BLOB}Invalid Base64 character: '-'"),
    ("YQ==YQ==", f"'YQ==YQ==' {_BLOB}Invalid Base64 character: '='"),  # padding in the middle
    ("YR==", f"'YR==' {_BLOB}Invalid last non-pad Base64 character dectected"),  # spare bits set
    ("YWJ=", f"'YWJ=' {_BLOB}Invalid last non-pad Base64 character dectected"),
    ("====", f"'====' {_BLOB}Invalid last non-pad Base64 character dectected"),
    ("Y===", f"'Y===' {_BLOB}Invalid last non-pad Base64 character dectected"),
    ("é===", f"'é===' {_BLOB}Invalid Base64 character: 'é'"),
]


@pytest.mark.parametrize("text,message", BAD_BASE64)
def test_bad_base64_in_item_is_serialization_error(server: ServerProcess, ddb: Any, btable: str, text: str,
                                                   message: str) -> None:
    good = {"B": "YWJj"}
    for item in ({"p": {"B": text}}, {"p": good, "v": {"B": text}}, {"p": good, "v": {"BS": ["YQ==", text]}},
                 {"p": good, "v": {"L": [{"M": {"x": {"B": text}}}]}}):
        assert _call(server, "PutItem", {"TableName": btable, "Item": item}) == (
            400, {"__type": _SERIALIZATION, "message": message})
    assert "Item" not in ddb.get_item(TableName=btable, Key={"p": good}, ConsistentRead=True)


@pytest.mark.parametrize("text,message", BAD_BASE64[:3])
def test_bad_base64_on_every_path(server: ServerProcess, btable: str, text: str, message: str) -> None:
    error = (400, {"__type": _SERIALIZATION, "message": message})
    key = {"p": {"B": text}}
    assert _call(server, "GetItem", {"TableName": btable, "Key": key}) == error
    assert _call(server, "DeleteItem", {"TableName": btable, "Key": key}) == error
    assert _call(server, "UpdateItem", {"TableName": btable, "Key": {"p": {"B": "YQ=="}},
                                        "UpdateExpression": "SET v = :v",
                                        "ExpressionAttributeValues": {":v": {"B": text}}}) == error
    assert _call(server, "UpdateItem", {"TableName": btable, "Key": {"p": {"B": "YQ=="}},
                                        "AttributeUpdates": {"v": {"Action": "PUT", "Value": {"B": text}}}}) == error
    assert _call(server, "Query", {"TableName": btable, "KeyConditionExpression": "p = :p",
                                   "ExpressionAttributeValues": {":p": {"B": text}}}) == error
    assert _call(server, "Scan", {"TableName": btable, "FilterExpression": "v = :v",
                                  "ExpressionAttributeValues": {":v": {"B": text}}}) == error
    assert _call(server, "BatchGetItem", {"RequestItems": {btable: {"Keys": [key]}}}) == error
    assert _call(server, "BatchWriteItem", {"RequestItems": {btable: [{"PutRequest": {"Item": key}}]}}) == error
    assert _call(server, "TransactWriteItems", {"TransactItems": [{"Put": {"TableName": btable, "Item": key}}]}) \
        == error
    assert _call(server, "TransactGetItems", {"TransactItems": [{"Get": {"TableName": btable, "Key": key}}]}) == error


@pytest.mark.parametrize("value,error", [
    (True, (_SERIALIZATION, "class java.lang.Boolean can not be converted to a Blob")),
    (5, (_SERIALIZATION, "class com.amazon.coral.value.json.numbers.TruncatingBigNumber can not be converted to a "
                         "Blob")),
    (["YQ=="], (_SERIALIZATION, "Start of list found where not expected")),
    ({"a": 1}, (_SERIALIZATION, "Start of structure or map found where not expected.")),
    (None, (_VALIDATION, "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes")),
])
def test_b_member_of_wrong_json_type(server: ServerProcess, btable: str, value: Any, error: tuple[str, str]) -> None:
    status, body = _call(server, "PutItem", {"TableName": btable, "Item": {"p": {"B": "YQ=="}, "v": {"B": value}}})
    assert (status, body["__type"], body["message"]) == (400, *error)


def test_binary_set_with_null_member(server: ServerProcess, btable: str) -> None:
    status, body = _call(server, "PutItem", {"TableName": btable, "Item": {"p": {"B": "YQ=="}, "v": {"BS": [None]}}})
    assert (status, body) == (400, {"__type": _VALIDATION, "message": "One or more parameter values were invalid: "
                                    "Binary sets may not contain null or empty values"})


def test_canonical_base64_round_trips(server: ServerProcess, ddb: Any, btable: str) -> None:
    for i, text in enumerate(["", "YQ==", "YWI=", "YWJj", "+/+/", "AA==", "AAA="]):
        key = {"B": base64.b64encode(f"k{i}".encode()).decode()}
        assert _call(server, "PutItem", {"TableName": btable, "Item": {"p": key, "v": {"B": text}}}) == (200, {})
        item = ddb.get_item(TableName=btable, Key={"p": {"B": f"k{i}".encode()}}, ConsistentRead=True)["Item"]
        assert item["v"]["B"] == base64.b64decode(text)


@pytest.mark.parametrize("body", [b"{not json", b"{", b'{"TableName": "x",}', b"", b"}{", b'"abc', b"nul"])
def test_unparsable_body_is_serialization_error_without_message(server: ServerProcess, body: bytes) -> None:
    assert _post(server.url, "ListTables", body) == (400, {"__type": _SERIALIZATION})


@pytest.mark.parametrize("body,message", [
    (b"[1, 2]", "Start of list found where not expected"),
    (b'"abc"', "Expected null"),
    (b"7", "Expected null"),
    (b"true", "Expected null"),
])
def test_body_of_wrong_json_type(server: ServerProcess, body: bytes, message: str) -> None:
    assert _post(server.url, "ListTables", body) == (400, {"__type": _SERIALIZATION, "message": message})


def test_null_body_is_an_empty_request(server: ServerProcess) -> None:
    status, body = _post(server.url, "ListTables", b"null")
    assert status == 200 and isinstance(body["TableNames"], list)


def test_bad_base64_comes_before_every_other_check(server: ServerProcess, btable: str) -> None:
    """DynamoDB deserializes first: a bad binary value is reported even when the request has other faults."""
    message = f"'YQ' {_BLOB}Base64 encoded length is expected a multiple of 4 bytes but found: 2"
    error = (400, {"__type": _SERIALIZATION, "message": message})
    missing = "no_such_table_here"
    assert _call(server, "PutItem", {"TableName": missing, "Item": {"p": {"B": "YQ"}}}) == error
    assert _call(server, "GetItem", {"TableName": "x", "Key": {"p": {"B": "YQ"}}}) == error  # a too-short name too
    assert _call(server, "Query", {"TableName": missing, "KeyConditionExpression": "p = :p",
                                   "ExpressionAttributeValues": {":p": {"B": "YQ"}}}) == error
    assert _call(server, "UpdateItem", {"TableName": btable, "Key": {"p": {"B": "YQ=="}}, "UpdateExpression": "SET",
                                        "ExpressionAttributeValues": {":v": {"L": [{"BS": ["YQ"]}]}}}) == error
    assert _call(server, "Scan", {"TableName": btable, "ScanFilter": {
        "v": {"ComparisonOperator": "EQ", "AttributeValueList": [{"B": "YQ"}]}}}) == error
    assert _call(server, "BatchWriteItem", {"RequestItems": {missing: [{"DeleteRequest": {"Key": {"p": {"B": "YQ"}}}}]}}) \
        == error
    assert _call(server, "TransactWriteItems", {"TransactItems": [{"ConditionCheck": {
        "TableName": missing, "Key": {"p": {"B": "YQ=="}}, "ConditionExpression": "v = :v",
        "ExpressionAttributeValues": {":v": {"M": {"x": {"B": "YQ"}}}}}}]}) == error
    # an attribute named B is an attribute, not a binary value
    assert _call(server, "PutItem", {"TableName": btable, "Item": {"p": {"B": "YQ=="}, "B": {"S": "not base64"},
                                                                   "BS": {"N": "1"}}}) == (200, {})
