"""HTTPS with [server] tls_cert/tls_key: a real server process with a certificate signed by a throwaway CA;
boto3, the AWS CLI, the project's client and the admin CLI verify it; keep-alive and pipelining work as on plain
HTTP; TLS below 1.2 and plain HTTP are refused without harming the server; a bad certificate or key is one
startup line."""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import sys
import urllib.request
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from tests.server_process import ROOT, ServerProcess, write_config
from tests.sigv4_wire import KEY, SECRET, Wire, dynamo_headers, signed
from tests.tls_certs import make_ca_and_server_cert

TABLE = "tls_t"


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    return make_ca_and_server_cert(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def https(certs: tuple[Path, Path, Path]) -> Iterator[ServerProcess]:
    _, cert, key = certs
    proc = ServerProcess({"kind": "memory"}, server={
        "tls_cert": str(cert), "tls_key": str(key), "auth": "sigv4", "credentials": {KEY: SECRET}}).start()
    yield proc
    proc.stop()


def _client_context(ca: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca))


def _boto(url: str, ca: Path) -> Any:
    return boto3.client("dynamodb", endpoint_url=url, region_name="us-east-1", aws_access_key_id=KEY,
                        aws_secret_access_key=SECRET, verify=str(ca), config=Config(retries={"max_attempts": 1}))


