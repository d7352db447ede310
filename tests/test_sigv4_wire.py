"""SigV4 on the wire, tried as an attacker would: a real server process with auth = "sigv4", requests signed by
botocore (and the AWS CLI), sent over one keep-alive socket. Every bad form answers DynamoDB's error and the
connection stays usable; admin routes and /metrics need a signature; a flush is POST only."""

from __future__ import annotations

import fcntl
import gzip
import hashlib
import json
import os
import re
import socket
import struct
import subprocess
import sys
import termios
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from tests.server_process import ServerProcess, free_port
from tests.sigv4_wire import KEY, SECRET, Wire, dynamo_headers, signed, skewed

TABLE = "sigv4_wire"
GET_A = json.dumps({"TableName": TABLE, "Key": {"pk": {"S": "a"}}}).encode()
GET_B = json.dumps({"TableName": TABLE, "Key": {"pk": {"S": "b"}}}).encode()


METRICS_PORT = free_port()


@pytest.fixture(scope="module")
def secured() -> Iterator[ServerProcess]:
    proc = ServerProcess({"kind": "memory"}, server={
        "auth": "sigv4", "credentials": {KEY: SECRET}, "metrics_listen": f"127.0.0.1:{METRICS_PORT}"}).start()
    client = _client(proc.url)
    client.create_table(TableName=TABLE, BillingMode="PAY_PER_REQUEST",
                        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
    client.put_item(TableName=TABLE, Item={"pk": {"S": "a"}, "v": {"S": "public"}})
    client.put_item(TableName=TABLE, Item={"pk": {"S": "b"}, "v": {"S": "secret"}})
    yield proc
    proc.stop()


@pytest.fixture
def wire(secured: ServerProcess) -> Iterator[Wire]:
    conn = Wire(secured.port)
    yield conn
    conn.close()


def _client(url: str, **extra: Any) -> Any:
    return boto3.client("dynamodb", endpoint_url=url, region_name="us-east-1", aws_access_key_id=KEY,
                        aws_secret_access_key=SECRET, config=Config(retries={"max_attempts": 1}), **extra)


def _post(wire: Wire, port: int, operation: str, body: bytes, **sign: Any) -> Any:
    return wire.request("POST", "/", signed(port, "POST", "/", body, dynamo_headers(operation), **sign), body)


def _still_usable(wire: Wire, port: int) -> None:
    """The same socket still serves a correctly signed request."""
    answer = _post(wire, port, "GetItem", GET_A)
    assert answer.status == 200 and answer.json["Item"]["v"] == {"S": "public"}


def test_body_swap_with_an_unsigned_hash_header_is_refused(secured: ServerProcess, wire: Wire) -> None:
    """A captured GetItem for key a, re-sent with a's body hash in X-Amz-Content-Sha256 and b's body."""
    headers = signed(secured.port, "POST", "/", GET_A, dynamo_headers("GetItem"))
    assert "X-Amz-Content-SHA256" not in headers and "x-amz-content-sha256" not in headers["Authorization"]
    swapped = {**headers, "X-Amz-Content-Sha256": hashlib.sha256(GET_A).hexdigest()}
    answer = wire.request("POST", "/", swapped, GET_B)
    assert (answer.status, answer.type) == (400, "InvalidSignatureException")
    assert answer.message.startswith("The request signature we calculated does not match")
    assert b"secret" not in answer.body
    answer = wire.request("POST", "/", headers, GET_B)  # the same swap without the header
    assert (answer.status, answer.type) == (400, "InvalidSignatureException")
    assert wire.request("POST", "/", headers, GET_A).json["Item"]["v"] == {"S": "public"}  # the original passes


def test_replayed_put_with_another_value_stores_nothing(secured: ServerProcess, wire: Wire) -> None:
    put = json.dumps({"TableName": TABLE, "Item": {"pk": {"S": "r"}, "v": {"S": "1"}}}).encode()
    forged = json.dumps({"TableName": TABLE, "Item": {"pk": {"S": "r"}, "v": {"S": "2"}}}).encode()
    headers = signed(secured.port, "POST", "/", put, dynamo_headers("PutItem"))
    assert wire.request("POST", "/", headers, put).status == 200
    for extra in ({}, {"X-Amz-Content-Sha256": hashlib.sha256(put).hexdigest()}):
        answer = wire.request("POST", "/", {**headers, **extra}, forged)
        assert answer.type == "InvalidSignatureException"
    get = json.dumps({"TableName": TABLE, "Key": {"pk": {"S": "r"}}, "ConsistentRead": True}).encode()
    assert _post(wire, secured.port, "GetItem", get).json["Item"]["v"] == {"S": "1"}


def test_unsigned_payload_and_wrong_hash_are_refused(secured: ServerProcess, wire: Wire) -> None:
    headers = signed(secured.port, "POST", "/", GET_A, dynamo_headers("GetItem"), scheme="https",
                     unsigned_payload=True)
    assert headers["X-Amz-Content-SHA256"] == "UNSIGNED-PAYLOAD"
    assert wire.request("POST", "/", headers, GET_A).type == "InvalidSignatureException"
    headers = signed(secured.port, "POST", "/", GET_A, {**dynamo_headers("GetItem"),
                                                        "X-Amz-Content-Sha256": "0" * 64})
    assert wire.request("POST", "/", headers, GET_A).type == "InvalidSignatureException"
    _still_usable(wire, secured.port)


def test_unsigned_target_cannot_turn_a_captured_read_into_a_delete(secured: ServerProcess, wire: Wire) -> None:
    """A GetItem signed over Host alone (as awscurl signs), re-sent with X-Amz-Target DeleteItem: the body and
    its hash are unchanged, so only a signature over the target stops the delete."""
    put = json.dumps({"TableName": TABLE, "Item": {"pk": {"S": "t"}, "v": {"S": "kept"}}}).encode()
    assert _post(wire, secured.port, "PutItem", put).status == 200
    get = json.dumps({"TableName": TABLE, "Key": {"pk": {"S": "t"}}, "ConsistentRead": True}).encode()
    headers = signed(secured.port, "POST", "/", get, {"Content-Type": "application/x-amz-json-1.0"})
    assert "x-amz-target" not in headers["Authorization"]
    for target in ("GetItem", "DeleteItem"):
        answer = wire.request("POST", "/", {**headers, "X-Amz-Target": f"DynamoDB_20120810.{target}"}, get)
        assert (answer.status, answer.type) == (400, "InvalidSignatureException"), answer.body
        assert answer.message == "'X-Amz-Target' must be a 'SignedHeader' in the AWS Authorization."
    assert _post(wire, secured.port, "GetItem", get).json["Item"]["v"] == {"S": "kept"}


def _compress_before_signing(coding: str, sizes: list[tuple[int, int]]) -> Any:
    def handler(request: Any, **_: Any) -> None:
        body = request.body if isinstance(request.body, bytes) else request.body.encode()
        request.data = gzip.compress(body) if coding == "gzip" else zlib.compress(body)
        request.headers["Content-Encoding"] = coding
        sizes.append((len(body), len(request.data)))

    return handler


@pytest.mark.parametrize("coding", ["gzip", "deflate"])
def test_compressed_bodies_signed_by_botocore_verify(secured: ServerProcess, coding: str) -> None:
    client, sizes = _client(secured.url), list[tuple[int, int]]()
    client.meta.events.register("before-sign.dynamodb.*", _compress_before_signing(coding, sizes))
    client.put_item(TableName=TABLE, Item={"pk": {"S": f"z-{coding}"}, "v": {"S": "x" * 2000}})
    item = client.get_item(TableName=TABLE, Key={"pk": {"S": f"z-{coding}"}}, ConsistentRead=True)["Item"]
    assert item["v"] == {"S": "x" * 2000}
    assert len(sizes) == 2 and sizes[0][1] < sizes[0][0] / 10  # both went compressed, and signed so


def test_compressed_body_with_a_correct_hash_header_verifies(secured: ServerProcess, wire: Wire) -> None:
    body = gzip.compress(GET_A)
    headers = signed(secured.port, "POST", "/", body, {**dynamo_headers("GetItem"), "Content-Encoding": "gzip",
                                                       "X-Amz-Content-Sha256": hashlib.sha256(body).hexdigest()})
    assert wire.request("POST", "/", headers, body).json["Item"]["v"] == {"S": "public"}
    tampered = gzip.compress(GET_B)
    assert wire.request("POST", "/", headers, tampered).type == "InvalidSignatureException"


def test_aws_cli_with_gzip_bodies(secured: ServerProcess, tmp_path: Path) -> None:
    """The AWS CLI itself, with a plugin that gzips each DynamoDB request body before it is signed."""
    aws = Path(sys.executable).with_name("aws")
    if not aws.exists():
        pytest.skip("the AWS CLI is not installed in this environment")
    marks = tmp_path / "gzipped"
    (tmp_path / "gzip_bodies.py").write_text(
        "import gzip\n\n\ndef _gzip(request, **_):\n"
        "    body = request.body if isinstance(request.body, bytes) else request.body.encode()\n"
        "    request.data = gzip.compress(body)\n    request.headers['Content-Encoding'] = 'gzip'\n"
        f"    with open({str(marks)!r}, 'a') as f:\n        f.write('gzip\\n')\n\n\n"
        "def awscli_initialize(cli):\n    cli.register('before-sign.dynamodb.*', _gzip)\n")
    (tmp_path / "config").write_text("[plugins]\ngzip_bodies = gzip_bodies\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "AWS_CONFIG_FILE": str(tmp_path / "config"), "AWS_ACCESS_KEY_ID": KEY,
           "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none")}
    base = [str(aws), "dynamodb", "--endpoint-url", secured.url]
    put = subprocess.run(base + ["put-item", "--table-name", TABLE, "--item", '{"pk": {"S": "cli"}, "v": {"S": "1"}}'],
                         env=env, capture_output=True, text=True, timeout=60)
    assert put.returncode == 0, put.stderr
    got = subprocess.run(base + ["get-item", "--table-name", TABLE, "--key", '{"pk": {"S": "cli"}}'],
                         env=env, capture_output=True, text=True, timeout=60)
    assert got.returncode == 0 and json.loads(got.stdout)["Item"]["v"] == {"S": "1"}, got.stderr
    wrong = subprocess.run(base + ["get-item", "--table-name", TABLE, "--key", '{"pk": {"S": "cli"}}'],
                           env={**env, "AWS_SECRET_ACCESS_KEY": "wrong"}, capture_output=True, text=True,
                           timeout=60)
    assert wrong.returncode != 0 and "InvalidSignatureException" in wrong.stderr
    assert marks.read_text().split() == ["gzip"] * 3  # every body went gzipped


