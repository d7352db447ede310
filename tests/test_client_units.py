"""Unit tests of the client's I/O-free parts: SigV4 (against botocore's own signer), the HTTP parser, value
conversion (against boto3's), conditions, error classes, endpoint selection and health."""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any
from unittest import mock

import botocore.auth
import botocore.credentials
import botocore.exceptions
import pytest
from boto3.dynamodb.types import TypeDeserializer as BotoDeserializer
from boto3.dynamodb.types import TypeSerializer as BotoSerializer
from botocore.awsrequest import AWSRequest

import accelerator.client as client_pkg
from accelerator.client import (
    AcceleratorClient,
    AsyncAcceleratorClient,
    Attr,
    ClientError,
    Credentials,
    Key,
    ProtocolError,
    SigV4Signer,
    deserialize_item,
    serialize,
    serialize_item,
)
from accelerator.client.conditions import build_expression
from accelerator.client.endpoints import EndpointSet
from accelerator.client.errors import error_class
from accelerator.client.http11 import ResponseParser
from accelerator.client.table import prepare


@pytest.mark.parametrize("token", [None, "session-token/with+chars="])
@pytest.mark.parametrize("host", ["127.0.0.1:8111", "dynamodb.eu-west-1.amazonaws.com"])
def test_sigv4_matches_botocore(token: str | None, host: str) -> None:
    body = b'{"TableName":"t","Key":{"pk":{"S":"a b"}}}'
    target = "DynamoDB_20120810.GetItem"
    when = datetime.datetime(2024, 5, 17, 12, 34, 56)
    ours = SigV4Signer(Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token), "eu-west-1")
    added = ours.sign(host, {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": target}, body,
                      amz_date=when.strftime("%Y%m%dT%H%M%SZ"))  # fmt: skip

    scheme = "http" if host.startswith("127") else "https"
    request = AWSRequest(method="POST", url=f"{scheme}://{host}/", data=body, headers={
        "Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": target})  # fmt: skip
    creds = botocore.credentials.Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token)
    with mock.patch.object(botocore.auth, "get_current_datetime", return_value=when):
        botocore.auth.SigV4Auth(creds, "dynamodb", "eu-west-1").add_auth(request)
    assert added["Authorization"] == request.headers["Authorization"]
    assert added["X-Amz-Date"] == request.headers["X-Amz-Date"]
    assert added.get("X-Amz-Security-Token") == request.headers.get("X-Amz-Security-Token")


def test_client_sends_a_signature_botocore_agrees_with() -> None:
    client = AcceleratorClient("http://127.0.0.1:9", aws_access_key_id="AK", aws_secret_access_key="SK",
                               region_name="us-west-2")  # fmt: skip
    core = client._core
    ep = core.endpoints.all[0]
    from accelerator.client.core import OPERATIONS

    raw = core.encode(ep, OPERATIONS["put_item"], b"{}")
    head, _, body = raw.partition(b"\r\n\r\n")
    headers = dict(line.split(": ", 1) for line in head.decode().split("\r\n")[1:])
    assert headers["Host"] == "127.0.0.1:9" and body == b"{}"
    when = datetime.datetime.strptime(headers["X-Amz-Date"], "%Y%m%dT%H%M%SZ")
    request = AWSRequest(method="POST", url="http://127.0.0.1:9/", data=body, headers={
        "Content-Type": headers["Content-Type"], "X-Amz-Target": headers["X-Amz-Target"]})  # fmt: skip
    with mock.patch.object(botocore.auth, "get_current_datetime", return_value=when):
        botocore.auth.SigV4Auth(botocore.credentials.Credentials("AK", "SK"), "dynamodb", "us-west-2").add_auth(request)
    assert headers["Authorization"] == request.headers["Authorization"]


def _feed_all(parser: ResponseParser, raw: bytes, step: int) -> Any:
    resp = None
    for i in range(0, len(raw), step):
        resp = parser.feed(raw[i : i + step])
        if resp is not None:
            return resp
    return parser.feed_eof()


@pytest.mark.parametrize("step", [1, 3, 7, 10_000])
def test_parser_content_length_chunked_and_close(step: int) -> None:
    plain = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\nx-a: 2\r\n\r\nhello"
    resp = _feed_all(ResponseParser(), plain, step)
    assert (resp.status, resp.body, resp.keep_alive, resp.headers["x-a"]) == (200, b"hello", True, "1, 2")
    chunked = (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 400 Bad\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"4;ext=1\r\nwiki\r\n6\r\npedia \r\n0\r\nTrailer: x\r\n\r\n")  # fmt: skip
    resp = _feed_all(ResponseParser(), chunked, step)
    assert (resp.status, resp.body, resp.keep_alive) == (400, b"wikipedia ", True)
    to_close = b"HTTP/1.0 200 OK\r\nContent-Type: x\r\n\r\nuntil the end"
    resp = _feed_all(ResponseParser(), to_close, step)
    assert (resp.body, resp.keep_alive) == (b"until the end", False)
    closing = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    assert _feed_all(ResponseParser(), closing, step).keep_alive is False


