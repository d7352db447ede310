"""DynamoDB conformance, second pass: UpdateTable index changes, index key limits, content codings.

Each case pins a behaviour real DynamoDB shows (the error type, the words a client matches on, the
statuses DescribeTable reports, how a compressed body is treated) that this accelerator once got wrong.
The boto3 cases run against a real server per backend; the HTTP cases send raw requests.
"""

from __future__ import annotations

import binascii
import gzip
import http.client
import json
import time
import urllib.parse
import zlib
from collections.abc import Iterator
from typing import Any

import pytest

from accelerator.codings import pick_coding
from tests.conftest import unique_name
from tests.server_process import ServerProcess

_HASH = [{"AttributeName": "p", "KeyType": "HASH"}]
_HASH_S = [{"AttributeName": "p", "AttributeType": "S"}]


def _error(exc: pytest.ExceptionInfo[Any]) -> tuple[str, str]:
    err = exc.value.response["Error"]
    return err["Code"], err["Message"]


def _create_gsi(name: str, key: str, kind: str = "S", defs: bool = True) -> dict[str, Any]:
    update: dict[str, Any] = {"GlobalSecondaryIndexUpdates": [{"Create": {
        "IndexName": name, "KeySchema": [{"AttributeName": key, "KeyType": "HASH"}],
        "Projection": {"ProjectionType": "ALL"}}}]}
    if defs:
        update["AttributeDefinitions"] = [{"AttributeName": key, "AttributeType": kind}]
    return update


def _wait_index(ddb: Any, table: str, index: str, gone: bool = False, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [i for i in ddb.describe_table(TableName=table)["Table"].get("GlobalSecondaryIndexes", [])
                 if i["IndexName"] == index]
        if (gone and not found) or (not gone and found and found[0]["IndexStatus"] == "ACTIVE"):
            return
        time.sleep(0.1)
    raise AssertionError(f"index {index} did not become {'gone' if gone else 'ACTIVE'}")


@pytest.fixture
def plain(ddb: Any) -> Iterator[str]:
    """A table with only a string hash key ``p``."""
    name = unique_name("cm")
    ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST", KeySchema=_HASH, AttributeDefinitions=_HASH_S)
    yield name
    ddb.delete_table(TableName=name)


# -- UpdateTable GlobalSecondaryIndexUpdates -----------------------------------------------------------


def test_gsi_create_needs_attribute_definitions_even_for_a_known_attribute(ddb: Any, plain: str) -> None:
    # "p" is the table's own key, so its type is known; DynamoDB still wants it restated
    with pytest.raises(ddb.exceptions.ClientError) as exc:
        ddb.update_table(TableName=plain, **_create_gsi("by_p", "p", defs=False))
    code, message = _error(exc)
    assert code == "ValidationException" and "AttributeDefinitions" in message


def test_gsi_create_with_another_type_for_a_defined_attribute(ddb: Any, plain: str) -> None:
    ddb.update_table(TableName=plain, **_create_gsi("by_x", "x"))
    with pytest.raises(ddb.exceptions.ClientError) as exc:
        ddb.update_table(TableName=plain, **_create_gsi("by_x_num", "x", "N"))
    code, message = _error(exc)
    assert code == "ValidationException" and "redefined" in message


def test_gsi_updates_one_create_or_delete_per_call(ddb: Any, plain: str) -> None:
    two = _create_gsi("one_x", "x")
    two["GlobalSecondaryIndexUpdates"] += _create_gsi("two_x", "x")["GlobalSecondaryIndexUpdates"]
    with pytest.raises(ddb.exceptions.LimitExceededException):
        ddb.update_table(TableName=plain, **two)
    with pytest.raises(ddb.exceptions.LimitExceededException):
        ddb.update_table(TableName=plain, GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": "one_x"}},
                                                                         {"Delete": {"IndexName": "two_x"}}])


