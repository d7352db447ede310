"""Seeded random interleavings of schema changes (index create/delete, TTL settings, DeleteTable and
CreateTable under the same name), writes and reads, through two cache nodes that share one store and
talk over a LocalBus, checked answer for answer against an engine with no cache.

Each node has an engine of its own over the shared storage (as two processes would), so a node that
missed a schema change would answer from its cached pages or from its engine's cached definition.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import orjson
import pytest

from accelerator.api import TARGET_PREFIX, Router
from accelerator.cache import CachedStore
from accelerator.cache.invalidation import LocalBus
from accelerator.config import CacheConfig
from accelerator.engine import TableEngine, index_admin
from backends.memory import MemoryStorage

TABLE = "tbl"
PKS = ["a", "b", "c", "d"]
INDEXES = {"gsi1": "color", "gsi2": "shape"}
VALUES = {"color": ["red", "blue"], "shape": ["L", "S"]}


def S(v: str) -> dict[str, str]:
    return {"S": v}


def _index(name: str) -> dict[str, Any]:
    return {"IndexName": name, "KeySchema": [{"AttributeName": INDEXES[name], "KeyType": "HASH"}],
            "Projection": {"ProjectionType": "ALL"}}


def _create(rng: random.Random) -> dict[str, Any]:
    names = [n for n in INDEXES if rng.random() < 0.5]
    attrs = [{"AttributeName": "pk", "AttributeType": "S"}]
    attrs += [{"AttributeName": INDEXES[n], "AttributeType": "S"} for n in names]
    req: dict[str, Any] = {"TableName": TABLE, "BillingMode": "PAY_PER_REQUEST", "AttributeDefinitions": attrs,
                           "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}]}
    if names:
        req["GlobalSecondaryIndexes"] = [_index(n) for n in names]
    return req


def _item(rng: random.Random) -> dict[str, Any]:
    item = {"pk": S(rng.choice(PKS)), "v": S(str(rng.randrange(1000)))}
    for attr, choices in VALUES.items():
        if rng.random() < 0.7:
            item[attr] = S(rng.choice(choices))
    return item


def _operation(rng: random.Random) -> tuple[str, dict[str, Any], bool]:
    """(operation, request, whether the answer is compared whole) for one random step."""
    roll = rng.random()
    if roll < 0.2:
        return "PutItem", {"TableName": TABLE, "Item": _item(rng)}, True
    if roll < 0.25:
        return "DeleteItem", {"TableName": TABLE, "Key": {"pk": S(rng.choice(PKS))}}, True
    if roll < 0.4:
        return "GetItem", {"TableName": TABLE, "Key": {"pk": S(rng.choice(PKS))}}, True
    if roll < 0.6:
        name = rng.choice(list(INDEXES))
        attr = INDEXES[name]
        return "Query", {"TableName": TABLE, "IndexName": name, "KeyConditionExpression": "#k = :v",
                         "ExpressionAttributeNames": {"#k": attr},
                         "ExpressionAttributeValues": {":v": S(rng.choice(VALUES[attr]))}}, True
    if roll < 0.7:
        req: dict[str, Any] = {"TableName": TABLE}
        if rng.random() < 0.5:
            req["IndexName"] = rng.choice(list(INDEXES))
        return "Scan", req, True
    if roll < 0.75:
        return "BatchGetItem", {"RequestItems": {TABLE: {"Keys": [{"pk": S(p)} for p in PKS]}}}, True
    if roll < 0.87:
        name = rng.choice(list(INDEXES))
        if rng.random() < 0.5:
            update: dict[str, Any] = {"Delete": {"IndexName": name}}
            return "UpdateTable", {"TableName": TABLE, "GlobalSecondaryIndexUpdates": [update]}, False
        return "UpdateTable", {"TableName": TABLE, "GlobalSecondaryIndexUpdates": [{"Create": _index(name)}],
                               "AttributeDefinitions": [{"AttributeName": INDEXES[name],
                                                         "AttributeType": "S"}]}, False
    if roll < 0.92:
        return "UpdateTimeToLive", {"TableName": TABLE, "TimeToLiveSpecification": {
            "Enabled": rng.random() < 0.5, "AttributeName": "exp"}}, False
    if roll < 0.94:
        return "DeleteTable", {"TableName": TABLE}, False
    return "CreateTable", _create(rng), False


async def _settled(*routers: Router) -> None:
    """Wait until every index of the table is ACTIVE on each side (backfills run as tasks)."""
    for router in routers:
        for _ in range(10_000):
            status, _, _, body = await router.handle(TARGET_PREFIX + b"DescribeTable", orjson.dumps({"TableName": TABLE}))
            table = orjson.loads(body).get("Table", {})
            if status != 200 or all(i["IndexStatus"] == "ACTIVE" for i in table.get("GlobalSecondaryIndexes", ())):
                break
            await asyncio.sleep(0)
        else:
            raise AssertionError("backfill did not finish")


async def _run(seed: int, steps: int) -> None:
    rng = random.Random(seed)
    shared = MemoryStorage()
    bus = LocalBus()
    config = CacheConfig()
    nodes = [CachedStore(TableEngine(shared, ttl_sweep_interval=0), config, invalidator=bus.node())
             for _ in range(2)]
    reference = TableEngine(MemoryStorage(), ttl_sweep_interval=0)
    stores: list[Any] = [*nodes, reference]
    for store in stores:
        await store.open()
    routers = [Router(node) for node in nodes]
    plain = Router(reference)
    try:
        first = orjson.dumps(_create(rng))
        assert (await routers[0].handle(TARGET_PREFIX + b"CreateTable", first))[0] == 200
        assert (await plain.handle(TARGET_PREFIX + b"CreateTable", first))[0] == 200
        answered = 0
        for step in range(steps):
            operation, req, whole = _operation(rng)
            router = rng.choice(routers)
            body = orjson.dumps(req)
            target = TARGET_PREFIX + operation.encode()
            got, want = await router.handle(target, body), await plain.handle(target, body)
            where = f"seed {seed} step {step}: {operation} {req}"
            answered += got[0] == 200 and operation in ("Query", "Scan", "GetItem")
            if whole:
                assert (got[0], orjson.loads(got[3])) == (want[0], orjson.loads(want[3])), where
            else:
                assert got[0] == want[0], where
                if got[0] != 200:
                    assert orjson.loads(got[3]) == orjson.loads(want[3]), where
            if operation in ("UpdateTable", "CreateTable"):
                await _settled(router, plain)
        assert answered > steps // 20  # the walk reads a live table most of the time, not only errors
    finally:
        for store in stores:
            await store.close()


@pytest.mark.parametrize("seed", range(40))
def test_cached_nodes_answer_as_the_uncached_engine(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(index_admin, "SETTLE_SECONDS", 0.0)  # backfills start at once; waited for above
    asyncio.run(_run(seed, 120))
