"""Transport behaviour: retries on throttling, timeouts, failover between endpoints, keep-alive, write safety.

The small loopback servers here are fault injectors written for these tests (tests/client_servers.py):
they answer chosen errors, hang, or drop the connection, so each failure mode is exact and fast.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from accelerator.client import (
    NO_RETRY,
    AcceleratorClient,
    AsyncAcceleratorClient,
    ConnectError,
    ConnectionClosed,
    ConnectTimeout,
    ReadTimeout,
    RetryPolicy,
)
from tests.client_servers import CREDENTIALS, LoopbackServer, free_port, server, server_kinds

FAST_RETRY = RetryPolicy(max_attempts=4, base=0.001, cap=0.01)
ITEM = {"Item": {"pk": {"S": "a"}}}
THROTTLED = (400, {"__type": "com.amazon.coral.service#ThrottlingException", "message": "Rate exceeded"})


def run(coro: Any) -> Any:
    return asyncio.run(coro)


@pytest.fixture
def injector() -> Iterator[Any]:
    servers: list[LoopbackServer] = []

    def make(answer: Any) -> LoopbackServer:
        srv = LoopbackServer(answer)
        servers.append(srv)
        return srv

    yield make
    for srv in servers:
        srv.close()


def throttle_then_ok(times: int) -> Any:
    count = {"n": 0}

    def answer(target: str, body: bytes) -> Any:
        count["n"] += 1
        return THROTTLED if count["n"] <= times else (200, ITEM)

    return answer


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_throttling_is_retried_until_success(injector: Any, flavour: str) -> None:
    srv = injector(throttle_then_ok(2))
    if flavour == "sync":
        resp = AcceleratorClient(srv.url, sign=False, retry_policy=FAST_RETRY).get_item(TableName="t", Key={})
    else:
        resp = run(AsyncAcceleratorClient(srv.url, sign=False, retry_policy=FAST_RETRY).get_item(TableName="t", Key={}))
    assert resp["Item"] == ITEM["Item"]
    assert resp["ResponseMetadata"]["RetryAttempts"] == 2
    assert len(srv.requests) == 3


def test_throttling_gives_up_after_max_attempts(injector: Any) -> None:
    srv = injector(throttle_then_ok(10))
    client = AcceleratorClient(srv.url, sign=False, retry_policy=RetryPolicy(max_attempts=2, base=0.001))
    with pytest.raises(client.exceptions.ThrottlingException) as info:
        client.put_item(TableName="t", Item={})
    assert info.value.response["ResponseMetadata"]["MaxAttemptsReached"] is True
    assert info.value.response["ResponseMetadata"]["RetryAttempts"] == 1
    assert len(srv.requests) == 2


def test_server_errors_retried_and_validation_not(injector: Any) -> None:
    answers = iter([(500, {"__type": "com.amazonaws.dynamodb.v20120810#InternalServerError", "message": "x"}),
                    (200, {}),
                    (400, {"__type": "com.amazon.coral.validate#ValidationException", "message": "bad"})])
    srv = injector(lambda target, body: next(answers))
    client = AcceleratorClient(srv.url, sign=False, retry_policy=FAST_RETRY)
    assert client.put_item(TableName="t", Item={})["ResponseMetadata"]["RetryAttempts"] == 1
    with pytest.raises(client.exceptions.ValidationException) as info:
        client.get_item(TableName="t", Key={})
    assert info.value.response["Error"] == {"Code": "ValidationException", "Message": "bad"}
    assert len(srv.requests) == 3


def test_backoff_is_full_jitter_and_capped() -> None:
    policy = RetryPolicy(base=0.1, cap=0.5, rand=lambda: 1.0)
    assert [policy.backoff(n) for n in range(5)] == [0.1, 0.2, 0.4, 0.5, 0.5]
    assert RetryPolicy(rand=lambda: 0.0).backoff(3) == 0.0
    assert not NO_RETRY.is_retryable("ValidationException", 400)
    assert NO_RETRY.is_retryable("ThrottlingException", 400) and NO_RETRY.is_retryable("Anything", 503)


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_read_timeout_on_a_server_that_never_answers(injector: Any, flavour: str) -> None:
    srv = injector(lambda target, body: None)
    kwargs: dict[str, Any] = {"sign": False, "read_timeout": 0.2, "retry_policy": RetryPolicy(max_attempts=2, base=0)}
    start = time.monotonic()
    with pytest.raises(ReadTimeout):
        if flavour == "sync":
            AcceleratorClient(srv.url, **kwargs).get_item(TableName="t", Key={})
        else:
            run(AsyncAcceleratorClient(srv.url, **kwargs).get_item(TableName="t", Key={}))
    assert time.monotonic() - start > 0.35  # both attempts waited out their timeout (a busy machine only adds)
    assert len(srv.requests) == 2  # a read is tried again


def test_a_write_that_timed_out_is_not_sent_again(injector: Any) -> None:
    srv = injector(lambda target, body: None)
    client = AcceleratorClient(srv.url, sign=False, read_timeout=0.2, retry_policy=FAST_RETRY)
    with pytest.raises(ReadTimeout):
        client.put_item(TableName="t", Item={})
    assert len(srv.requests) == 1


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_connect_timeout(flavour: str) -> None:
    # a listener that never accepts, with its backlog filled, drops further SYNs: connect hangs
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(8):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
        fillers.append(filler)
    time.sleep(0.05)
    kwargs: dict[str, Any] = {"sign": False, "connect_timeout": 0.2, "retry_policy": NO_RETRY}
    url = f"http://127.0.0.1:{port}"
    try:
        with pytest.raises(ConnectTimeout):  # raised only by the connect deadline: no wall-clock check needed
            if flavour == "sync":
                AcceleratorClient(url, **kwargs).get_item(TableName="t", Key={})
            else:
                run(AsyncAcceleratorClient(url, **kwargs).get_item(TableName="t", Key={}))
    finally:
        for sock in [*fillers, listener]:
            sock.close()


def test_dropped_connection_retries_reads_but_not_writes(injector: Any) -> None:
    srv = injector(lambda target, body: "close" if target == "PutItem" or len(srv.requests) == 1 else (200, ITEM))
    client = AcceleratorClient(srv.url, sign=False, retry_policy=FAST_RETRY)
    assert client.get_item(TableName="t", Key={})["Item"] == ITEM["Item"]  # dropped once, then answered
    with pytest.raises(ConnectionClosed):
        client.put_item(TableName="t", Item={})
    assert [target for target, _ in srv.requests] == ["GetItem", "GetItem", "PutItem"]


def test_refused_connection_fails_over_even_for_writes(injector: Any) -> None:
    srv = injector(lambda target, body: (200, {}))
    dead = f"http://127.0.0.1:{free_port()}"
    client = AcceleratorClient(endpoints=[dead, srv.url], sign=False, retry_policy=NO_RETRY)
    for _ in range(3):
        client.put_item(TableName="t", Item={})
    assert [ep.url for ep in client.endpoints.healthy] == [srv.url]
    with pytest.raises(ConnectError):
        AcceleratorClient(dead, sign=False, retry_policy=NO_RETRY).put_item(TableName="t", Item={})


def test_keep_alive_reuses_one_connection(injector: Any) -> None:
    srv = injector(lambda target, body: (200, ITEM))
    client = AcceleratorClient(srv.url, sign=False)
    for _ in range(20):
        client.get_item(TableName="t", Key={})

    async def many() -> None:
        async with AsyncAcceleratorClient(srv.url, sign=False) as aclient:
            for _ in range(20):
                await aclient.get_item(TableName="t", Key={})

    run(many())
    assert srv.connections == 2


def test_reads_spread_round_robin_and_writes_stay_on_the_first(injector: Any) -> None:
    first, second = injector(lambda t, b: (200, {})), injector(lambda t, b: (200, {}))
    client = AcceleratorClient(endpoints=[first.url, second.url], sign=False)
    for _ in range(10):
        client.get_item(TableName="t", Key={})
        client.put_item(TableName="t", Item={})
    assert [t for t, _ in first.requests].count("GetItem") == 5
    assert [t for t, _ in second.requests].count("GetItem") == 5
    assert [t for t, _ in second.requests].count("PutItem") == 0
    assert client.check_health() == {first.url: True, second.url: True}


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_tls_with_a_given_ssl_context(tmp_path: Any, flavour: str) -> None:
    if not shutil.which("openssl"):
        pytest.skip("openssl is needed to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True,
    )  # fmt: skip
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    srv = LoopbackServer(lambda target, body: (200, ITEM), ssl_context=server_ctx)
    try:
        client_ctx = ssl.create_default_context(cafile=str(cert))
        if flavour == "sync":
            client = AcceleratorClient(srv.url, sign=False, ssl_context=client_ctx)
            got = [client.get_item(TableName="t", Key={})["Item"] for _ in range(3)]
        else:
            async def three() -> list[Any]:
                async with AsyncAcceleratorClient(srv.url, sign=False, ssl_context=client_ctx) as aclient:
                    return [(await aclient.get_item(TableName="t", Key={}))["Item"] for _ in range(3)]

            got = run(three())
        assert got == [ITEM["Item"]] * 3 and srv.connections == 1
        with pytest.raises(ConnectError):  # the default context does not trust a self-signed certificate
            AcceleratorClient(srv.url, sign=False, retry_policy=NO_RETRY).get_item(TableName="t", Key={})
    finally:
        srv.close()


def _seed(url: str, table: str) -> None:
    with AcceleratorClient(url, **CREDENTIALS) as seed:
        seed.create_table(
            TableName=table, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
        )  # fmt: skip
        for i in range(10):
            seed.put_item(TableName=table, Item={"pk": {"S": f"k{i}"}, "v": {"N": str(i)}})


@pytest.fixture
def two_servers() -> Iterator[list[Any]]:
    kind = server_kinds()[-1]  # the accelerator when it can serve, else moto
    with server(kind) as a, server(kind) as b:
        for srv in (a, b):
            _seed(srv.url, "failover")
        yield [a, b]


def test_failover_sync_reads_never_raise_when_a_node_dies(two_servers: list[Any]) -> None:
    a, b = two_servers
    client = AcceleratorClient(endpoints=[a.url, b.url], retry_policy=FAST_RETRY, connect_timeout=0.5,
                               read_timeout=2.0, **CREDENTIALS)  # fmt: skip
    errors: list[BaseException] = []
    done = threading.Event()
    counts = [0] * 4

    def reader(n: int) -> None:
        i = 0
        while not done.is_set():
            i += 1
            try:
                item = client.get_item(TableName="failover", Key={"pk": {"S": f"k{i % 10}"}})["Item"]
                assert item["v"]["N"] == str(i % 10)
                counts[n] += 1
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
                return

    def until(condition: Callable[[], bool]) -> None:  # conditions, not durations (the deadline bounds a hang)
        deadline = time.monotonic() + 30
        while not condition() and not errors:
            assert time.monotonic() < deadline, "condition not reached"
            time.sleep(0.005)

    threads = [threading.Thread(target=reader, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    until(lambda: all(c > 0 for c in counts))  # every reader is reading
    before = sum(counts)
    a.kill()
    until(lambda: [ep.url for ep in client.endpoints.healthy] == [b.url])  # the client noticed
    marked = sum(counts)
    until(lambda: sum(counts) >= marked + 40)  # and reads go on against the live node
    done.set()
    for thread in threads:
        thread.join()
    assert errors == []
    assert before > 0 and sum(counts) > before
    assert [ep.url for ep in client.endpoints.healthy] == [b.url]
    client.put_item(TableName="failover", Item={"pk": {"S": "after"}})  # writes moved to the live node


def test_failover_async_reads_never_raise_when_a_node_dies(two_servers: list[Any]) -> None:
    a, b = two_servers

    async def main() -> int:
        async with AsyncAcceleratorClient(endpoints=[a.url, b.url], retry_policy=FAST_RETRY, **CREDENTIALS) as client:
            done = 0
            for i in range(400):
                if i == 100:
                    a.kill()
                got = await asyncio.gather(
                    *(client.get_item(TableName="failover", Key={"pk": {"S": f"k{j}"}}) for j in range(4))
                )
                assert [r["Item"]["v"]["N"] for r in got] == ["0", "1", "2", "3"]
                done += 4
            return done

    assert run(main()) == 1600