_STAMP = r"\d{8}T\d{6}Z"


def test_dates_out_of_range_in_dynamodbs_order_and_words(secured: ServerProcess, wire: Wire) -> None:
    with skewed(-600):
        old = signed(secured.port, "POST", "/", GET_A, dynamo_headers("GetItem"))
        old_unknown = signed(secured.port, "POST", "/", GET_A, dynamo_headers("GetItem"), key="AKIDNOBODY")
    with skewed(+600):
        future = signed(secured.port, "POST", "/", GET_A, dynamo_headers("GetItem"))
    answer = wire.request("POST", "/", old, GET_A)
    assert answer.type == "InvalidSignatureException"
    assert re.fullmatch(rf"Signature expired: {_STAMP} is now earlier than {_STAMP} \({_STAMP} - 5 min\.\)",
                        answer.message), answer.message
    assert answer.message.split()[2] == old["X-Amz-Date"]
    # Malformed (a swapped body, an unknown key) and expired: the date is reported, as DynamoDB does.
    assert wire.request("POST", "/", old, GET_B).message.startswith("Signature expired: ")
    assert wire.request("POST", "/", old_unknown, GET_A).message.startswith("Signature expired: ")
    answer = wire.request("POST", "/", future, GET_A)
    assert answer.type == "InvalidSignatureException"
    assert re.fullmatch(rf"Signature not yet current: {_STAMP} is still later than {_STAMP} \({_STAMP} \+ 5 min\.\)",
                        answer.message), answer.message
    with skewed(-120):  # inside the 5 minutes: accepted
        assert wire.request("POST", "/", signed(secured.port, "POST", "/", GET_A, dynamo_headers("GetItem")),
                            GET_A).status == 200
    _still_usable(wire, secured.port)


