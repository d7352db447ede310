"""Bad input on the wire: each gets DynamoDB's error or a clean close, and the server stays up."""

from __future__ import annotations

import email.utils
import gzip
import json
import socket
import time
from typing import Any

import pytest

from tests.server_process import ServerProcess

TARGET = "DynamoDB_20120810."


@pytest.fixture(scope="module")
def srv() -> Any:
    proc = ServerProcess({"kind": "memory"}, server={"max_body_bytes": 1_000_000, "request_timeout": 1.0,
                                                      "max_header_bytes": 8192}).start()
    yield proc
    proc.stop()


def _raw(body: bytes, target: str | None = "GetItem", extra: bytes = b"") -> bytes:
    head = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-amz-json-1.0\r\n"
    if target is not None:
        head += f"X-Amz-Target: {TARGET}{target}\r\n".encode()
    return head + extra + f"Content-Length: {len(body)}\r\n\r\n".encode() + body


_leftover: dict[int, bytes] = {}


def _read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Read one response; bytes of the next pipelined response are kept for the next call."""
    data = _leftover.pop(sock.fileno(), b"")
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed after {data!r}")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    length = int(headers["content-length"])
    while len(rest) < length:
        rest += sock.recv(65536)
    if len(rest) > length:
        _leftover[sock.fileno()] = rest[length:]
    return status, headers, rest[:length]


def _call(srv: ServerProcess, payload: bytes) -> tuple[int, dict[str, str], bytes]:
    with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as s:
        s.sendall(payload)
        return _read_response(s)


def _type(body: bytes) -> str:
    return str(json.loads(body)["__type"]).split("#")[-1]


def _alive(srv: ServerProcess) -> None:
    status, _, body = _call(srv, _raw(b"{}", "ListTables"))
    assert status == 200 and "TableNames" in json.loads(body)


@pytest.mark.parametrize("body, target, status, error", [
    (b"{not json", "GetItem", 400, "SerializationException"),
    (b"[1, 2]", "GetItem", 400, "SerializationException"),
    (b"", "GetItem", 400, "SerializationException"),
    (b"{}", "NoSuchOperation", 400, "UnknownOperationException"),
    (b"{}", None, 400, "UnknownOperationException"),
    (b"{}", "GetItem", 400, "ValidationException"),
    (b'{"TableName": 5, "Key": {}}', "GetItem", 400, "SerializationException"),
    (b'{"TableName": "abc", "Key": []}', "GetItem", 400, "SerializationException"),
    (b'{"TableName": "abc", "Key": {}, "ConsistentRead": "yes"}', "GetItem", 400, "SerializationException"),
])
def test_bad_requests(srv: ServerProcess, body: bytes, target: str | None, status: int, error: str) -> None:
    got_status, headers, got_body = _call(srv, _raw(body, target))
    assert got_status == status
    assert headers["content-type"] == "application/x-amz-json-1.0"
    assert "x-amzn-requestid" in headers and "x-amz-crc32" in headers
    assert _type(got_body) == error
    _alive(srv)


def test_missing_required_member_message(srv: ServerProcess) -> None:
    _, _, body = _call(srv, _raw(b'{"Key": {"pk": {"S": "a"}}}'))
    assert json.loads(body)["message"] == ("1 validation error detected: Value null at 'tableName' failed to "
                                           "satisfy constraint: Member must not be null")


def test_unknown_members_are_ignored(srv: ServerProcess) -> None:
    # AWS ignores members it does not know (forward compatibility); so do we.
    status, _, body = _call(srv, _raw(b'{"NotAMember": 1, "Limit": 5}', "ListTables"))
    assert status == 200 and "TableNames" in json.loads(body)


def test_oversized_body_rejected_and_closed(srv: ServerProcess) -> None:
    # Only the head and the start of the body are sent: the server answers as soon as it sees the declared
    # length and closes, so a client still pushing the whole body could get a reset before reading the 413.
    request = _raw(b"{" + b" " * 1_100_000 + b"}", "ListTables")
    with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as s:
        s.sendall(request[:1000])
        status, headers, _ = _read_response(s)
        assert status == 413 and headers.get("connection") == "close"
    _alive(srv)


def test_huge_header_rejected(srv: ServerProcess) -> None:
    with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as s:
        s.sendall(_raw(b"{}", "ListTables", extra=b"X-Junk: " + b"a" * 20000 + b"\r\n"))
        status, _, _ = _read_response(s)
        assert status == 400
    _alive(srv)


@pytest.fixture(scope="module")
def default_srv() -> Any:
    """A server with the default limits (DynamoDB's 16 KB request line and headers)."""
    proc = ServerProcess({"kind": "memory"}).start()
    yield proc
    proc.stop()


@pytest.mark.parametrize("size,status", [(16 * 1024 - 200, 200), (16 * 1024 + 1, 400), (64 * 1024, 400)])
def test_headers_over_16_kb_are_400(default_srv: ServerProcess, size: int, status: int) -> None:
    junk = b"X-Junk: " + b"a" * (size - len(b"X-Junk")) + b"\r\n"
    with socket.create_connection(("127.0.0.1", default_srv.port), timeout=5) as s:
        s.sendall(_raw(b"{}", "ListTables", extra=junk))
        got, headers, _ = _read_response(s)
        assert got == status
        if status == 400:
            assert headers.get("connection") == "close" and s.recv(10) == b""
    _alive(default_srv)


@pytest.mark.parametrize("size,status", [(16 * 1024 - 100, 200), (16 * 1024 + 1, 400)])
def test_request_line_over_16_kb_is_400(default_srv: ServerProcess, size: int, status: int) -> None:
    path = b"/?" + b"q" * (size - 2)
    with socket.create_connection(("127.0.0.1", default_srv.port), timeout=5) as s:
        s.sendall(_raw(b"{}", "ListTables").replace(b"POST / ", b"POST " + path + b" ", 1))
        got, _, _ = _read_response(s)
        assert got == status
    _alive(default_srv)


def test_every_response_has_a_date(default_srv: ServerProcess) -> None:
    requests = [_raw(b"{}", "ListTables"), _raw(b"{not json", "GetItem"), _raw(b"{}", "NoSuchOperation"),
                b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n", b"GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n",
                _raw(b"{}", "ListTables", extra=b"X-Junk: " + b"a" * 20000 + b"\r\n")]
    for request in requests:
        with socket.create_connection(("127.0.0.1", default_srv.port), timeout=5) as s:
            before = time.time()
            s.sendall(request)
            _, headers, _ = _read_response(s)
            after = time.time()
        sent = email.utils.parsedate_to_datetime(headers["date"])
        # to the second, refreshed by a timer at each second: at most a moment behind a second's start
        assert headers["date"].endswith(" GMT") and int(before) - 1 <= sent.timestamp() <= after


def test_malformed_http_closed(srv: ServerProcess) -> None:
    with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as s:
        s.sendall(b"GARBAGE \x00\x01 nonsense\r\n\r\n")
        status, _, _ = _read_response(s)
        assert status == 400
        assert s.recv(10) == b""
    _alive(srv)


def test_half_request_times_out_and_others_unaffected(srv: ServerProcess) -> None:
    stalled = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    stalled.sendall(_raw(b'{"Limit": 5}', "ListTables")[:-5])
    _alive(srv)  # another connection is served while one hangs half-way
    status, _, _ = _read_response(stalled)  # within the socket's 10 s timeout, or this raises
    assert status == 408
    stalled.close()


def test_client_disconnect_mid_request(srv: ServerProcess) -> None:
    for cut in (10, 60, 100):
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
        s.sendall(_raw(b'{"TableName": "abcdef", "Item": {"pk": {"S": "zz"}}}', "PutItem")[:cut])
        s.close()
    _alive(srv)


def test_keep_alive_and_pipelining(srv: ServerProcess) -> None:
    with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as s:
        s.sendall(_raw(b'{"Limit": 1}', "ListTables") + _raw(b"{oops", "ListTables") + _raw(b"{}", "ListTables"))
        answers = [_read_response(s) for _ in range(3)]
        assert [a[0] for a in answers] == [200, 400, 200]
        ids = {a[1]["x-amzn-requestid"] for a in answers}
        assert len(ids) == 3


def test_crc32_header_matches_body(srv: ServerProcess) -> None:
    import zlib

    _, headers, body = _call(srv, _raw(b"{}", "ListTables"))
    assert int(headers["x-amz-crc32"]) == zlib.crc32(body)


def test_health_and_unknown_paths(srv: ServerProcess) -> None:
    with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as s:
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\n")
        assert _read_response(s)[0] == 200
        assert _read_response(s)[0] == 404


def _members(text: bytes) -> bytes:
    """``text`` as one gzip member per byte (an empty member first): valid gzip, as many members as bytes."""
    return gzip.compress(b"") + b"".join(gzip.compress(text[i:i + 1]) for i in range(len(text)))


def test_many_gzip_members_are_refused_without_stalling(default_srv: ServerProcess) -> None:
    """A 14 MB body of 21-byte gzip members once cost its length squared to decode (minutes with the loop
    held): it is refused as undecodable at once, and a body of a few hundred members still decodes."""
    small = b'{"Limit": 1, "pad": "' + b"x" * 300 + b'"}'
    with socket.create_connection(("127.0.0.1", default_srv.port), timeout=30) as s:
        s.sendall(_raw(_members(small), "ListTables", extra=b"Content-Encoding: gzip\r\n"))
        status, _, body = _read_response(s)
        assert status == 200 and "TableNames" in json.loads(body), body
        bomb = _members(b'{"Limit": 1, "pad": "') + gzip.compress(b"x") * 660_000 + _members(b'"}')
        s.sendall(_raw(bomb, "ListTables", extra=b"Content-Encoding: gzip\r\n"))
        status, _, body = _read_response(s)
        assert (status, _type(body)) == (500, "InternalServerError")
        assert json.loads(body)["message"] == "Failed to decode the request body"
    _alive(default_srv)


def test_expect_100_continue_is_answered_before_the_body(srv: ServerProcess) -> None:
    """A client sending ``Expect: 100-continue`` waits for the interim answer before sending its body."""
    body = b"{}"
    head = _raw(body, "ListTables", extra=b"Expect: 100-continue\r\n")[:-len(body)]
    with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as s:
        s.sendall(head)
        interim = b""
        while b"\r\n\r\n" not in interim:
            chunk = s.recv(1)
            assert chunk, "closed before the interim response"
            interim += chunk
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        s.sendall(body)
        status, _, answer = _read_response(s)
        assert status == 200 and "TableNames" in json.loads(answer)
        too_big = b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2000000\r\n\r\n"
        s.sendall(too_big)  # refused on its headers: no 100, the body is never asked for
        status, _, answer = _read_response(s)
        assert (status, answer) == (413, b"request body too large")
