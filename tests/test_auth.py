"""Optional SigV4 checking: boto3 and our client pass with a configured key; everything else gets
DynamoDB's authentication errors, and health checks stay open."""

from __future__ import annotations

import json
import socket
import time
from typing import Any

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from accelerator.auth import SigV4Verifier
from accelerator.core.errors import DynamoError
from tests.server_process import ServerProcess

KEY, SECRET = "AKIDACCELTEST", "s3cr3t/key+value"


def _signed(secret: str = SECRET, key: str = KEY, body: bytes = b"{}") -> tuple[dict[bytes, bytes], bytes]:
    request = AWSRequest(method="POST", url="http://127.0.0.1:8111/", data=body, headers={
        "X-Amz-Target": "DynamoDB_20120810.ListTables", "Content-Type": "application/x-amz-json-1.0"})
    SigV4Auth(Credentials(key, secret), "dynamodb", "us-east-1").add_auth(request)
    headers = {k.lower().encode(): v.encode() if isinstance(v, str) else v for k, v in request.headers.items()}
    headers[b"host"] = b"127.0.0.1:8111"
    return headers, body


def _error(verifier: SigV4Verifier, headers: dict[bytes, bytes], body: bytes) -> str:
    with pytest.raises(DynamoError) as exc:
        verifier.verify(b"POST", b"/", headers, body)
    return exc.value.type_name


def test_verifier_accepts_botocore_signatures_and_rejects_the_rest() -> None:
    verifier = SigV4Verifier({KEY: SECRET})
    headers, body = _signed()
    verifier.verify(b"POST", b"/", headers, body)
    assert _error(verifier, *_signed(secret="wrong")) == "InvalidSignatureException"
    assert _error(verifier, *_signed(key="AKIDUNKNOWN")) == "UnrecognizedClientException"
    assert _error(verifier, {k: v for k, v in headers.items() if k != b"authorization"}, body) == \
        "MissingAuthenticationTokenException"
    assert _error(verifier, headers, b'{"Limit": 1}') == "InvalidSignatureException", "the body is signed"
    late = SigV4Verifier({KEY: SECRET}, clock=lambda: time.time() + 3600)
    assert _error(late, headers, body) == "InvalidSignatureException"


@pytest.fixture(scope="module")
def secured() -> Any:
    proc = ServerProcess({"kind": "memory"}, server={"auth": "sigv4", "credentials": {KEY: SECRET}}).start()
    yield proc
    proc.stop()


def _client(url: str, key: str = KEY, secret: str = SECRET) -> Any:
    return boto3.client("dynamodb", endpoint_url=url, region_name="us-east-1", aws_access_key_id=key,
                        aws_secret_access_key=secret, config=Config(retries={"max_attempts": 1}))


def test_signed_clients_work_others_are_refused(secured: ServerProcess) -> None:
    good = _client(secured.url)
    good.create_table(TableName="secure", BillingMode="PAY_PER_REQUEST",
                      KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                      AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
    good.put_item(TableName="secure", Item={"pk": {"S": "a"}})
    assert good.get_item(TableName="secure", Key={"pk": {"S": "a"}})["Item"] == {"pk": {"S": "a"}}
    from accelerator.client import AcceleratorClient

    ours = AcceleratorClient(secured.url, region_name="us-east-1", aws_access_key_id=KEY,
                             aws_secret_access_key=SECRET)
    assert ours.get_item(TableName="secure", Key={"pk": {"S": "a"}})["Item"] == {"pk": {"S": "a"}}
    ours.close()
    for client, code in ((_client(secured.url, secret="nope"), "InvalidSignatureException"),
                         (_client(secured.url, key="AKIDOTHER"), "UnrecognizedClientException")):
        with pytest.raises(client.exceptions.ClientError) as exc:
            client.get_item(TableName="secure", Key={"pk": {"S": "a"}})
        assert exc.value.response["Error"]["Code"] == code
    with socket.create_connection(("127.0.0.1", secured.port), timeout=5) as s:
        s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: DynamoDB_20120810.ListTables\r\n"
                  b"Content-Length: 2\r\n\r\n{}")
        answer = s.recv(65536)
    assert b" 400 " in answer.split(b"\r\n", 1)[0]
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["__type"].endswith("MissingAuthenticationTokenException")
    with socket.create_connection(("127.0.0.1", secured.port), timeout=5) as s:
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert s.recv(65536).startswith(b"HTTP/1.1 200")