def test_parser_rejects_garbage_and_short_bodies() -> None:
    with pytest.raises(ProtocolError):
        ResponseParser().feed(b"SSH-2.0-OpenSSH\r\n\r\n")
    parser = ResponseParser()
    assert parser.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc") is None
    assert parser.feed_eof() is None  # cut short: the caller raises ConnectionClosed


SAMPLES: list[Any] = [
    "text", "", 0, -17, 2**70, Decimal("1.50"), Decimal("-1E-130"), True, False, None, b"\x00\x01",
    {"a": [1, "b", None]}, ["x", {"y": {"z": Decimal("2")}}], {"a", "b"}, {Decimal(1), Decimal("2.5")},
    {b"x", b"y"},
]  # fmt: skip


@pytest.mark.parametrize("value", SAMPLES, ids=repr)
def test_serialize_agrees_with_boto3(value: Any) -> None:
    ours, theirs = serialize(value), BotoSerializer().serialize(value)

    def norm(av: Any) -> Any:
        if isinstance(av, dict):
            return {k: sorted(map(norm, v), key=repr) if k in ("SS", "NS", "BS") else norm(v) for k, v in av.items()}
        if isinstance(av, list):
            return [norm(v) for v in av]
        return bytes(av) if hasattr(av, "value") else av

    assert norm(ours) == norm(theirs)
    back = deserialize_item({"v": theirs})["v"]
    boto_back = BotoDeserializer().deserialize(theirs)
    if isinstance(boto_back, set):
        boto_back = {bytes(x) if hasattr(x, "value") else x for x in boto_back}
    elif hasattr(boto_back, "value"):
        boto_back = bytes(boto_back)
    assert back == boto_back


def test_serialize_floats_exactly_and_refuses_the_unstorable() -> None:
    assert serialize(0.1) == {"N": "0.1"} and serialize(1e300) == {"N": "1e+300"}
    for bad in (float("nan"), Decimal("Infinity"), set(), object()):
        with pytest.raises((TypeError, ValueError)):
            serialize(bad)


def test_conditions_build_expressions_with_placeholders() -> None:
    names: dict[str, str] = {"#n0": "taken"}
    values: dict[str, Any] = {}
    cond = (Key("pk").eq("p") & Key("sk").between(1, 5)) | ~Attr("a.b[2]").exists() & Attr("n").size().gt(3)
    text = build_expression(cond, names, values)
    assert text == "((#n1 = :v0 AND #n2 BETWEEN :v1 AND :v2) OR ((NOT attribute_exists(#n3.#n4[2])) AND size(#n5) > :v3))"
    assert names == {"#n0": "taken", "#n1": "pk", "#n2": "sk", "#n3": "a", "#n4": "b", "#n5": "n"}
    assert values == {":v0": "p", ":v1": 1, ":v2": 5, ":v3": 3}
    text = build_expression(Attr("t").is_in(["x", "y"]) & Attr("s").begins_with("ab"), {}, {})
    assert text == "(#n0 IN (:v0, :v1) AND begins_with(#n1, :v2))"


def test_table_prepare_converts_values_and_conditions() -> None:
    params = prepare("t", {"Key": {"pk": 1}, "ConditionExpression": Attr("v").ne(b"x"),
                           "ExpressionAttributeValues": {":o": {1}}})  # fmt: skip
    assert params["TableName"] == "t" and params["Key"] == {"pk": {"N": "1"}}
    assert params["ConditionExpression"] == "#n0 <> :v1"
    assert params["ExpressionAttributeValues"] == {":o": {"NS": ["1"]}, ":v1": {"B": b"x"}}
    assert serialize_item({"a": "b"}) == {"a": {"S": "b"}}