def test_gsi_create_and_delete_statuses(ddb: Any, plain: str) -> None:
    ddb.put_item(TableName=plain, Item={"p": {"S": "a"}, "x": {"S": "1"}})
    desc = ddb.update_table(TableName=plain, **_create_gsi("by_x", "x"))["TableDescription"]
    # the table is UPDATING while the new index is CREATING (boto3's table_exists waiter waits it out)
    assert desc["TableStatus"] == "UPDATING"
    assert desc["GlobalSecondaryIndexes"][0]["IndexStatus"] == "CREATING"
    _wait_index(ddb, plain, "by_x")
    table = ddb.describe_table(TableName=plain)["Table"]
    assert table["TableStatus"] == "ACTIVE"
    desc = ddb.update_table(TableName=plain,
                            GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": "by_x"}}])["TableDescription"]
    assert desc["TableStatus"] == "UPDATING"
    assert [(i["IndexName"], i["IndexStatus"]) for i in desc["GlobalSecondaryIndexes"]] == [("by_x", "DELETING")]
    _wait_index(ddb, plain, "by_x", gone=True)
    table = ddb.describe_table(TableName=plain)["Table"]
    assert table["TableStatus"] == "ACTIVE"
    # "x" keyed nothing any more, so it left AttributeDefinitions
    assert table["AttributeDefinitions"] == _HASH_S
    ddb.put_item(TableName=plain, Item={"p": {"S": "b"}, "x": {"N": "7"}})


def test_index_key_length_limits(ddb: Any, plain: str) -> None:
    ddb.put_item(TableName=plain, Item={"p": {"S": "long"}, "x": {"S": "a" * 2049}})
    ddb.put_item(TableName=plain, Item={"p": {"S": "max"}, "x": {"S": "a" * 2048}})
    ddb.update_table(TableName=plain, **_create_gsi("by_x", "x"))
    _wait_index(ddb, plain, "by_x")
    # the backfill leaves out an item whose key is too long for an index partition key
    assert [i["p"]["S"] for i in ddb.scan(TableName=plain, IndexName="by_x")["Items"]] == ["max"]
    with pytest.raises(ddb.exceptions.ClientError) as exc:
        ddb.put_item(TableName=plain, Item={"p": {"S": "new"}, "x": {"S": "a" * 2049}})
    code, message = _error(exc)
    assert code == "ValidationException" and "2048" in message
    assert "Item" not in ddb.get_item(TableName=plain, Key={"p": {"S": "new"}}, ConsistentRead=True)


def test_index_sort_key_length_limit(ddb: Any) -> None:
    name = unique_name("cm")
    ddb.create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST", KeySchema=_HASH,
        AttributeDefinitions=[*_HASH_S, {"AttributeName": "x", "AttributeType": "S"},
                              {"AttributeName": "y", "AttributeType": "S"}],
        GlobalSecondaryIndexes=[{"IndexName": "by_xy", "Projection": {"ProjectionType": "ALL"},
                                 "KeySchema": [{"AttributeName": "x", "KeyType": "HASH"},
                                               {"AttributeName": "y", "KeyType": "RANGE"}]}])
    try:
        ddb.put_item(TableName=name, Item={"p": {"S": "a"}, "x": {"S": "x"}, "y": {"S": "b" * 1024}})
        with pytest.raises(ddb.exceptions.ClientError) as exc:
            ddb.put_item(TableName=name, Item={"p": {"S": "b"}, "x": {"S": "x"}, "y": {"S": "b" * 1025}})
        code, message = _error(exc)
        assert code == "ValidationException" and "1024" in message
    finally:
        ddb.delete_table(TableName=name)