def test_boto3_over_https_verifies_the_certificate(https: ServerProcess, certs: tuple[Path, Path, Path]) -> None:
    ca = certs[0]
    client = _boto(f"https://localhost:{https.port}", ca)
    client.create_table(TableName=TABLE, BillingMode="PAY_PER_REQUEST",
                        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
    client.put_item(TableName=TABLE, Item={"pk": {"S": "a"}, "v": {"S": "1"}})
    for _ in range(2):  # a miss, then a hit: both over the same TLS connection
        assert client.get_item(TableName=TABLE, Key={"pk": {"S": "a"}})["Item"]["v"] == {"S": "1"}
    untrusted = boto3.client("dynamodb", endpoint_url=https.url, region_name="us-east-1", aws_access_key_id=KEY,
                             aws_secret_access_key=SECRET, config=Config(retries={"max_attempts": 1}))
    from botocore.exceptions import SSLError

    with pytest.raises(SSLError):  # the system's CAs do not trust the test CA
        untrusted.list_tables()


def test_the_projects_client_and_admin_cli_over_https(https: ServerProcess, certs: tuple[Path, Path, Path]) -> None:
    from accelerator.client import AcceleratorClient

    with AcceleratorClient(https.url, region_name="us-east-1", aws_access_key_id=KEY, aws_secret_access_key=SECRET,
                           ssl_context=_client_context(certs[0])) as ours:
        ours.put_item(TableName=TABLE, Item={"pk": {"S": "ours"}})
        assert ours.get_item(TableName=TABLE, Key={"pk": {"S": "ours"}})["Item"] == {"pk": {"S": "ours"}}
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    run = subprocess.run([sys.executable, "-m", "accelerator.cli", "cache", "stats", "--url", https.url,
                          "--ca-file", str(certs[0]), "--access-key", KEY, "--secret-key", SECRET],
                         env=env, capture_output=True, text=True, timeout=30, cwd=ROOT)
    assert run.returncode == 0 and "item_hits" in json.loads(run.stdout), run.stderr


def test_aws_cli_over_https(https: ServerProcess, certs: tuple[Path, Path, Path]) -> None:
    aws = Path(sys.executable).with_name("aws")
    if not aws.exists():
        pytest.skip("the AWS CLI is not installed in this environment")
    env = {**os.environ, "AWS_ACCESS_KEY_ID": KEY, "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}
    run = subprocess.run([str(aws), "dynamodb", "list-tables", "--endpoint-url", https.url, "--ca-bundle",
                          str(certs[0])], env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and TABLE in json.loads(run.stdout)["TableNames"], run.stderr


def test_keep_alive_and_pipelining_over_tls(https: ServerProcess, certs: tuple[Path, Path, Path]) -> None:
    wire = Wire(https.port, _client_context(certs[0]))
    try:
        body = json.dumps({"TableName": TABLE, "Key": {"pk": {"S": "a"}}}).encode()
        requests = []
        for _ in range(5):  # five signed requests in one write: answered in order on the one connection
            headers = signed(https.port, "POST", "/", body, dynamo_headers("GetItem"), scheme="https")
            head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
            requests.append(f"POST / HTTP/1.1\r\n{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
        wire.send(b"".join(requests))
        answers = [wire.answer() for _ in range(5)]
        assert [a.status for a in answers] == [200] * 5
        assert all(a.json["Item"]["v"] == {"S": "1"} for a in answers)
        unsigned = wire.request("GET", "/admin/cache", {"Host": "localhost"})
        assert unsigned.type == "MissingAuthenticationTokenException"
        assert wire.request("GET", "/health", {"Host": "localhost"}).status == 200  # still the same connection
    finally:
        wire.close()


def test_plain_http_and_old_tls_are_refused_cleanly(https: ServerProcess, certs: tuple[Path, Path, Path]) -> None:
    with socket.create_connection(("127.0.0.1", https.port), timeout=10) as plain:
        plain.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            answer = plain.recv(65536)
        except ConnectionResetError:
            answer = b""
        assert not answer.startswith(b"HTTP/1.1 200")  # no plain-text answer: a TLS alert or a close
    old = _client_context(certs[0])
    old.set_ciphers("DEFAULT:@SECLEVEL=0")  # this client would speak TLS 1.1: the server ends the handshake
    old.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        old.maximum_version = ssl.TLSVersion.TLSv1_1
    with socket.create_connection(("127.0.0.1", https.port), timeout=10) as raw, \
            pytest.raises(ssl.SSLError, match="PROTOCOL_VERSION|UNEXPECTED_EOF"):
        old.wrap_socket(raw, server_hostname="localhost")
    assert _health(https, certs[0]) == 200  # the server is unharmed
    negotiated = _client_context(certs[0])
    with socket.create_connection(("127.0.0.1", https.port), timeout=10) as raw, \
            negotiated.wrap_socket(raw, server_hostname="localhost") as tls:
        assert tls.version() in ("TLSv1.2", "TLSv1.3")


def _health(proc: ServerProcess, ca: Path) -> int:
    with urllib.request.urlopen(proc.url + "/health", timeout=10, context=_client_context(ca)) as response:
        return int(response.status)


@pytest.mark.parametrize("problem", ["missing", "not-pem", "wrong-key"])
def test_a_bad_certificate_or_key_is_one_startup_line(tmp_path: Path, certs: tuple[Path, Path, Path],
                                                       problem: str) -> None:
    ca, cert, key = certs
    if problem == "missing":
        cert = tmp_path / "nope.pem"
    elif problem == "not-pem":
        cert = tmp_path / "garbage.pem"
        cert.write_text("not a certificate\n")
    else:
        key = make_ca_and_server_cert(tmp_path)[2]  # another key than the certificate's
    config = write_config(tmp_path / "c.toml", {"server": {"port": 0, "tls_cert": str(cert), "tls_key": str(key)},
                                                "backend": {"kind": "memory"}})
    run = subprocess.run([sys.executable, "-m", "accelerator.cli", "serve", "--config", str(config)],
                         capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in run.stderr, run.stderr
    assert lines[0].startswith("accelerator: error: [server] tls_cert") and str(cert) in lines[0]


def test_half_a_tls_config_is_refused(tmp_path: Path, certs: tuple[Path, Path, Path]) -> None:
    config = write_config(tmp_path / "c.toml", {"server": {"port": 0, "tls_cert": str(certs[1])},
                                                "backend": {"kind": "memory"}})
    run = subprocess.run([sys.executable, "-m", "accelerator.cli", "serve", "--config", str(config)],
                         capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert run.returncode == 2 and len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert run.stderr.startswith("accelerator: error: ") and run.stderr.strip().endswith(
        "[server] tls_cert and tls_key go together (PEM certificate chain and private key)")