def test_every_malformed_header_answers_dynamodb_errors(secured: ServerProcess, wire: Wire) -> None:
    port = secured.port
    good = signed(port, "POST", "/", GET_A, dynamo_headers("GetItem"))
    auth = good["Authorization"]

    def send(changes: dict[str, str | None]) -> Any:
        headers = {k: v for k, v in {**good, **changes}.items() if v is not None}
        return wire.request("POST", "/", headers, GET_A)

    cases: list[tuple[dict[str, str | None], str, str]] = [
        ({"Authorization": None}, "MissingAuthenticationTokenException", "Request is missing Authentication Token"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "MissingAuthenticationTokenException", "Request is missing"),
        ({"Authorization": re.sub(r", Signature=\w+", "", auth)}, "IncompleteSignatureException",
         "Authorization header requires 'Signature' parameter. Authorization=AWS4-HMAC-SHA256"),
        ({"Authorization": re.sub(r"Credential=[^,]+, ", "", auth)}, "IncompleteSignatureException",
         "Authorization header requires 'Credential' parameter."),
        ({"X-Amz-Date": None}, "IncompleteSignatureException",
         "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."),
        ({"X-Amz-Date": "2024-01-01T00:00:00Z"}, "IncompleteSignatureException",
         "Date must be in ISO-8601 'basic format'. Got '2024-01-01T00:00:00Z'."),
        ({"Authorization": auth.replace("SignedHeaders=content-type;host;", "SignedHeaders=content-type;")},
         "InvalidSignatureException", "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."),
        ({"Authorization": auth.replace("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA1")}, "IncompleteSignatureException",
         "Unsupported AWS 'algorithm': 'AWS4-HMAC-SHA1'"),
        ({"Authorization": auth.replace("/us-east-1/dynamodb/", "/us-east-1/")}, "IncompleteSignatureException",
         "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term"),
        ({"Authorization": auth.replace("Signature=", "Signature=0")}, "InvalidSignatureException",
         "The request signature we calculated does not match the signature you provided."),
        ({"X-Amz-Target": "DynamoDB_20120810.Scan"}, "InvalidSignatureException", "The request signature"),
        ({"Authorization": auth.replace(KEY, "AKIDNOBODY")}, "UnrecognizedClientException",
         "The security token included in the request is invalid."),
    ]
    for changes, error, message in cases:
        answer = send(changes)
        assert (answer.status, answer.type) == (400, error), (changes, answer.body)
        assert message in answer.message, (changes, answer.message)
        assert answer.headers["content-type"] == "application/x-amz-json-1.0"
    s3 = signed(port, "POST", "/", GET_A, dynamo_headers("GetItem"), service="s3")
    answer = wire.request("POST", "/", s3, GET_A)
    assert answer.type == "InvalidSignatureException"
    assert answer.message == "Credential should be scoped to correct service: 'dynamodb'."
    _still_usable(wire, port)