def test_index_key_schema_errors(ddb: Any) -> None:
    defs = [{"AttributeName": n, "AttributeType": "S"} for n in ("p", "c", "a", "b")]
    with pytest.raises(ddb.exceptions.ClientError) as exc:
        ddb.create_table(TableName=unique_name("cm"), BillingMode="PAY_PER_REQUEST", KeySchema=_HASH,
                         AttributeDefinitions=defs[:1] + defs[2:],
                         GlobalSecondaryIndexes=[{"IndexName": "gsi", "Projection": {"ProjectionType": "ALL"},
                                                  "KeySchema": [{"AttributeName": "a", "KeyType": "RANGE"},
                                                                {"AttributeName": "b", "KeyType": "RANGE"}]}])
    code, message = _error(exc)
    assert code == "ValidationException" and "HASH" in message
    with pytest.raises(ddb.exceptions.ClientError) as exc:
        ddb.create_table(TableName=unique_name("cm"), BillingMode="PAY_PER_REQUEST",
                         KeySchema=[*_HASH, {"AttributeName": "c", "KeyType": "RANGE"}], AttributeDefinitions=defs,
                         LocalSecondaryIndexes=[{"IndexName": "lsi", "Projection": {"ProjectionType": "ALL"},
                                                 "KeySchema": [{"AttributeName": "p", "KeyType": "HASH"},
                                                               {"AttributeName": "c", "KeyType": "RANGE"},
                                                               {"AttributeName": "a", "KeyType": "RANGE"}]}])
    code, message = _error(exc)
    assert code == "ValidationException" and "2" in message


# -- compressed requests and responses, on the wire ----------------------------------------------------


