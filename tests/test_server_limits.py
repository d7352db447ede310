"""What a connection may hold: memory released when it closes, a whole-request deadline, a connection cap."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest

import accelerator.server as server_module
from accelerator.server import Connection, Server, ServerLimits
from tests.server_process import ServerProcess

MB = 1024 * 1024
RSS_BOUND = 96 * MB
"""Growth allowed over a flood of large bodies on fresh connections (before the fix: every body retained)."""


def _rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def _post_once(port: int, body: bytes) -> bytes:
    head = (b"POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: DynamoDB_20120810.PutItem\r\n"
            b"Content-Type: application/x-amz-json-1.0\r\nConnection: close\r\nContent-Length: %d\r\n\r\n" % len(body))
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(head + body)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
    return out


def _item_body(size: int) -> bytes:
    return b'{"TableName":"absent","Item":{"pk":{"S":"' + b"x" * (size - 64) + b'"}}}'


@pytest.fixture(scope="module")
def srv() -> Iterator[ServerProcess]:
    proc = ServerProcess({"kind": "memory"}, server={"max_connections": 4}).start()
    yield proc
    proc.stop()


@pytest.mark.parametrize(("size", "count"), [(1 * MB, 400), (16 * MB, 24)])
def test_fresh_connections_do_not_keep_their_bodies(srv: ServerProcess, size: int, count: int) -> None:
    assert srv.proc is not None
    body = _item_body(size)
    for _ in range(8):  # allocator and import warm-up
        assert _post_once(srv.port, body).startswith(b"HTTP/1.1 400 ")
    before = _rss(srv.proc.pid)
    for _ in range(count):
        assert _post_once(srv.port, body).startswith(b"HTTP/1.1 400 ")
    grown = _rss(srv.proc.pid) - before
    assert grown < RSS_BOUND, f"RSS grew {grown / MB:.0f} MB over {count} bodies of {size / MB:.0f} MB"


def test_connections_past_the_cap_get_503(srv: ServerProcess) -> None:
    held = []
    try:
        for _ in range(4):  # each one answered, so the server has registered it
            s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            assert s.recv(65536).startswith(b"HTTP/1.1 200 ")
            held.append(s)
        with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as extra:
            out = b""
            while chunk := extra.recv(65536):  # answered and closed without a request
                out += chunk
        assert out.startswith(b"HTTP/1.1 503 ") and b"Connection: close" in out
    finally:
        for s in held:
            s.close()


class _Transport:
    def __init__(self) -> None:
        self.out = b""
        self.closed = False

    def write(self, data: bytes) -> None:
        self.out += data

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def _connection(monkeypatch: pytest.MonkeyPatch, clock: list[float], **limits: Any) -> tuple[Connection, _Transport]:
    monkeypatch.setattr(server_module, "_now", lambda: clock[0])
    server = Server(router=None, limits=ServerLimits(**limits))  # type: ignore[arg-type]  # never dispatched
    conn = Connection(server)
    transport = _Transport()
    conn.connection_made(transport)  # type: ignore[arg-type]
    return conn, transport


def test_request_deadline_counts_from_the_first_byte(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [100.0]
    conn, transport = _connection(monkeypatch, clock, request_timeout=5.0)
    request = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789"
    for i, byte in enumerate(request[:20]):  # one byte every 2 s: each is "activity", none extends the deadline
        clock[0] = 100.0 + 2 * i
        conn.data_received(bytes([byte]))
        conn.expire(clock[0])
        if transport.closed:
            break
    assert transport.out.startswith(b"HTTP/1.1 408 ")
    assert clock[0] == 106.0  # the first expiry check past 5 s after the first byte


def test_idle_connection_between_requests_is_not_a_stalled_request(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [0.0]
    conn, transport = _connection(monkeypatch, clock, request_timeout=5.0, idle_timeout=60.0)
    clock[0] = 30.0
    conn.expire(clock[0])
    assert not transport.closed
    clock[0] = 61.0
    conn.expire(clock[0])
    assert transport.closed and transport.out == b""


def test_a_closed_connection_holds_no_request_state(monkeypatch: pytest.MonkeyPatch) -> None:
    conn, _ = _connection(monkeypatch, [0.0])
    conn.data_received(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n" + b"x" * 50)
    assert conn.body
    conn.connection_lost(None)
    assert conn.body == [] and conn.transport is None and conn.parser is server_module._CLOSED_PARSER