def test_admin_routes_need_a_signature_and_flush_is_post_only(secured: ServerProcess, wire: Wire) -> None:
    port = secured.port
    for method, path in (("GET", "/admin/cache"), ("POST", "/admin/cache/flush"),
                         ("POST", f"/admin/cache/flush/{TABLE}"), ("GET", f"/admin/cache/tables/{TABLE}")):
        answer = wire.request(method, path, {"Host": f"127.0.0.1:{port}"})
        assert (answer.status, answer.type) == (400, "MissingAuthenticationTokenException"), (method, path)
        bad = signed(port, method, path, secret="not-the-secret")
        assert wire.request(method, path, bad).type == "InvalidSignatureException"
    for path in ("/admin/cache/flush", f"/admin/cache/flush/{TABLE}"):
        answer = wire.request("GET", path, signed(port, "GET", path))
        assert answer.status == 405 and answer.headers["allow"] == "POST"
        assert answer.type == "UnknownOperationException"
    _post(wire, port, "GetItem", GET_A)  # cached now
    stats = wire.request("GET", f"/admin/cache/tables/{TABLE}", signed(port, "GET", f"/admin/cache/tables/{TABLE}"))
    assert stats.status == 200 and stats.json["known"] and stats.json["item_entries"] >= 1
    flushed = wire.request("POST", f"/admin/cache/flush/{TABLE}", signed(port, "POST", f"/admin/cache/flush/{TABLE}"))
    assert flushed.status == 200 and flushed.json["flushed"] == TABLE and flushed.json["entries"] >= 1
    everything = wire.request("GET", "/admin/cache", signed(port, "GET", "/admin/cache"))
    assert everything.status == 200 and "item_hits" in everything.json
    health = wire.request("GET", "/health", {"Host": "x"})
    assert health.status == 200  # health checks stay open for load balancers
    _still_usable(wire, port)


