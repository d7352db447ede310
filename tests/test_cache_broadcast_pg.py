"""Cross-node invalidation over PostgreSQL LISTEN/NOTIFY: two CachedStores on one store, a lost listener,
payload splitting, the config, and two server processes on one PostgreSQL schema. Needs the shared
PostgreSQL (skipped without it)."""

from __future__ import annotations

import asyncio
import secrets
import time
import urllib.request
from typing import Any

import orjson
import pytest

from accelerator.app import _cache_config
from accelerator.cache import CachedStore, Invalidation
from accelerator.cache.broadcast import decode
from accelerator.cache.broadcast_pg import MAX_PAYLOAD, PostgresInvalidator, payloads
from accelerator.config import BackendConfig, CacheConfig, Config, ConfigError
from accelerator.core.retry import RetryPolicy
from loadtest.wire import Connection
from tests.backend_services import pg_dsn, postgres_e2e_backend
from tests.cache_fakes import FakeStore
from tests.server_process import ServerProcess


def S(v: str) -> dict[str, str]:
    return {"S": v}


def _channel() -> str:
    return f"test:cache:{secrets.token_hex(6)}"


async def _until(condition: Any, timeout: float = 10.0) -> float:
    start = time.perf_counter()
    while not condition():
        assert time.perf_counter() - start < timeout, "condition not reached"
        await asyncio.sleep(0.0005)
    return time.perf_counter() - start


def test_a_large_message_is_split_under_the_notify_limit() -> None:
    keys = tuple((secrets.token_bytes(300), secrets.token_bytes(100)) for _ in range(200))
    parts = payloads(Invalidation("t", keys, 9))
    assert len(parts) > 1 and all(len(p) <= MAX_PAYLOAD for p in parts)
    decoded = [decode(p) for p in parts]
    assert all(m.table == "t" and m.origin == 9 for m in decoded)
    assert tuple(k for m in decoded for k in m.keys or ()) == keys
    assert payloads(Invalidation("t", None, 1)) == [payloads(Invalidation("t", None, 1))[0]]


def test_broadcast_postgres_takes_the_backends_database() -> None:
    dsn = "postgresql://u@db.example:5432/app"
    config = Config(backend=BackendConfig(kind="postgres", options={"dsn": dsn}),
                    cache=CacheConfig(broadcast="postgres"))
    assert _cache_config(config).broadcast == dsn
    with pytest.raises(ConfigError, match="postgres"):
        _cache_config(Config(backend=BackendConfig(kind="sqlite"), cache=CacheConfig(broadcast="postgres")))
    plain = Config(cache=CacheConfig(broadcast="redis://h:6379/0"))
    assert _cache_config(plain) is plain.cache


def _needs_pg() -> str:
    postgres_e2e_backend()  # skips (or fails under CI) when PostgreSQL is unreachable
    return pg_dsn()


def test_a_write_on_one_node_invalidates_the_other() -> None:
    dsn = _needs_pg()
    channel = _channel()
    store = FakeStore()
    store.add_table("t")
    store.data["t"][(b"a", b"")] = {"pk": S("a"), "v": S("old")}
    config = CacheConfig(broadcast=dsn, broadcast_channel=channel)
    a, b = CachedStore(store, config), CachedStore(store, config)
    assert isinstance(a.invalidator, PostgresInvalidator)

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
    print(f"LISTEN/NOTIFY staleness window: median {delays[len(delays) // 2] * 1000:.2f} ms, "
          f"max {delays[-1] * 1000:.2f} ms")


def test_after_a_lost_listener_the_node_reconnects_and_drops_everything() -> None:
    import asyncpg

    dsn = _needs_pg()
    store = FakeStore()
    store.add_table("t")
    invalidator = PostgresInvalidator(dsn, _channel(), retry=RetryPolicy(base=0.01, cap=0.01))
    node = CachedStore(store, CacheConfig(), invalidator=invalidator)

    async def go() -> None:
        await node.open()
        try:
            await node.call("GetItem", {"TableName": "t", "Key": {"pk": S("a")}})
            assert node.items.entries == 1
            admin = await asyncpg.connect(dsn)
            killed = await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1",
                f"accelerator-cache-{invalidator.node_id}")
            await admin.close()
            assert killed == 1
            await _until(lambda: node.items.entries == 0)
            await _until(invalidator.subscribed.is_set)
            # and it hears messages again
            await node.call("GetItem", {"TableName": "t", "Key": {"pk": S("a")}})
            other = PostgresInvalidator(dsn, invalidator.channel)
            await other.start(lambda message: None)
            other.publish(Invalidation("t", ((b"a", b""),), other.node_id))
            await _until(lambda: node.items.entries == 0)
            await other.close()
        finally:
            await node.close()
    asyncio.run(go())


def _remote_invalidations(url: str) -> int:
    with urllib.request.urlopen(url + "/admin/cache", timeout=10) as response:
        return int(orjson.loads(response.read())["remote_invalidations"])


def test_two_server_processes_on_one_postgres_schema() -> None:
    backend = postgres_e2e_backend()
    cache = {"enabled": True, "item_ttl": 3600.0, "broadcast": "postgres", "broadcast_channel": _channel()}
    one = ServerProcess(backend, cache=cache).start()
    two = ServerProcess(backend, cache=cache).start()
    try:
        a, b = Connection(one.url), Connection(two.url)
        a.call("CreateTable", {"TableName": "pg_shared", "BillingMode": "PAY_PER_REQUEST",
                               "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                               "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}]})
        get = orjson.dumps({"TableName": "pg_shared", "Key": {"pk": S("k")}})
        a.call("PutItem", {"TableName": "pg_shared", "Item": {"pk": S("k"), "v": S("1")}})
        # the writer's invalidations (CreateTable's and the put's) reach b asynchronously: wait for them, or a
        # fill made before they arrive is rightly dropped and the hit below would depend on timing
        deadline = time.monotonic() + 30
        while _remote_invalidations(two.url) < 2:
            assert time.monotonic() < deadline, "the writer's invalidations never arrived"
            time.sleep(0.005)
        b.request("GetItem", get)
        reply = b.request("GetItem", get)
        assert reply.headers["x-accelerator-cache"] == "hit"
        a.call("PutItem", {"TableName": "pg_shared", "Item": {"pk": S("k"), "v": S("2")}})
        deadline = time.monotonic() + 10
        while orjson.loads(b.request("GetItem", get).body)["Item"]["v"] != S("2"):
            assert time.monotonic() < deadline, "the other node never saw the write"
            time.sleep(0.001)
    finally:
        one.stop()
        two.stop()