def test_crc32_mismatch_is_retried_for_reads_only() -> None:
    from accelerator.client.core import OPERATIONS
    from accelerator.client.http11 import Response

    client = AcceleratorClient("http://127.0.0.1:9", sign=False)
    core, ep = client._core, client._core.endpoints.all[0]
    bad = Response(200, {"x-amz-crc32": "1"}, b"{}", True)
    with pytest.raises(ProtocolError) as info:
        core.decode(OPERATIONS["get_item"], ep, bad, 0)
    assert core.retry_delay(OPERATIONS["get_item"], ep, info.value, 0) is not None
    assert core.retry_delay(OPERATIONS["put_item"], ep, info.value, 0) is None
    good = Response(200, {"x-amz-crc32": "2745614147"}, b"{}", True)
    assert core.decode(OPERATIONS["get_item"], ep, good, 0)["ResponseMetadata"]["HTTPStatusCode"] == 200
    unchecked = AcceleratorClient("http://127.0.0.1:9", sign=False, verify_crc32=False)._core
    assert unchecked.decode(OPERATIONS["get_item"], ep, bad, 0)["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_error_classes_are_shared_and_botocore_compatible() -> None:
    cls = AcceleratorClient.exceptions.ConditionalCheckFailedException
    assert cls is error_class("ConditionalCheckFailedException") is AcceleratorClient.exceptions.from_code(
        "ConditionalCheckFailedException"
    )
    assert issubclass(cls, botocore.exceptions.ClientError) and ClientError is botocore.exceptions.ClientError
    assert AcceleratorClient.exceptions.ClientError is botocore.exceptions.ClientError
    err = AcceleratorClient.exceptions.SomethingNew({"Error": {"Code": "SomethingNew", "Message": "m"}}, "Op")
    assert str(err) == "An error occurred (SomethingNew) when calling the Op operation: m"


def test_endpoint_health_and_selection_with_a_fake_clock() -> None:
    now = [0.0]
    probes: list[str] = []
    eps = EndpointSet(["http://a:1", "http://b:2", "http://c:3"], probe_interval=1.0, clock=lambda: now[0])
    eps.start_probe = lambda ep: probes.append(ep.url)
    a, b, c = eps.all
    assert [eps.pick(read=True) for _ in range(3)] == [a, b, c] and eps.pick(read=False) is a
    eps.mark_down(a)
    assert {eps.pick(read=True) for _ in range(4)} == {b, c} and eps.pick(read=False) is b
    assert eps.pick(read=True, avoid=b) is c
    now[0] = 0.5
    eps.pick(read=True)
    assert probes == []  # not due yet
    now[0] = 1.0
    eps.pick(read=True)
    eps.pick(read=True)
    assert probes == ["http://a:1"]  # one probe at a time
    eps.probe_done(a, ok=False)  # down again, for twice as long
    assert a.retry_at == 3.0
    eps.probe_done(a, ok=True)
    assert eps.pick(read=False) is a
    for ep in eps.all:
        eps.mark_down(ep)
    assert eps.pick(read=True) in eps.all  # all down: still try one


def test_endpoint_host_header_leaves_out_default_ports() -> None:
    eps = EndpointSet(["http://h", "https://h:443", "https://h:8443", "http://[::1]:8000", "localhost:8111"])
    assert [ep.host_header for ep in eps.all] == ["h", "h", "h:8443", "[::1]:8000", "localhost:8111"]
    with pytest.raises(ValueError):
        EndpointSet(["ftp://x"])


def test_exported_members() -> None:
    exported = set(client_pkg.__all__)
    public = {name for name in vars(client_pkg) if not name.startswith("_")}
    modules = {name for name in public if type(getattr(client_pkg, name)).__name__ == "module"}
    assert exported == public - modules - {"annotations"}


def test_batch_writer_resends_unprocessed_items() -> None:
    from accelerator.client.table import BatchWriter

    sent: list[list[dict[str, Any]]] = []

    class FakeClient:
        def batch_write_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:  # noqa: N803
            batch = RequestItems["t"]
            sent.append(batch)
            # the first answer leaves its last two requests unprocessed
            return {"UnprocessedItems": {"t": batch[-2:]} if len(sent) == 1 else {}}

    with BatchWriter(FakeClient(), "t", flush_amount=5) as writer:
        for i in range(7):
            writer.put_item(Item={"pk": i})
    assert [len(batch) for batch in sent] == [5, 4]
    assert sorted(int(r["PutRequest"]["Item"]["pk"]["N"]) for batch in sent[1:] for r in batch) == [3, 4, 5, 6]


def test_sync_and_async_clients_have_the_same_surface() -> None:
    """Both clients inherit one constructor and one method per operation from ClientFacade; what each
    writes itself (transport, paginator, waiter, Table, health, close) must keep the same names."""
    import inspect

    from accelerator.client.core import OPERATIONS
    from accelerator.client.facade import ClientFacade

    def public(cls: type) -> set[str]:
        return {name for name in dir(cls) if not name.startswith("_")}

    assert set(OPERATIONS) <= public(ClientFacade)
    assert public(AcceleratorClient) == public(AsyncAcceleratorClient)
    assert AcceleratorClient.__init__ is AsyncAcceleratorClient.__init__ is ClientFacade.__init__
    assert AcceleratorClient(endpoint_url="http://127.0.0.1:9", sign=False)._transport.pool_size == 16
    aclient = AsyncAcceleratorClient(endpoint_url="http://127.0.0.1:9", sign=False)
    assert aclient._transport.pool_size == 64
    for name in OPERATIONS:
        assert not inspect.iscoroutinefunction(getattr(AcceleratorClient, name))
        pending = getattr(aclient, name)(TableName="t")
        assert inspect.iscoroutine(pending)  # awaited by the caller: nothing is sent until then
        pending.close()