def test_metrics_signed_on_the_main_port_open_on_its_own_listener(secured: ServerProcess, wire: Wire) -> None:
    port = secured.port
    answer = wire.request("GET", "/metrics", {"Host": f"127.0.0.1:{port}"})
    assert (answer.status, answer.type) == (400, "MissingAuthenticationTokenException")
    wire.request("POST", "/", {**signed(port, "POST", "/", GET_A, dynamo_headers("GetItem")),
                               "X-Amz-Target": "DynamoDB_20120810.Nonsense"}, GET_A)  # refused, unknown op
    assert _post(wire, port, "GetItem", GET_A, secret="wrong").type == "InvalidSignatureException"
    answer = wire.request("GET", "/metrics", signed(port, "GET", "/metrics"))
    assert answer.status == 200 and b"ItemCacheHits" in answer.body
    # refusals are counted per operation and error type, and an attacker's target text never becomes a label
    errors = {line for line in answer.body.decode().splitlines() if line.startswith("accelerator_errors_total")}
    assert any('operation="GetItem"' in line and "InvalidSignatureException" in line for line in errors), errors
    assert any('operation="accelerator:GetMetrics"' in line and "MissingAuthenticationToken" in line
               for line in errors), errors
    assert not any("Nonsense" in line for line in errors)
    side = Wire(METRICS_PORT)
    try:
        assert side.request("GET", "/metrics", {"Host": "x"}).status == 200
        # the metrics listener serves nothing else: no unsigned way into the data plane or the admin routes
        assert side.request("POST", "/", {"Host": "x", **dynamo_headers("GetItem")}, GET_A).status == 404
        assert side.request("POST", "/admin/cache/flush", {"Host": "x"}).status == 404
    finally:
        side.close()
    _still_usable(wire, port)


def test_cli_signs_admin_requests(secured: ServerProcess) -> None:
    cli = [sys.executable, "-m", "accelerator.cli", "cache"]
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    run = subprocess.run(cli + ["stats", "--url", secured.url, "--table", TABLE, "--access-key", KEY,
                                "--secret-key", SECRET], env=base_env, capture_output=True, text=True, timeout=30)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["table"] == TABLE
    env = {**base_env, "AWS_ACCESS_KEY_ID": KEY, "AWS_SECRET_ACCESS_KEY": SECRET}
    run = subprocess.run(cli + ["flush", "--url", secured.url, "--table", TABLE], env=env, capture_output=True,
                         text=True, timeout=30)
    assert run.returncode == 0 and json.loads(run.stdout)["flushed"] == TABLE, run.stderr
    run = subprocess.run(cli + ["flush", "--url", secured.url], env=base_env, capture_output=True, text=True,
                         timeout=30)
    assert run.returncode == 1 and "MissingAuthenticationTokenException" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1


def test_admin_actions_follow_per_key_policies(tmp_path: Path) -> None:
    """With a policies file, admin routes are actions like any other: a key needs an Allow for them."""
    ops, reader = ("AKIDOPS", "ops-secret"), ("AKIDREADER", "reader-secret")
    everything = {"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"}
    policies = {
        ops[0]: {"Version": "2012-10-17", "Statement": [
            everything, {"Effect": "Allow", "Action": "accelerator:*", "Resource": "*"}]},
        reader[0]: {"Version": "2012-10-17", "Statement": [
            everything, {"Effect": "Allow", "Action": "accelerator:DescribeCache", "Resource": "*"}]},
    }
    (tmp_path / "policies.json").write_text(json.dumps(policies))
    proc = ServerProcess({"kind": "memory"}, server={"auth": "sigv4", "credentials": dict((ops, reader)),
                                                     "policies": str(tmp_path / "policies.json")}).start()
    conn = Wire(proc.port)
    try:
        def call(method: str, path: str, who: tuple[str, str]) -> Any:
            return conn.request(method, path, signed(proc.port, method, path, key=who[0], secret=who[1]))

        assert call("GET", "/admin/cache", reader).status == 200
        refused = call("POST", "/admin/cache/flush/t1", reader)
        assert (refused.status, refused.type) == (400, "AccessDeniedException")
        assert refused.message.startswith(f"User: arn:aws:iam::000000000000:user/{reader[0]} is not authorized to "
                                          "perform: accelerator:FlushCache on resource: arn:aws:dynamodb:")
        assert refused.message.endswith(":table/t1 because no identity-based policy allows the "
                                        "accelerator:FlushCache action")
        assert call("GET", "/metrics", reader).type == "AccessDeniedException"
        assert call("POST", "/admin/cache/flush/t1", ops).status == 200
        assert call("GET", "/metrics", ops).status == 200
    finally:
        conn.close()
        proc.stop()


