"""Cross-node invalidation over Redis pub/sub: two CachedStores on one store, and two server processes
on one SQLite file. Needs the shared Redis (``ACCEL_REDIS_URL``); skipped without it (failed under CI)."""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import time
from typing import Any
from urllib.parse import urlsplit

import orjson
import pytest

from accelerator.cache import CachedStore, Invalidation
from accelerator.cache.broadcast import RedisInvalidator, decode, encode
from accelerator.config import CacheConfig
from accelerator.core.retry import RetryPolicy
from tests.cache_fakes import FakeStore
from tests.cache_helpers import CacheServer, boto_client, cache_header

REDIS = os.environ.get("ACCEL_REDIS_URL", "redis://127.0.0.1:6379/0")


def _redis_up() -> bool:
    parts = urlsplit(REDIS)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), timeout=1):
            return True
    except OSError:
        return False


needs_redis = pytest.mark.skipif(not _redis_up() and os.environ.get("CI", "").lower() not in ("1", "true"),
                                 reason=f"no Redis at {REDIS}")


def S(v: str) -> dict[str, str]:
    return {"S": v}


def test_messages_round_trip() -> None:
    for message in (Invalidation("t", ((b"\x00pk", b""), (b"a", b"\xff")), 7), Invalidation("t", None, 1)):
        assert decode(encode(message)) == message


