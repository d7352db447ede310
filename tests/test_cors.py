"""CORS for browser clients: off by default, DynamoDB's answers for configured origins, none for others."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from typing import Any

import pytest

from accelerator.config import ConfigError, ServerConfig
from tests.server_process import ServerProcess

_CORS = ("access-control-allow-origin", "access-control-expose-headers", "access-control-max-age",
         "access-control-allow-methods", "access-control-allow-headers")


def _request(srv: ServerProcess, method: str, headers: dict[str, str], body: bytes | None = None,
             target: str = "ListTables") -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    try:
        if method == "POST":
            headers = {"X-Amz-Target": "DynamoDB_20120810." + target, "Content-Type": "application/x-amz-json-1.0",
                       **headers}
        conn.request(method, "/", body=body if body is not None else (b"{}" if method == "POST" else None),
                     headers=headers)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def listed() -> Iterator[ServerProcess]:
    proc = ServerProcess({"kind": "memory"}, server={"cors_origins": ["https://app.example.com"]}).start()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def anyone() -> Iterator[ServerProcess]:
    proc = ServerProcess({"kind": "sqlite"}, server={"cors_origins": ["*"]}).start()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def off() -> Iterator[ServerProcess]:
    proc = ServerProcess({"kind": "memory"}).start()
    yield proc
    proc.stop()


_PREFLIGHT = {"Origin": "https://app.example.com", "Access-Control-Request-Method": "POST",
              "Access-Control-Request-Headers": "content-type, x-amz-target, x-amz-date, authorization"}


def test_preflight_allowed_origin(listed: ServerProcess) -> None:
    status, headers, body = _request(listed, "OPTIONS", _PREFLIGHT)
    assert (status, body) == (200, b"")
    assert headers["access-control-allow-origin"] == "https://app.example.com"
    assert headers["vary"] == "Origin"
    assert headers["access-control-allow-methods"] == "POST"
    assert headers["access-control-allow-headers"] == "content-type, x-amz-target, x-amz-date, authorization"
    assert headers["access-control-max-age"] == "172800"
    assert "x-amzn-RequestId" in headers["access-control-expose-headers"]


def test_actual_requests_carry_allow_origin(listed: ServerProcess) -> None:
    for target, body, status in (("ListTables", b"{}", 200), ("GetItem", b"{}", 400), ("ListTables", b"{x", 400)):
        got, headers, answer = _request(listed, "POST", {"Origin": "https://app.example.com"}, body, target)
        assert got == status, answer
        assert headers["access-control-allow-origin"] == "https://app.example.com"
        assert "access-control-expose-headers" in headers
        assert "access-control-max-age" not in headers and "access-control-allow-methods" not in headers
    assert json.loads(_request(listed, "POST", {"Origin": "https://app.example.com"})[2])["TableNames"] == []


def test_other_origin_or_no_origin_gets_no_cors_headers(listed: ServerProcess) -> None:
    for method, headers in (("OPTIONS", {**_PREFLIGHT, "Origin": "https://evil.example.com"}),
                            ("POST", {"Origin": "https://evil.example.com"}), ("POST", {}), ("OPTIONS", {}),
                            ("GET", {"Origin": "https://evil.example.com"})):
        _, got, _ = _request(listed, method, headers)
        assert not set(_CORS) & set(got), (method, headers, got)


def test_any_origin_is_star_as_dynamodb(anyone: ServerProcess) -> None:
    status, headers, _ = _request(anyone, "OPTIONS", {**_PREFLIGHT, "Origin": "http://localhost:3000"})
    assert status == 200 and headers["access-control-allow-origin"] == "*" and "vary" not in headers
    _, headers, _ = _request(anyone, "POST", {"Origin": "http://localhost:3000"})
    assert headers["access-control-allow-origin"] == "*"
    _, headers, _ = _request(anyone, "GET", {"Origin": "http://localhost:3000"})  # the health check too
    assert headers["access-control-allow-origin"] == "*"


def test_off_by_default(off: ServerProcess) -> None:
    status, headers, _ = _request(off, "OPTIONS", _PREFLIGHT)
    assert status != 200 and not set(_CORS) & set(headers)
    _, headers, _ = _request(off, "POST", {"Origin": "https://app.example.com"})
    assert not set(_CORS) & set(headers)


@pytest.mark.parametrize("value", [[""], [5], "https://app.example.com"])
def test_bad_cors_origins_config(value: Any) -> None:
    with pytest.raises(ConfigError, match="cors_origins"):
        ServerConfig(cors_origins=value)