def _rss(pid: int) -> int:
    """The process's resident set in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def _unsent(sock: socket.socket) -> int:
    """Bytes this socket has sent that the peer's kernel has not acknowledged yet (SIOCOUTQ)."""
    return struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0" * 4))[0]


def test_unverifiable_bodies_are_not_held(secured: ServerProcess) -> None:
    """Eight connections each send 15 MB of body without a valid signature and hold back the last byte:
    the server drops what it reads instead of holding 8 x 15 MB, and still refuses each request as before."""
    assert secured.proc is not None
    size, conns = 15 * 1024 * 1024, []
    before = _rss(secured.proc.pid)
    forged = signed(secured.port, "POST", "/", b"{}", dynamo_headers("ListTables"), key="AKIDNOBODY")
    for i in range(8):
        conn = Wire(secured.port)
        headers = {"Host": "x", **dynamo_headers("PutItem")} if i % 2 else {**forged}
        lines = ["POST / HTTP/1.1", *(f"{k}: {v}" for k, v in headers.items()), f"Content-Length: {size}"]
        conn.send(("\r\n".join(lines) + "\r\n\r\n").encode() + b" " * (size - 1))
        conns.append(conn)
    for conn in conns:  # everything sent has reached the server's kernel (the rest sits in its socket buffer)
        while _unsent(conn.sock):
            time.sleep(0.01)
    grown = _rss(secured.proc.pid) - before
    assert grown < 32 * 1024 * 1024, f"the server holds {grown} bytes of unverifiable bodies"
    for i, conn in enumerate(conns):
        conn.send(b" ")
        answer = conn.answer()
        assert answer.type == ("MissingAuthenticationTokenException" if i % 2 else "UnrecognizedClientException")
        _still_usable(conn, secured.port)
        conn.close()


def test_large_signed_bodies_still_verify(secured: ServerProcess, wire: Wire) -> None:
    put = json.dumps({"TableName": TABLE, "Item": {"pk": {"S": "big"}, "v": {"S": "x" * 300_000}}}).encode()
    assert _post(wire, secured.port, "PutItem", put).status == 200
    get = json.dumps({"TableName": TABLE, "Key": {"pk": {"S": "big"}}, "ConsistentRead": True}).encode()
    assert len(_post(wire, secured.port, "GetItem", get).json["Item"]["v"]["S"]) == 300_000


