"""Raw HTTP/1.1 over one keep-alive socket, and requests signed by botocore, for the SigV4 and TLS wire tests.

Raw on purpose: the tests send forms no client would (headers dropped or forged, a body swapped under a
signature) and read pipelined answers back to back, which the client's one-request-at-a-time parser
(``accelerator.client.http11``) does not; answers are framed by Content-Length, as the server always sends.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import socket
import ssl
from collections.abc import Iterator
from typing import Any
from unittest import mock

import botocore.auth
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

__all__ = ["KEY", "SECRET", "Answer", "Wire", "signed", "skewed"]

KEY, SECRET = "AKIDWIRETEST", "wire/secret+key"


class Answer:
    """One HTTP response: status, lower-cased headers, body (and its JSON, if any)."""

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def type(self) -> str:
        """The DynamoDB error type without its namespace."""
        return str(self.json["__type"]).rpartition("#")[2]

    @property
    def message(self) -> str:
        return str(self.json.get("message", ""))


class Wire:
    """A keep-alive connection that sends raw requests and reads Content-Length framed answers."""

    def __init__(self, port: int, context: ssl.SSLContext | None = None) -> None:
        raw = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock = context.wrap_socket(raw, server_hostname="localhost") if context else raw
        self.buffer = b""

    def _read_until(self, marker: bytes) -> bytes:
        while marker not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed by the server")
            self.buffer += chunk
        head, _, self.buffer = self.buffer.partition(marker)
        return head

    def _read(self, n: int) -> bytes:
        while len(self.buffer) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed by the server")
            self.buffer += chunk
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def send(self, raw: bytes) -> None:
        self.sock.sendall(raw)

    def answer(self) -> Answer:
        head = self._read_until(b"\r\n\r\n").decode("latin-1").split("\r\n")
        headers = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        return Answer(int(head[0].split()[1]), headers, self._read(int(headers.get("content-length", "0"))))

    def request(self, method: str, path: str, headers: dict[str, str], body: bytes = b"") -> Answer:
        lines = [f"{method} {path} HTTP/1.1"] + [f"{k}: {v}" for k, v in headers.items()]
        if not any(k.lower() == "content-length" for k in headers):
            lines.append(f"Content-Length: {len(body)}")
        self.send(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        return self.answer()

    def close(self) -> None:
        self.sock.close()


def signed(port: int, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None,
           key: str = KEY, secret: str = SECRET, region: str = "us-east-1", service: str = "dynamodb",
           scheme: str = "http", unsigned_payload: bool = False) -> dict[str, str]:
    """The headers botocore sends for this request, signature included (Host as the wire carries it)."""
    request = AWSRequest(method=method, url=f"{scheme}://127.0.0.1:{port}{path}", data=body,
                         headers=dict(headers or {}))
    if unsigned_payload:
        request.context["payload_signing_enabled"] = False
    SigV4Auth(Credentials(key, secret), service, region).add_auth(request)
    out = {k: v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()}
    out["Host"] = f"127.0.0.1:{port}"
    return out


def dynamo_headers(operation: str) -> dict[str, str]:
    return {"X-Amz-Target": f"DynamoDB_20120810.{operation}", "Content-Type": "application/x-amz-json-1.0"}


@contextlib.contextmanager
def skewed(seconds: float) -> Iterator[None]:
    """botocore signs as if its clock were ``seconds`` off."""
    now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None) + datetime.timedelta(seconds=seconds)
    with mock.patch.object(botocore.auth, "get_current_datetime", lambda: now):
        yield