def _post(url: str, op: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    try:
        conn.request("POST", "/", body=body, headers={"X-Amz-Target": "DynamoDB_20120810." + op,
                                                       "Content-Type": "application/x-amz-json-1.0", **headers})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def _put_body(table: str, p: str) -> bytes:
    return json.dumps({"TableName": table, "Item": {"p": {"S": p}, "v": {"S": "x"}}}).encode()


@pytest.mark.parametrize("coding,encode", [
    ("gzip", gzip.compress),
    ("GZIP", gzip.compress),
    ("gzip", lambda b: gzip.compress(b[:10]) + gzip.compress(b[10:])),  # concatenated gzip members
    ("deflate", zlib.compress),
    ("identity", lambda b: b),
])
def test_compressed_request_accepted(server: ServerProcess, ddb: Any, plain: str, coding: str, encode: Any) -> None:
    status, _, body = _post(server.url, "PutItem", encode(_put_body(plain, "ok")), {"Content-Encoding": coding})
    assert (status, body) == (200, b"{}")
    assert ddb.get_item(TableName=plain, Key={"p": {"S": "ok"}}, ConsistentRead=True)["Item"]["v"] == {"S": "x"}


@pytest.mark.parametrize("coding,encode", [
    ("garbage", lambda b: b),
    ("gzip", lambda b: b),  # not gzip at all
    ("gzip", lambda b: gzip.compress(b)[:-1]),  # truncated
    ("gzip", lambda b: b""),
    ("deflate", lambda b: b),
    ("deflate", lambda b: b""),
    ("deflate", lambda b: zlib.compress(b[:10]) + zlib.compress(b[10:])),  # deflate has one stream only
])
def test_undecodable_request_is_internal_error(server: ServerProcess, ddb: Any, plain: str, coding: str,
                                               encode: Any) -> None:
    status, _, body = _post(server.url, "PutItem", encode(_put_body(plain, "bad")), {"Content-Encoding": coding})
    assert status == 500
    assert json.loads(body)["__type"].endswith("#InternalServerError")
    assert "Item" not in ddb.get_item(TableName=plain, Key={"p": {"S": "bad"}}, ConsistentRead=True)


def test_compressed_request_limited_after_decoding(server: ServerProcess, plain: str) -> None:
    raw = _put_body(plain, "bomb")
    bomb = gzip.compress(raw[:-1] + b" " * (20 * 1024 * 1024) + raw[-1:])
    assert len(bomb) < 100_000
    status, _, _ = _post(server.url, "PutItem", bomb, {"Content-Encoding": "gzip"})
    assert status == 413


@pytest.mark.parametrize("accept,expected", [("gzip", "gzip"), ("deflate", "deflate"), ("identity", None),
                                             ("br, identity, deflate, gzip", "deflate"), ("*, gzip;q=0.5", "deflate")])
def test_large_response_compressed_on_request(server: ServerProcess, ddb: Any, plain: str, accept: str,
                                              expected: str | None) -> None:
    ddb.put_item(TableName=plain, Item={"p": {"S": "big"}, "a": {"S": "x" * 3000}, "b": {"S": "x" * 3000}})
    get = json.dumps({"TableName": plain, "Key": {"p": {"S": "big"}}}).encode()
    status, headers, body = _post(server.url, "GetItem", get, {"Accept-Encoding": accept})
    assert status == 200
    assert headers.get("content-encoding") == expected
    assert binascii.crc32(body) == int(headers["x-amz-crc32"])  # the CRC of the bytes sent
    plain_body = {"gzip": gzip.decompress, "deflate": zlib.decompress}.get(expected or "", bytes)(body)
    assert json.loads(plain_body)["Item"]["a"] == {"S": "x" * 3000}
    # below 4 KB a response is never compressed
    small = json.dumps({"TableName": plain, "Key": {"p": {"S": "big"}}, "ProjectionExpression": "p"}).encode()
    _, headers, _ = _post(server.url, "GetItem", small, {"Accept-Encoding": accept})
    assert "content-encoding" not in headers


@pytest.mark.parametrize("accept,expected", [
    ("", None), ("identity", None), ("br", None), ("x-gzip", None), ("gzip, deflate", b"gzip"),
    ("GZIP, identity", b"gzip"), ("dog, gzip ,, cat", b"gzip"), ("gzip;q=0.8, deflate;q=0.5", b"gzip"),
    ("br, gzip;q=0, deflate; q = 0.5 , identity;q=0", b"deflate"), ("*", b"gzip"), ("*, deflate", b"deflate"),
    ("*, deflate;q=0.5", b"gzip"), ("*, identity", b"gzip"), ("gzip ;q=0", None), ("*;q=0", None),
    ("*;q=0.5,identity", b"gzip"), ("br;q=0.8,identity;q=0.5,*;q=0", None), ('"gzip"', None), ("gzip br", None),
    ("gzip:q=1", None), ("deflate;q=0.5, gzip;q=31", b"gzip"), ("gzip;q=31,deflate;q=51", b"gzip"),
    ("deflate;q=0.5, gzip;q=1;q=0.2", b"gzip"), ("deflate;q=0.5,gzip;q=0.", b"deflate"),
    ("deflate;q=0.5,gzip;q=0.x", b"gzip"), ("deflate;q=-0.5,gzip;q=0.2", b"gzip"), ("gzip;q= 0;q=1", None),
    ("gzip;q =0;q=1", b"gzip"), ("gzip;nq=0;q=1", None), ("gzip;q=0, gzip;q=1, gzip;q=0", b"gzip"),
    ("br,identity;q=0.5,gzip;q=0.0001", b"gzip"),
])
def test_accept_encoding_choice(accept: str, expected: bytes | None) -> None:
    assert pick_coding(accept.encode()) == expected


# -- Scan segments ---------------------------------------------------------------------------------------


def test_parallel_scan_start_key_must_lie_in_the_segment(ddb: Any, plain: str) -> None:
    ddb.batch_write_item(RequestItems={plain: [{"PutRequest": {"Item": {"p": {"S": f"k{i}"}}}} for i in range(20)]})
    seen = []
    for segment in range(3):  # paging inside a segment hands back keys of that segment
        start = None
        while True:
            page = ddb.scan(TableName=plain, Segment=segment, TotalSegments=3, Limit=2,
                            **({"ExclusiveStartKey": start} if start else {}))
            seen += [i["p"]["S"] for i in page["Items"]]
            start = page.get("LastEvaluatedKey")
            if not start:
                break
    assert sorted(seen) == sorted(f"k{i}" for i in range(20))
    outside = [s for s in range(3) if not ddb.scan(TableName=plain, Segment=s, TotalSegments=3,
                                                   ScanFilter={"p": {"AttributeValueList": [{"S": "k0"}],
                                                                     "ComparisonOperator": "EQ"}})["Items"]]
    with pytest.raises(ddb.exceptions.ClientError) as exc:
        ddb.scan(TableName=plain, Segment=outside[0], TotalSegments=3, ExclusiveStartKey={"p": {"S": "k0"}})
    code, message = _error(exc)
    assert code == "ValidationException" and "Exclusive" in message
