"""Fuzz the HTTP front end of a real server process: whatever bytes arrive, it stays up and keeps answering.

Well-formed HTTP with random bodies and targets, pipelined on one connection, gets one DynamoDB-shaped
answer below 500 per request; broken HTTP (random bytes, truncated, oversized) gets a 4xx and a close,
or nothing; either way a health check on a new connection succeeds afterwards.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.server_process import ServerProcess

_DEEP = int(os.environ.get("FUZZ_EXAMPLES", "0"))
_MAX_BODY = 100_000
_OPERATIONS = ["GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan", "BatchGetItem", "BatchWriteItem",
               "TransactGetItems", "TransactWriteItems", "CreateTable", "DescribeTable", "ListTables",
               "DescribeEndpoints", "Nope", ""]


def _settings(examples: int) -> Any:
    return settings(max_examples=_DEEP or examples, deadline=None, database=None,
                    suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def srv() -> Iterator[ServerProcess]:
    proc = ServerProcess({"kind": "memory"}, server={"max_body_bytes": _MAX_BODY, "request_timeout": 1.0,
                                                      "max_header_bytes": 8192}).start()
    status, _ = _exchange(proc, [_request(b'{"TableName": "wire", "BillingMode": "PAY_PER_REQUEST", '
                                          b'"KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}], '
                                          b'"AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}]}',
                                          "CreateTable")])[0]
    assert status == 200
    yield proc
    assert proc.proc is not None and proc.proc.poll() is None, "the server died"
    proc.stop()
    log = proc.log.read_text()
    assert "unhandled error in request handler" not in log, log


def _request(body: bytes, target: str = "GetItem", method: bytes = b"POST", extra: bytes = b"") -> bytes:
    return (method + b" / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-amz-json-1.0\r\n"
            + f"X-Amz-Target: DynamoDB_20120810.{target}\r\n".encode() + extra
            + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)


class _Reader:
    """Reads responses off one socket, keeping bytes that belong to the next."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.data = b""

    def _more(self) -> bool:
        chunk = self.sock.recv(65536)
        self.data += chunk
        return bool(chunk)

    def response(self) -> tuple[int, bytes] | None:
        while b"\r\n\r\n" not in self.data:
            if not self._more():
                return None
        head, _, rest = self.data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
        length = int(headers["content-length"])
        self.data = rest
        while len(self.data) < length:
            if not self._more():
                raise AssertionError("response body cut short")
        body, self.data = self.data[:length], self.data[length:]
        return int(lines[0].split()[1]), body


def _exchange(srv: ServerProcess, requests: list[bytes]) -> list[tuple[int, bytes]]:
    """Send requests pipelined on one connection and read one answer for each."""
    with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as s:
        s.sendall(b"".join(requests))
        reader = _Reader(s)
        answers = []
        for _ in requests:
            answer = reader.response()
            assert answer is not None, "connection closed before every request was answered"
            answers.append(answer)
        return answers


def _alive(srv: ServerProcess) -> None:
    [(status, body)] = _exchange(srv, [_request(b'{"Limit": 1}', "ListTables")])
    assert status == 200 and "TableNames" in json.loads(body)


_json_bodies = st.one_of(
    st.sampled_from([b"", b"{}", b"{", b"null", b"[]", b'{"TableName": "wire"}', b'{"TableName": "wire", "Key": {}}',
                     b'{"TableName": "wire", "Key": {"pk": {"S": "a"}}}', b'{"TableName": "wire", "Item": '
                     b'{"pk": {"S": "a"}, "n": {"N": "1e400"}}}', b'{"TableName": "wire", "Item": {"pk": {"B": "!!"}}}',
                     b'{"TableName": "wire", "Key": {"pk": {"SS": [1]}}}', b"\xff\xfe\x00", b'"\\ud800"']),
    st.binary(max_size=64),
    st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=5)),
                 lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner,
                                                                                        max_size=3)),
                 max_leaves=8).map(lambda v: json.dumps(v).encode()),
)
_well_formed = st.builds(_request, _json_bodies, st.sampled_from(_OPERATIONS))


@_settings(25)
@given(st.lists(_well_formed, min_size=1, max_size=6))
def test_pipelined_requests_each_get_an_answer(srv: ServerProcess, requests: list[bytes]) -> None:
    for status, body in _exchange(srv, requests):
        assert status < 500, body
        if status >= 400:
            reply = json.loads(body)
            # DynamoDB sends the type alone for a body that is not JSON and for an unknown operation
            assert "__type" in reply, reply
            assert "message" in reply or reply["__type"].endswith(("#SerializationException",
                                                                   "#UnknownOperationException")), reply


_header_junk = st.one_of(
    st.sampled_from([b"Content-Length: -1\r\n", b"Content-Length: 99999999999999999999\r\n",
                     b"Content-Length: abc\r\n", b"Transfer-Encoding: chunked\r\n", b"Connection: close\r\n",
                     b"Expect: 100-continue\r\n", b"X-Amz-Target: \xff\xfe\r\n", b"Upgrade: websocket\r\n"
                     b"Connection: Upgrade\r\n", b"X-Junk: " + b"a" * 9000 + b"\r\n", b": empty-name\r\n",
                     b"NoColon\r\n", b"X-A: \x00\r\n"]),
    st.binary(max_size=30).map(lambda b: b + b"\r\n"))


@st.composite
def _broken(draw: Any) -> bytes:
    kind = draw(st.sampled_from(["bytes", "truncated", "header", "oversized", "method", "chunked"]))
    good = draw(_well_formed)
    if kind == "bytes":
        return draw(st.binary(min_size=1, max_size=200))
    if kind == "truncated":
        return good[:draw(st.integers(min_value=1, max_value=len(good)))]
    if kind == "header":
        return _request(draw(_json_bodies), "ListTables", extra=draw(_header_junk))
    if kind == "oversized":
        return _request(b"{" + b" " * (_MAX_BODY + draw(st.integers(1, 1000))) + b"}", "ListTables")
    if kind == "method":
        method = draw(st.sampled_from([b"GET", b"PUT", b"DELETE", b"OPTIONS", b"HEAD", b"BREW", b"\x00"]))
        return _request(b"{}", "ListTables", method=method)
    chunks = draw(st.lists(st.binary(max_size=10), max_size=3))
    body = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + draw(st.sampled_from([b"0\r\n\r\n", b"zz\r\n", b""]))
    return (b"POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: DynamoDB_20120810.ListTables\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n" + body)


@_settings(40)
@given(st.lists(_broken(), min_size=1, max_size=3), st.booleans())
def test_broken_http_leaves_the_server_up(srv: ServerProcess, parts: list[bytes], wait: bool) -> None:
    with socket.create_connection(("127.0.0.1", srv.port), timeout=0.3) as s:
        try:
            s.sendall(b"".join(parts))
            if wait:  # read whatever comes back; a stalled half request is answered 408 later, not awaited here
                reader = _Reader(s)
                while (answer := reader.response()) is not None:
                    assert answer[0] < 500, answer
        except (TimeoutError, ConnectionError):
            pass
    _alive(srv)