def test_wire_tricks_reach_nothing_unsigned(secured: ServerProcess, wire: Wire) -> None:
    """Forms a front end might read differently: every one is refused or reaches no admin action."""
    port = secured.port
    # a second Host, Authorization, X-Amz-Target, ... after the signed one: a front end may act on the first
    # while the server verifies the last, so the request is refused and the connection closed
    good = signed(port, "POST", "/", GET_A, dynamo_headers("GetItem"))
    head = "".join(f"{k}: {v}\r\n" for k, v in good.items())
    for extra in ("X-Amz-Target: DynamoDB_20120810.DeleteItem", "host: other", f"Authorization: {good['Authorization']}",
                  "X-Amz-Date: 20200101T000000Z", "Content-Encoding: gzip\r\ncontent-encoding: gzip"):
        raw = Wire(port)
        try:
            raw.send((f"POST / HTTP/1.1\r\n{head}{extra}\r\nContent-Length: {len(GET_A)}\r\n\r\n").encode() + GET_A)
            answer = raw.answer()
            assert answer.status == 400 and answer.body.startswith(b"duplicate "), (extra, answer.body)
        finally:
            raw.close()
    # a signature in the query string (a presigned URL) is not accepted in place of the header
    query = "/?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=" + "0" * 64
    answer = wire.request("POST", query, {"Host": "x", **dynamo_headers("GetItem")}, GET_A)
    assert answer.type == "MissingAuthenticationTokenException"
    # admin paths spelled otherwise: unsigned, each is refused or not found, and nothing is flushed
    for method, path in (("POST", "//admin/cache/flush"), ("POST", "/admin/../admin/cache/flush"),
                         ("POST", "/admin/cache/flush/"), ("POST", "/admin/cache/flush?x=1"),
                         ("POST", "/%61dmin/cache/flush"), ("POST", "/ADMIN/cache/flush"),
                         ("HEAD", "/admin/cache"), ("OPTIONS", "/admin/cache/flush"), ("GET", "/admin/cache/"),
                         ("POST", "http://x/admin/cache/flush"), ("GET", "http://x/metrics")):
        answer = wire.request(method, path, {"Host": "x"})
        assert answer.status in (400, 404, 405), (method, path, answer.status)
        if answer.status == 400:
            assert answer.type == "MissingAuthenticationTokenException", (method, path)
        assert b"flushed" not in answer.body
    _still_usable(wire, port)
    # Content-Length with Transfer-Encoding (request smuggling) and two Content-Lengths: refused, closed
    for framing in (b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", b"Content-Length: 2\r\nContent-Length: 30\r\n"):
        raw = Wire(port)
        try:
            raw.send(b"POST / HTTP/1.1\r\nHost: x\r\n" + framing + b"\r\n0\r\n\r\n")
            assert raw.answer().status == 400
        finally:
            raw.close()


def test_trailers_after_a_chunked_body_change_nothing(secured: ServerProcess, wire: Wire) -> None:
    """A captured GetItem re-sent chunked with X-Amz-Target DeleteItem in its headers and the signed GetItem
    in a trailer: the request was routed on the header, so a trailer verified in its place deleted the item."""
    port = secured.port
    put = json.dumps({"TableName": TABLE, "Item": {"pk": {"S": "trailer"}, "v": {"S": "kept"}}}).encode()
    assert _post(wire, port, "PutItem", put).status == 200
    get = json.dumps({"TableName": TABLE, "Key": {"pk": {"S": "trailer"}}, "ConsistentRead": True}).encode()
    captured = signed(port, "POST", "/", get, dynamo_headers("GetItem"))

    def chunked(headers: dict[str, str], trailer: str) -> bytes:
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        return (f"POST / HTTP/1.1\r\n{head}Transfer-Encoding: chunked\r\n\r\n{len(get):x}\r\n").encode() + get + \
            f"\r\n0\r\n{trailer}\r\n".encode()

    forged = {**captured, "X-Amz-Target": "DynamoDB_20120810.DeleteItem"}
    wire.send(chunked(forged, f"X-Amz-Target: {captured['X-Amz-Target']}\r\n"))
    assert wire.answer().type == "InvalidSignatureException"
    wire.send(chunked(captured, "Content-Encoding: gzip\r\nX-Amz-Date: 20200101T000000Z\r\n"))
    answer = wire.answer()  # the trailers are dropped: the request is the one signed
    assert answer.status == 200 and answer.json["Item"]["v"] == {"S": "kept"}


def test_an_unsigned_metrics_listener_on_every_address_is_warned_about() -> None:
    port = free_port()
    log = _log_of_a_run({"auth": "sigv4", "credentials": {KEY: SECRET}, "metrics_listen": f"0.0.0.0:{port}"})
    assert f"metrics_listen 0.0.0.0:{port} serves /metrics unsigned beyond loopback and private networks" in log
    log = _log_of_a_run({"auth": "sigv4", "credentials": {KEY: SECRET}, "metrics_listen": f"127.0.0.1:{free_port()}"})
    assert "unsigned beyond loopback" not in log


def _log_of_a_run(server: dict[str, Any]) -> str:
    """The log of a server started and stopped (read after the stop: every startup line is written by then)."""
    proc = ServerProcess({"kind": "memory"}, server=server).start()
    proc.stop()
    return proc.log.read_text()