def test_admin_routes_ask_the_policy_hook_and_the_principal_is_set() -> None:
    """The policy decision for admin routes is pluggable; a refusal is DynamoDB's AccessDeniedException."""
    import asyncio
    import types

    from accelerator.api import Router
    from accelerator.auth import PRINCIPAL
    from accelerator.server import Reply, Server

    asked: list[tuple[str, str, str]] = []

    def authorize(principal: str, action: str, resource: str) -> bool:
        asked.append((principal, action, resource))
        return action != "test:Flush"

    async def handler(rest: bytes | None = None) -> Reply:
        return 200, b"text/plain", b"", str(PRINCIPAL.get()).encode()

    server = Server(Router(types.SimpleNamespace(call=None)),  # a router with no store: no data plane used
                    extra_routes={(b"GET", b"/admin/x"): ("test:Describe", handler),
                                  (b"POST", b"/admin/flush/"): ("test:Flush", handler)},
                    verifier=SigV4Verifier({KEY: SECRET}), authorize=authorize)

    def call(method: str, path: str) -> Reply:
        request = AWSRequest(method=method, url=f"http://127.0.0.1:8111{path}", data=b"")
        SigV4Auth(Credentials(KEY, SECRET), "dynamodb", "us-east-1").add_auth(request)
        headers = {k.lower().encode(): v.encode() if isinstance(v, str) else v for k, v in request.headers.items()}
        headers[b"host"] = b"127.0.0.1:8111"
        return asyncio.run(server.dispatch(method.encode(), path.encode(), b"", b"", headers))

    status, _, _, body = call("GET", "/admin/x")
    assert (status, body) == (200, KEY.encode())
    status, _, _, body = call("POST", "/admin/flush/sessions")
    assert status == 400 and json.loads(body) == {
        "__type": "com.amazon.coral.service#AccessDeniedException",
        "message": f"User: arn:aws:iam::000000000000:user/{KEY} is not authorized to perform: test:Flush on "
                   "resource: arn:aws:dynamodb:ddblocal:000000000000:table/sessions"}
    assert asked == [(KEY, "test:Describe", "*"),
                     (KEY, "test:Flush", "arn:aws:dynamodb:ddblocal:000000000000:table/sessions")]


@pytest.mark.parametrize("path", ["/admin/cache/tables/my%20table", "/admin/cache/tables/%C3%A9t%C3%A9",
                                  "/admin/cache/flush/a~b", "/x?b=2&a=b%20c&z=%2F", "/"])
def test_encoded_paths_and_queries_are_canonical_as_aws_does(path: str) -> None:
    """Outside S3 the canonical URI encodes the path as sent once more (% becomes %25): botocore, our signer
    and the verifier agree on it."""
    from accelerator.client.sigv4 import Credentials as OurCredentials
    from accelerator.client.sigv4 import SigV4Signer

    verifier = SigV4Verifier({KEY: SECRET})
    request = AWSRequest(method="GET", url=f"http://127.0.0.1:8111{path}", data=b"")
    SigV4Auth(Credentials(KEY, SECRET), "dynamodb", "us-east-1").add_auth(request)
    headers = {k.lower().encode(): v.encode() if isinstance(v, str) else v for k, v in request.headers.items()}
    headers[b"host"] = b"127.0.0.1:8111"
    assert verifier.verify(b"GET", path.encode(), headers, b"") == KEY
    ours = SigV4Signer(OurCredentials(KEY, SECRET), "us-east-1").sign(
        "127.0.0.1:8111", {}, b"", amz_date=request.headers["X-Amz-Date"], method="GET", path=path)
    assert ours["Authorization"] == request.headers["Authorization"]
    with pytest.raises(DynamoError):  # the same signature does not cover another path
        verifier.verify(b"GET", path.replace("a", "b", 1).encode() if "a" in path else b"/other", headers, b"")
