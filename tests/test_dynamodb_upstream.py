"""The dynamodb backend end to end: boto3 → accelerator (a real process, cache on) → moto server.

Every answer is compared with what moto itself gives for the same request, since the accelerator must be
transparent; moto's own request log tells which operations reached the upstream.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from accelerator.core.errors import (
    ConditionalCheckFailedException,
    DynamoError,
    InternalServerError,
    TransactionCanceledException,
)
from backends.dynamodb import RecentWrites, UpstreamError, upstream_error
from tests.conftest import boto_client
from tests.moto_upstream import KEYS, MotoServer
from tests.server_process import ROOT, ServerProcess, free_port

WINDOW = 1.0  # consistent_window of the accelerators under test
AWS = "com.amazonaws.dynamodb.v20120810#"


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoServer]:
    server = MotoServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def accel(moto: MotoServer) -> Iterator[ServerProcess]:
    proc = ServerProcess(moto.backend(consistent_window=WINDOW), cache={"enabled": True}).start()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def ddb(accel: ServerProcess) -> Any:
    return boto_client(accel.url)


@pytest.fixture(scope="module")
def direct(moto: MotoServer) -> Any:
    return moto.client()


@pytest.fixture
def make_table(ddb: Any) -> Callable[..., str]:
    def make(hash_key: tuple[str, str] = ("pk", "S"), range_key: tuple[str, str] | None = None) -> str:
        name = f"up_{uuid.uuid4().hex[:10]}"
        schema = [{"AttributeName": hash_key[0], "KeyType": "HASH"}]
        attrs = [{"AttributeName": hash_key[0], "AttributeType": hash_key[1]}]
        if range_key is not None:
            schema.append({"AttributeName": range_key[0], "KeyType": "RANGE"})
            attrs.append({"AttributeName": range_key[0], "AttributeType": range_key[1]})
        ddb.create_table(TableName=name, KeySchema=schema, AttributeDefinitions=attrs,
                         BillingMode="PAY_PER_REQUEST")
        return name
    return make


def _clean(response: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in response.items() if k != "ResponseMetadata"}


def raw_post(url: str, operation: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """One DynamoDB JSON request without an SDK: (HTTP status, body as sent back)."""
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST", headers={
        "X-Amz-Target": f"DynamoDB_20120810.{operation}", "Content-Type": "application/x-amz-json-1.0",
        # moto routes by the service in the credential scope; neither it nor the accelerator checks signatures
        "Authorization": "AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/dynamodb/aws4_request, "
                         "SignedHeaders=host, Signature=0"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


# -- units: errors and the window, no processes --------------------------------------------------------
def test_upstream_error_keeps_the_body_and_the_project_class() -> None:
    raw = (b'{"__type":"com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException",'
           b'"message":"The conditional request failed","Item":{"pk":{"S":"a"}},"Extra":1}')
    exc = upstream_error(raw, 400)
    assert isinstance(exc, UpstreamError) and isinstance(exc, ConditionalCheckFailedException)
    assert exc.to_wire() == json.loads(raw)  # every member, the unknown one too
    assert (exc.type_name, exc.prefix, exc.status, exc.item) == (
        "ConditionalCheckFailedException", "com.amazonaws.dynamodb.v20120810#", 400, {"pk": {"S": "a"}})
    reasons = [{"Code": "ConditionalCheckFailed", "Message": "The conditional request failed"},
               {"Code": "None"}]
    body = {"__type": AWS + "TransactionCanceledException", "Message": "Transaction cancelled",
            "CancellationReasons": reasons}
    cancelled = upstream_error(json.dumps(body).encode(), 400)
    assert isinstance(cancelled, TransactionCanceledException)
    assert cancelled.message == "Transaction cancelled" and cancelled.reasons == reasons
    throttling = "com.amazon.coral.availability#ThrottlingException"
    throttled = upstream_error(json.dumps({"__type": throttling, "message": "slow"}).encode(), 400)
    assert throttled.to_wire()["__type"] == throttling
    assert throttled.retryable  # the project's ThrottlingException says so
    odd = upstream_error(json.dumps({"__type": AWS + "BrandNewException", "message": "m"}).encode(), 400)
    assert type(odd) is UpstreamError and odd.type_name == "BrandNewException" and not odd.retryable


def test_upstream_error_that_is_not_dynamodb_json() -> None:
    exc = upstream_error(b"<html>502 Bad Gateway</html>", 502)
    assert isinstance(exc, InternalServerError) and exc.status == 502 and exc.retryable
    assert exc.to_wire()["message"] == "upstream answered HTTP 502: <html>502 Bad Gateway</html>"
    assert upstream_error(b"", 413).to_wire() == {"__type": "com.amazon.coral.service#UnknownError",
                                                  "message": "upstream answered HTTP 413"}
    assert isinstance(upstream_error(b"", 413), DynamoError)


def test_recent_writes_expire_lazily() -> None:
    now = [100.0]
    recent = RecentWrites(2.0, clock=lambda: now[0], limit=3)
    recent.mark(["a", ("t", "k")])
    assert "a" in recent and ("t", "k") in recent and "b" not in recent
    now[0] = 101.5
    recent.mark(["b"])
    now[0] = 102.0
    assert "a" not in recent and "b" in recent  # a's two seconds are over
    recent.mark(["c", "d", "e"])  # over the limit: the oldest go first
    assert "b" not in recent and all(k in recent for k in "cde")


# -- data plane, compared with moto ------------------------------------------------------------------
def test_crud(ddb: Any, direct: Any, make_table: Callable[..., str]) -> None:
    table = make_table()
    key = {"pk": {"S": "a"}}
    ddb.put_item(TableName=table, Item={**key, "n": {"N": "1"}, "s": {"S": "x"}})
    assert ddb.get_item(TableName=table, Key=key)["Item"] == direct.get_item(TableName=table, Key=key)["Item"]
    out = ddb.update_item(TableName=table, Key=key, UpdateExpression="SET n = n + :one REMOVE s",
                          ExpressionAttributeValues={":one": {"N": "1"}}, ReturnValues="UPDATED_NEW")
    assert out["Attributes"] == {"n": {"N": "2"}}
    assert ddb.get_item(TableName=table, Key=key)["Item"] == {**key, "n": {"N": "2"}}
    assert direct.get_item(TableName=table, Key=key)["Item"] == {**key, "n": {"N": "2"}}
    old = ddb.delete_item(TableName=table, Key=key, ReturnValues="ALL_OLD")["Attributes"]
    assert old == {**key, "n": {"N": "2"}}
    assert "Item" not in ddb.get_item(TableName=table, Key=key)
    assert "Item" not in direct.get_item(TableName=table, Key=key)


def test_binary_round_trip(ddb: Any, direct: Any, moto: MotoServer, make_table: Callable[..., str]) -> None:
    table = make_table(hash_key=("id", "B"), range_key=("sk", "B"))
    blobs = [bytes(range(256)), b"", b"\x00", b"\xff\xfe", os.urandom(1000)]
    item = {"id": {"B": b"\x00\x01\xff"}, "sk": {"B": b"\xfe"}, "b": {"B": blobs[0]},
            "empty": {"B": blobs[1]},
            "bs": {"BS": blobs[2:]}, "m": {"M": {"deep": {"L": [{"B": blobs[4]}]}}}}
    key = {"id": item["id"], "sk": item["sk"]}
    ddb.put_item(TableName=table, Item=item)
    assert ddb.get_item(TableName=table, Key=key)["Item"] == item
    assert ddb.get_item(TableName=table, Key=key, ConsistentRead=True)["Item"] == item
    assert direct.get_item(TableName=table, Key=key)["Item"] == item
    # on the wire: the base64 text boto3 sent is the text moto received, character for character
    sent = moto.bodies("PutItem")[-1]["Item"]
    assert sent["b"] == {"B": base64.b64encode(blobs[0]).decode()}
    assert sent["bs"] == {"BS": [base64.b64encode(b).decode() for b in blobs[2:]]}
    wire_key = {"id": sent["id"], "sk": sent["sk"]}
    assert raw_post(moto.url, "GetItem", {"TableName": table, "Key": wire_key})[1]["Item"] == sent


def test_query_and_scan(ddb: Any, direct: Any, make_table: Callable[..., str]) -> None:
    table = make_table(range_key=("sk", "N"))
    for p in ("a", "b"):
        for i in range(12):
            ddb.put_item(TableName=table,
                         Item={"pk": {"S": p}, "sk": {"N": str(i)}, "odd": {"BOOL": i % 2 == 1}})
    requests: list[dict[str, Any]] = [
        {"KeyConditionExpression": "pk = :p AND sk BETWEEN :lo AND :hi",
         "ExpressionAttributeValues": {":p": {"S": "a"}, ":lo": {"N": "3"}, ":hi": {"N": "9"}}},
        {"KeyConditionExpression": "pk = :p", "FilterExpression": "odd = :t", "ScanIndexForward": False,
         "ExpressionAttributeValues": {":p": {"S": "b"}, ":t": {"BOOL": True}}},
        {"KeyConditionExpression": "pk = :p", "Limit": 5, "ProjectionExpression": "sk",
         "ExpressionAttributeValues": {":p": {"S": "a"}}},
        {"KeyConditionExpression": "pk = :p", "Select": "COUNT",
         "ExpressionAttributeValues": {":p": {"S": "a"}}},
    ]
    for request in requests:
        for _ in range(2):  # a miss, then (query cache) a hit
            mine = ddb.query(TableName=table, **request)
            assert _clean(mine) == _clean(direct.query(TableName=table, **request))
    page = ddb.query(TableName=table, **requests[2])
    follow = {**requests[2], "ExclusiveStartKey": page["LastEvaluatedKey"]}
    assert _clean(ddb.query(TableName=table, **follow)) == _clean(direct.query(TableName=table, **follow))
    mine = [i for p in ddb.get_paginator("scan").paginate(TableName=table, PaginationConfig={"PageSize": 7})
            for i in p["Items"]]
    theirs = direct.scan(TableName=table)["Items"]
    assert sorted(map(json.dumps, mine)) == sorted(map(json.dumps, theirs)) and len(mine) == 24


def test_batches(ddb: Any, direct: Any, make_table: Callable[..., str]) -> None:
    a, b = make_table(), make_table(range_key=("sk", "N"))
    ddb.batch_write_item(RequestItems={
        a: [{"PutRequest": {"Item": {"pk": {"S": f"k{i}"}, "v": {"N": str(i)}}}} for i in range(25)],
    })
    ddb.batch_write_item(RequestItems={
        b: [{"PutRequest": {"Item": {"pk": {"S": "p"}, "sk": {"N": str(i)}}}} for i in range(5)],
        a: [{"DeleteRequest": {"Key": {"pk": {"S": f"k{i}"}}}} for i in range(5)],
    })
    request = {a: {"Keys": [{"pk": {"S": f"k{i}"}} for i in range(30)]},
               b: {"Keys": [{"pk": {"S": "p"}, "sk": {"N": str(i)}} for i in range(6)],
                   "ConsistentRead": True}}
    for _ in range(2):
        mine, theirs = ddb.batch_get_item(RequestItems=request), direct.batch_get_item(RequestItems=request)
        for name in (a, b):
            assert sorted(map(json.dumps, mine["Responses"][name])) == sorted(
                map(json.dumps, theirs["Responses"][name]))
        assert mine["UnprocessedKeys"] == {}
    assert len(mine["Responses"][a]) == 20 and len(mine["Responses"][b]) == 5


def test_transactions(ddb: Any, direct: Any, make_table: Callable[..., str]) -> None:
    table = make_table()
    ddb.put_item(TableName=table, Item={"pk": {"S": "acct"}, "balance": {"N": "10"}})
    ddb.get_item(TableName=table, Key={"pk": {"S": "acct"}})  # cached
    ddb.transact_write_items(TransactItems=[
        {"Update": {"TableName": table, "Key": {"pk": {"S": "acct"}},
                    "UpdateExpression": "SET balance = balance - :x",
                    "ConditionExpression": "balance >= :x", "ExpressionAttributeValues": {":x": {"N": "4"}}}},
        {"Put": {"TableName": table, "Item": {"pk": {"S": "log1"}, "amount": {"N": "4"}}}},
    ])
    # the cache never answers with the old balance: the update's key was invalidated and refilled from moto
    assert ddb.get_item(TableName=table, Key={"pk": {"S": "acct"}})["Item"]["balance"] == {"N": "6"}
    gets = [{"Get": {"TableName": table, "Key": {"pk": {"S": k}}}} for k in ("acct", "log1", "none")]
    got = ddb.transact_get_items(TransactItems=gets)["Responses"]
    assert got == direct.transact_get_items(TransactItems=gets)["Responses"]
    request = {"TransactItems": [
        {"Put": {"TableName": table, "Item": {"pk": {"S": "log2"}}}},
        {"Update": {"TableName": table, "Key": {"pk": {"S": "acct"}}, "UpdateExpression": "SET balance = :z",
                    "ConditionExpression": "balance > :big", "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                    "ExpressionAttributeValues": {":z": {"N": "0"}, ":big": {"N": "100"}}}}]}
    with pytest.raises(ddb.exceptions.TransactionCanceledException) as mine:
        ddb.transact_write_items(**request)
    with pytest.raises(direct.exceptions.TransactionCanceledException) as theirs:
        direct.transact_write_items(**request)
    assert _clean(mine.value.response) == _clean(theirs.value.response)
    assert mine.value.response["CancellationReasons"][1]["Item"]["balance"] == {"N": "6"}
    assert ddb.get_item(TableName=table, Key={"pk": {"S": "acct"}})["Item"]["balance"] == {"N": "6"}
    assert "Item" not in direct.get_item(TableName=table, Key={"pk": {"S": "log2"}})


# -- errors come back unchanged ----------------------------------------------------------------------
def _error_cases(table: str) -> list[tuple[str, dict[str, Any]]]:
    key = {"pk": {"S": "e"}}
    return [
        ("GetItem", {"TableName": "no_such_table_here", "Key": key}),
        ("PutItem", {"TableName": table, "Item": {"pk": {"S": "e"}},
                     "ConditionExpression": "attribute_not_exists(pk)",
                     "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}),
        ("PutItem", {"TableName": table, "Item": {"pk": {"N": "1"}}}),
        ("GetItem", {"TableName": table, "Key": {"nope": {"S": "x"}}}),
        ("UpdateItem", {"TableName": table, "Key": key, "UpdateExpression": "SET a = :missing"}),
        ("UpdateItem", {"TableName": table, "Key": key, "UpdateExpression": "SET = broken"}),
        ("Query", {"TableName": table, "KeyConditionExpression": "other = :v",
                   "ExpressionAttributeValues": {":v": {"S": "x"}}}),
        ("CreateTable", {"TableName": table, "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                         "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
                         "BillingMode": "PAY_PER_REQUEST"}),
        ("TransactWriteItems", {"TransactItems": [{"ConditionCheck": {
            "TableName": table, "Key": key, "ConditionExpression": "attribute_not_exists(pk)"}}]}),
        ("DeleteTable", {"TableName": "no_such_table_here"}),
    ]


def test_errors_pass_through_unchanged(accel: ServerProcess, moto: MotoServer, ddb: Any,
                                       make_table: Callable[..., str]) -> None:
    table = make_table()
    ddb.put_item(TableName=table, Item={"pk": {"S": "e"}, "v": {"B": b"\x00\xff"}})
    seen = set()
    for operation, body in _error_cases(table):
        theirs = raw_post(moto.url, operation, body)
        mine = raw_post(accel.url, operation, body)
        assert theirs[0] >= 400, (operation, theirs)
        assert mine == theirs, (operation, body)  # status, __type with its prefix, message, Item, reasons
        seen.add(theirs[1]["__type"].rpartition("#")[2])
    assert {"ResourceNotFoundException", "ConditionalCheckFailedException", "ValidationException",
            "ResourceInUseException", "TransactionCanceledException"} <= seen


def test_errors_through_boto3(ddb: Any, direct: Any, make_table: Callable[..., str]) -> None:
    table = make_table()
    ddb.put_item(TableName=table, Item={"pk": {"S": "e"}})
    for client in (ddb, direct):
        with pytest.raises(client.exceptions.ConditionalCheckFailedException) as exc:
            client.put_item(TableName=table, Item={"pk": {"S": "e"}},
                            ConditionExpression="attribute_not_exists(pk)",
                            ReturnValuesOnConditionCheckFailure="ALL_OLD")
        assert exc.value.response["Item"] == {"pk": {"S": "e"}}
        assert exc.value.response["Error"]["Message"] == "The conditional request failed"


# -- the cache over the upstream ---------------------------------------------------------------------
def test_hit_is_answered_without_upstream_call(ddb: Any, moto: MotoServer,
                                               make_table: Callable[..., str]) -> None:
    table = make_table()
    ddb.put_item(TableName=table, Item={"pk": {"S": "h"}, "v": {"S": "1"}})
    gets = moto.count("GetItem")
    for _ in range(20):
        response = ddb.get_item(TableName=table, Key={"pk": {"S": "h"}})
        assert response["Item"]["v"] == {"S": "1"}
    assert response["ResponseMetadata"]["HTTPHeaders"]["x-accelerator-cache"] == "hit"
    assert moto.count("GetItem") == gets  # write-through filled the cache; no read reached moto
    ddb.get_item(TableName=table, Key={"pk": {"S": "h"}}, ConsistentRead=True)
    assert moto.count("GetItem") == gets + 1  # ConsistentRead bypasses the cache


def test_write_reaches_upstream_before_ack(ddb: Any, direct: Any, make_table: Callable[..., str]) -> None:
    table = make_table()
    for i in range(20):
        ddb.put_item(TableName=table, Item={"pk": {"S": f"w{i}"}, "v": {"N": str(i)}})
        assert direct.get_item(TableName=table, Key={"pk": {"S": f"w{i}"}})["Item"]["v"] == {"N": str(i)}
        ddb.update_item(TableName=table, Key={"pk": {"S": f"w{i}"}}, UpdateExpression="SET v = v + :one",
                        ExpressionAttributeValues={":one": {"N": "1"}})
        assert direct.get_item(TableName=table, Key={"pk": {"S": f"w{i}"}})["Item"]["v"] == {"N": str(i + 1)}
    ddb.batch_write_item(RequestItems={
        table: [{"DeleteRequest": {"Key": {"pk": {"S": f"w{i}"}}}} for i in range(20)]})
    assert direct.scan(TableName=table)["Count"] == 0


def test_reads_after_a_write_go_consistent(ddb: Any, moto: MotoServer,
                                           make_table: Callable[..., str]) -> None:
    """A key the cache had to drop is refilled by a strongly consistent read while the window lasts."""
    table = make_table()
    ddb.put_item(TableName=table, Item={"pk": {"S": "c"}, "n": {"N": "1"}})
    ddb.transact_write_items(TransactItems=[{"Update": {  # boto3 adds a token: the cache invalidates the key
        "TableName": table, "Key": {"pk": {"S": "c"}}, "UpdateExpression": "SET n = :two",
        "ExpressionAttributeValues": {":two": {"N": "2"}}}}])
    assert ddb.get_item(TableName=table, Key={"pk": {"S": "c"}})["Item"]["n"] == {"N": "2"}
    sent = moto.bodies("GetItem")[-1]
    assert sent == {"TableName": table, "Key": {"pk": {"S": "c"}}, "ConsistentRead": True}
    ddb.query(TableName=table, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "c"}})
    assert moto.bodies("Query")[-1]["ConsistentRead"] is True
    ddb.transact_write_items(TransactItems=[{"Update": {
        "TableName": table, "Key": {"pk": {"S": "c"}}, "UpdateExpression": "SET n = :three",
        "ExpressionAttributeValues": {":three": {"N": "3"}}}}])
    got = ddb.batch_get_item(RequestItems={table: {"Keys": [{"pk": {"S": "c"}}, {"pk": {"S": "other"}}]}})
    assert got["Responses"][table] == [{"pk": {"S": "c"}, "n": {"N": "3"}}]
    assert moto.bodies("BatchGetItem")[-1]["RequestItems"][table]["ConsistentRead"] is True
    deadline = time.monotonic() + 30 * WINDOW  # wait for the window to end (its length is the server's clock)
    for limit in itertools.count(100):  # a new Limit each time: a scan the cache cannot answer reaches moto
        ddb.scan(TableName=table, Limit=limit)
        if "ConsistentRead" not in moto.bodies("Scan")[-1]:  # the window is over: sent as the client sent it
            break
        assert time.monotonic() < deadline, "the consistent-read window never ended"
        time.sleep(0.05)


# -- an upstream that goes away ----------------------------------------------------------------------
def _serve_cli(upstream_url: str, workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    """`accelerator serve --backend dynamodb --upstream-url URL`, credentials from the environment."""
    port = free_port()
    config = workdir / "upstream.toml"
    config.write_text("[backend]\nmax_attempts = 1\nconnect_timeout = 1.0\nread_timeout = 5.0\n")
    env = {**os.environ, "AWS_ACCESS_KEY_ID": KEYS["aws_access_key_id"],
           "AWS_SECRET_ACCESS_KEY": KEYS["aws_secret_access_key"], "AWS_DEFAULT_REGION": "us-east-1",
           "PYTHONUNBUFFERED": "1"}
    log = open(workdir / "server.log", "ab")  # noqa: SIM115 - the process owns it
    proc = subprocess.Popen(
        [sys.executable, "-m", "accelerator.cli", "serve", "--config", str(config), "--backend", "dynamodb",
         "--upstream-url", upstream_url, "--port", str(port), "--log-level", "warning"],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/health", timeout=1):
                return proc, url
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError((workdir / "server.log").read_text())


def test_unreachable_upstream_is_retryable_and_hits_keep_coming(tmp_path: Path) -> None:
    moto = MotoServer(record=False).start()
    proc, url = _serve_cli(moto.url, tmp_path)
    try:
        ddb = boto_client(url)
        ddb.create_table(TableName="gone_upstream", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                         BillingMode="PAY_PER_REQUEST")
        ddb.put_item(TableName="gone_upstream", Item={"pk": {"S": "hot"}, "v": {"S": "cached"}})
        ddb.get_item(TableName="gone_upstream", Key={"pk": {"S": "hot"}})
        moto.stop()
        for _ in range(5):
            hit = ddb.get_item(TableName="gone_upstream", Key={"pk": {"S": "hot"}})
            assert hit["Item"]["v"] == {"S": "cached"}
            assert hit["ResponseMetadata"]["HTTPHeaders"]["x-accelerator-cache"] == "hit"
        for call in (lambda: ddb.get_item(TableName="gone_upstream", Key={"pk": {"S": "cold"}}),
                     lambda: ddb.put_item(TableName="gone_upstream", Item={"pk": {"S": "new"}}),
                     lambda: ddb.list_tables()):
            with pytest.raises(ddb.exceptions.ClientError) as exc:
                call()
            assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
            assert exc.value.response["Error"]["Code"] == "ServiceUnavailable"
        # a write whose outcome is unknown drops the key: no hit with a value the upstream may have replaced
        with pytest.raises(ddb.exceptions.ClientError) as exc:
            ddb.put_item(TableName="gone_upstream", Item={"pk": {"S": "hot"}, "v": {"S": "replaced?"}})
        assert exc.value.response["Error"]["Code"] == "ServiceUnavailable"
        with pytest.raises(ddb.exceptions.ClientError) as exc:
            ddb.get_item(TableName="gone_upstream", Key={"pk": {"S": "hot"}})
        assert exc.value.response["Error"]["Code"] == "ServiceUnavailable"
    finally:
        proc.terminate()
        proc.wait(10)
        moto.stop()


def test_closed_port_upstream(tmp_path: Path) -> None:
    proc, url = _serve_cli(f"http://127.0.0.1:{free_port()}", tmp_path)
    try:
        started = time.monotonic()
        with pytest.raises(boto_client(url).exceptions.ClientError) as exc:
            boto_client(url).list_tables()
        assert exc.value.response["Error"]["Code"] == "ServiceUnavailable"
        assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
        assert time.monotonic() - started < 5
    finally:
        proc.terminate()
        proc.wait(10)
