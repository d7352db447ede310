"""A minimal blocking DynamoDB JSON 1.0 client over one HTTP/1.1 keep-alive connection.

Used to create tables and preload data, and by ``bench.compare`` as the one client for every HTTP target,
so each target is measured through the same few lines of code. It reconnects when a server closes the
connection (moto's server answers ``Connection: close``), and counts it. Responses are read by the client
wrapper's ``ResponseParser``, the one HTTP/1.1 reader of the project.
"""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson

from accelerator.client.http11 import ResponseParser

__all__ = ["AUTH", "DynamoCallError", "Reply", "Connection", "create_tables", "write_items"]

TARGET = "DynamoDB_20120810."
# A fixed, well-formed SigV4 header: the accelerator and moto only parse it, and the generator must not
# spend its time signing (that would measure the signer, not the server).
AUTH = ("AWS4-HMAC-SHA256 Credential=AKIDLOADTEST/20240101/us-east-1/dynamodb/aws4_request, "
        "SignedHeaders=content-type;host;x-amz-target, Signature=" + "0" * 64)


class DynamoCallError(Exception):
    """A non-200 reply: ``type`` is the short DynamoDB error name, e.g. ``ResourceInUseException``."""

    def __init__(self, status: int, body: bytes) -> None:
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError:
            doc = {}
        self.status = status
        self.type = str(doc.get("__type", "")).rpartition("#")[2]
        self.message = str(doc.get("message") or doc.get("Message") or body[:200])
        super().__init__(f"HTTP {status} {self.type}: {self.message}")


@dataclass(slots=True)
class Reply:
    status: int
    headers: dict[str, str]  # lower-cased names
    body: bytes

    @property
    def status_code(self) -> int:  # the name Locust's request listeners read
        return self.status


class Connection:
    """One keep-alive connection; ``request`` sends one operation and reads the whole reply."""

    def __init__(self, url: str, timeout: float = 30.0, ssl_context: ssl.SSLContext | None = None) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.tls = ssl_context or (ssl.create_default_context() if parts.scheme == "https" else None)
        self.port = parts.port or (443 if self.tls else 80)
        self.timeout = timeout
        self.sock: socket.socket | None = None
        self.reconnects = 0
        self._heads: dict[str, bytes] = {}

    def _head(self, op: str) -> bytes:
        head = self._heads.get(op)
        if head is None:
            head = (f"POST / HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nX-Amz-Target: {TARGET}{op}\r\n"
                    f"Content-Type: application/x-amz-json-1.0\r\nAuthorization: {AUTH}\r\n"
                    "Content-Length: ").encode()
            self._heads[op] = head
        return head

    def connect(self) -> None:
        self.close()
        sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = self.tls.wrap_socket(sock, server_hostname=self.host) if self.tls else sock

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def request(self, op: str, body: bytes) -> Reply:
        """Send ``body`` as operation ``op``; reconnect once if a kept-alive connection was closed."""
        data = self._head(op) + str(len(body)).encode() + b"\r\n\r\n" + body
        if self.sock is None:
            self.connect()
            return self._exchange(data)
        try:
            return self._exchange(data)
        except (ConnectionError, _Closed):
            self.reconnects += 1
            self.connect()
            return self._exchange(data)

    def call(self, op: str, payload: dict[str, Any]) -> dict[str, Any]:
        """``request`` with JSON in and out; raises ``DynamoCallError`` on a non-200 reply."""
        reply = self.request(op, orjson.dumps(payload))
        if reply.status != 200:
            raise DynamoCallError(reply.status, reply.body)
        result: dict[str, Any] = orjson.loads(reply.body)
        return result

    def _exchange(self, data: bytes) -> Reply:
        sock = self.sock
        assert sock is not None
        sent = sock.send(data)  # one send is the common case; gevent's sendall costs ~10% of a generator
        if sent < len(data):
            sock.sendall(data[sent:])
        parser = ResponseParser()  # the client wrapper's parser: one HTTP/1.1 reader in the project
        resp = None
        started = False
        while resp is None:
            chunk = sock.recv(65536)
            if not chunk:
                resp = parser.feed_eof()
                if resp is None:  # closed before any byte: the server dropped an idle keep-alive connection
                    raise ConnectionResetError("connection closed mid-reply") if started else _Closed()
                break
            started = True
            resp = parser.feed(chunk)
        if not resp.keep_alive:
            self.close()
        return Reply(resp.status, resp.headers, resp.body)


class _Closed(Exception):
    """The peer closed a kept-alive connection before answering: safe to resend once."""


def create_tables(conn: Connection, tables: Iterable[dict[str, Any]], timeout: float = 120.0) -> None:
    """Create each table unless it exists (idempotent), then wait until every one is ACTIVE."""
    names = []
    for spec in tables:
        names.append(spec["TableName"])
        try:
            conn.call("CreateTable", spec)
        except DynamoCallError as exc:
            if exc.type != "ResourceInUseException":
                raise
    deadline = time.monotonic() + timeout
    for name in names:
        while conn.call("DescribeTable", {"TableName": name})["Table"]["TableStatus"] != "ACTIVE":
            if time.monotonic() > deadline:
                raise TimeoutError(f"table {name} is not ACTIVE after {timeout}s")
            time.sleep(0.5)


def write_items(conn: Connection, table: str, items: Iterable[dict[str, Any]], progress: Any = None,
                batch: int = 25) -> int:
    """BatchWriteItem ``items`` in groups of 25, resending unprocessed ones; returns the count written."""
    written = 0
    pending: list[dict[str, Any]] = []

    def flush() -> None:
        nonlocal written
        requests = [{"PutRequest": {"Item": item}} for item in pending]
        delay = 0.01
        while requests:
            left = conn.call("BatchWriteItem", {"RequestItems": {table: requests}}).get("UnprocessedItems") or {}
            done = len(requests) - len(left.get(table, []))
            requests = left.get(table, [])
            if progress is not None and done:
                progress.update(done)
            if requests:
                time.sleep(delay)
                delay = min(delay * 2, 1.0)
        written += len(pending)
        pending.clear()

    for item in items:
        pending.append(item)
        if len(pending) == batch:
            flush()
    if pending:
        flush()
    return written