def _until_sync(condition: Any, timeout: float = 30.0) -> None:
    """Wait for a condition another process makes true (the timeout only bounds a broken run)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.005)


async def _until(condition: Any, timeout: float = 5.0) -> float:
    start = time.perf_counter()
    while not condition():
        if time.perf_counter() - start > timeout:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.0005)
    return time.perf_counter() - start


@needs_redis
def test_a_write_on_one_node_invalidates_the_other() -> None:
    channel = f"test:cache:{secrets.token_hex(6)}"
    store = FakeStore()
    store.add_table("t")
    store.add_table("r", range_name="sk")
    store.data["t"][(b"a", b"")] = {"pk": S("a"), "v": S("old")}
    config = CacheConfig(broadcast=REDIS, broadcast_channel=channel)
    a, b = CachedStore(store, config), CachedStore(store, config)

    async def go() -> list[float]:
        await a.open()
        await b.open()
        try:
            delays = []
            for i in range(20):
                await b.call("GetItem", {"TableName": "t", "Key": {"pk": S("a")}})
                await b.call("Scan", {"TableName": "t"})
                before = b.stats.remote_invalidations
                await a.call("PutItem", {"TableName": "t", "Item": {"pk": S("a"), "v": S(f"new{i}")}})
                delays.append(await _until(lambda before=before: b.stats.remote_invalidations > before))
                got = await b.call("GetItem", {"TableName": "t", "Key": {"pk": S("a")}})
                assert got["Item"]["v"] == S(f"new{i}")
                assert (await b.call("Scan", {"TableName": "t"}))["Items"][0]["v"] == S(f"new{i}")
            assert a.stats.remote_invalidations == 0  # a node ignores its own messages
            return delays
        finally:
            await a.close()
            await b.close()
    delays = sorted(asyncio.run(go()))
    print(f"invalidation delay: median {delays[len(delays) // 2] * 1000:.2f} ms, max {delays[-1] * 1000:.2f} ms")
    assert delays[len(delays) // 2] < 0.1


@needs_redis
def test_after_a_lost_subscription_the_node_reconnects_and_drops_everything() -> None:
    import redis

    channel = f"test:cache:{secrets.token_hex(6)}"
    store = FakeStore()
    store.add_table("t")
    invalidator = RedisInvalidator(REDIS, channel, retry=RetryPolicy(base=0.01, cap=0.01))
    node = CachedStore(store, CacheConfig(), invalidator=invalidator)

    async def go() -> None:
        await node.open()
        try:
            await node.call("GetItem", {"TableName": "t", "Key": {"pk": S("a")}})
            assert node.items.entries == 1
            admin = redis.Redis.from_url(REDIS)
            for client in admin.client_list():
                if client.get("name") == f"accelerator-cache-{invalidator.node_id}":
                    admin.client_kill_filter(_id=client["id"])
            admin.close()
            await _until(lambda: node.items.entries == 0)
            await _until(invalidator.subscribed.is_set)
        finally:
            await node.close()
    asyncio.run(go())


@needs_redis
def test_two_server_processes_on_one_sqlite_file() -> None:
    import tempfile

    shared = tempfile.mkdtemp(prefix="accel-shared-")
    cache = {"enabled": True, "broadcast": REDIS, "broadcast_channel": f"test:cache:{secrets.token_hex(6)}"}
    with CacheServer("sqlite", cache, data_dir=shared) as one, CacheServer("sqlite", cache, data_dir=shared) as two:
        a, b = boto_client(one.url), boto_client(two.url)
        a.create_table(TableName="shared_tbl", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                       AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                       BillingMode="PAY_PER_REQUEST")
        a.put_item(TableName="shared_tbl", Item={"pk": S("k"), "v": S("1")})
        # The writer's invalidations (the CreateTable's and the put's) reach b asynchronously: a fill made before
        # they arrive is rightly dropped by them. Wait until b has them, then the fill must stay.
        _until_sync(lambda: orjson.loads(two.get("/admin/cache"))["remote_invalidations"] >= 2)
        b.get_item(TableName="shared_tbl", Key={"pk": S("k")})
        assert cache_header(b.get_item(TableName="shared_tbl", Key={"pk": S("k")})) == "hit"
        a.put_item(TableName="shared_tbl", Item={"pk": S("k"), "v": S("2")})
        deadline = time.monotonic() + 5
        while b.get_item(TableName="shared_tbl", Key={"pk": S("k")})["Item"]["v"] != S("2"):
            assert time.monotonic() < deadline, "the other node never saw the write"
            time.sleep(0.001)


@needs_redis
def test_a_malformed_message_is_dropped_and_counted_not_a_flush() -> None:
    import redis

    channel = f"test:cache:{secrets.token_hex(6)}"
    store = FakeStore()
    store.add_table("t")
    invalidator = RedisInvalidator(REDIS, channel)
    node = CachedStore(store, CacheConfig(), invalidator=invalidator)

    async def go() -> None:
        await node.open()
        try:
            await node.call("GetItem", {"TableName": "t", "Key": {"pk": S("a")}})
            assert node.items.entries == 1
            admin = redis.Redis.from_url(REDIS)
            for garbage in (b"not json", b"[1, 2]", b'{"t": 5, "k": null, "o": 1}', b'{"t": "t", "k": [["!", "x"]], "o": 1}'):
                admin.publish(channel, garbage)
            admin.publish(channel, encode(Invalidation("other", None, 12345)))  # after the garbage, in order
            admin.close()
            await _until(lambda: node.stats.remote_invalidations == 1)
            assert invalidator.malformed == 4
            assert node.items.entries == 1  # not flushed: the subscription was never lost
        finally:
            await node.close()
    asyncio.run(go())


def test_a_failure_applying_a_message_flushes_and_is_counted() -> None:
    from accelerator.cache.broadcast import receive
    from accelerator.core import guard

    class _Node:
        malformed = 0

    got: list[Invalidation] = []

    def deliver(message: Invalidation) -> None:
        got.append(message)
        if message.table == "t":
            raise RuntimeError("a bug applying it")

    before = guard.FAILURES["cache invalidation apply"]
    receive(_Node(), deliver, encode(Invalidation("t", ((b"p", b""),), 7)))
    assert [m.table for m in got] == ["t", ""]  # then everything, since what it covered is unknown
    assert guard.FAILURES["cache invalidation apply"] == before + 1
