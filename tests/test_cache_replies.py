"""The router's serialised-hit fast path (accelerator/cache/replies.py): a remembered GetItem reply is served only
while the item cache entry it was made from is the live one.

Seeded random writes, deletes, TTL expiry (fake clock) and GetItems with a few different bodies per key (plain,
projected, different member order) go through a Router over the cache, and every answer is compared with a Router
over the same engine without a cache; the fast path is checked to have answered most repeated hits.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import orjson

from accelerator.api import TARGET_PREFIX, Router
from accelerator.cache import CachedStore
from accelerator.cache.replies import ENTRY_OVERHEAD, MAX_REPLY, ReplyCache
from accelerator.config import CacheConfig
from accelerator.engine import TableEngine
from backends.memory import MemoryStorage

TABLE = "replies"
KEYS = ["a", "b", "c"]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _bodies(pk: str) -> list[bytes]:
    key = {"pk": {"S": pk}}
    return [orjson.dumps({"TableName": TABLE, "Key": key}),
            orjson.dumps({"Key": key, "TableName": TABLE}),  # same request, other bytes: its own entry
            orjson.dumps({"TableName": TABLE, "Key": key, "ProjectionExpression": "v"})]


async def _call(router: Router, op: str, request: dict[str, Any] | bytes) -> tuple[int, Any, bytes]:
    body = request if isinstance(request, bytes) else orjson.dumps(request)
    status, _, headers, reply = await router.handle(TARGET_PREFIX + op.encode(), body)
    return status, orjson.loads(reply) if reply else None, headers


def test_answers_match_an_uncached_router_under_random_writes_and_expiry() -> None:
    async def run(seed: int) -> int:
        rng = random.Random(seed)
        clock = Clock()
        engine = TableEngine(MemoryStorage())
        await engine.open()
        cache = CachedStore(engine, CacheConfig(item_ttl=5.0, negative_ttl=2.0), clock=clock)
        cached, plain = Router(cache), Router(engine)
        await _call(plain, "CreateTable", {
            "TableName": TABLE, "BillingMode": "PAY_PER_REQUEST",
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}]})
        fast = 0
        for _ in range(600):
            pk = rng.choice(KEYS)
            roll = rng.random()
            if roll < 0.15:
                item = {"pk": {"S": pk}, "v": {"N": str(rng.randrange(100))}, "w": {"S": "x" * rng.randrange(3)}}
                await _call(cached, "PutItem", {"TableName": TABLE, "Item": item})
            elif roll < 0.2:
                await _call(cached, "DeleteItem", {"TableName": TABLE, "Key": {"pk": {"S": pk}}})
            elif roll < 0.25:
                clock.now += rng.choice([0.5, 3.0, 6.0])  # negative and item TTLs pass
            else:
                body = rng.choice(_bodies(pk))
                before = len(cache.replies)
                hits = cache.stats.item_hits
                got = await _call(cached, "GetItem", body)
                want = await _call(plain, "GetItem", body)
                assert got[:2] == want[:2], (seed, body)
                if b"hit" in got[2] and len(cache.replies) == before and cache.stats.item_hits == hits + 1:
                    fast += 1
        await engine.close()
        return fast

    served = [asyncio.run(run(seed)) for seed in range(6)]
    assert all(n > 50 for n in served), served  # the fast path answered, and answered right


def test_a_reply_dies_with_its_entry() -> None:
    async def run() -> None:
        clock = Clock()
        engine = TableEngine(MemoryStorage())
        await engine.open()
        cache = CachedStore(engine, CacheConfig(item_ttl=5.0), clock=clock)
        router = Router(cache)
        await _call(router, "CreateTable", {
            "TableName": TABLE, "BillingMode": "PAY_PER_REQUEST",
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}]})
        await _call(router, "PutItem", {"TableName": TABLE, "Item": {"pk": {"S": "a"}, "v": {"N": "1"}}})
        body = _bodies("a")[0]
        assert (await _call(router, "GetItem", body))[1] == {"Item": {"pk": {"S": "a"}, "v": {"N": "1"}}}
        assert len(cache.replies) == 1
        cache.flush(TABLE)  # an invalidation from elsewhere: the entry is gone, so is the reply
        status, answer, headers = await _call(router, "GetItem", body)
        assert answer == {"Item": {"pk": {"S": "a"}, "v": {"N": "1"}}} and b"miss" in headers
        await _call(router, "GetItem", body)
        clock.now += 10  # the item TTL passed
        assert b"miss" in (await _call(router, "GetItem", body))[2]
        await engine.close()

    asyncio.run(run())


def test_bounded_and_large_replies_are_not_kept() -> None:
    class Items:
        def get(self, key: Any) -> Any:
            return None

    class Stats:
        item_hits = 0

    one = len(b"0") + len(b"{}") + ENTRY_OVERHEAD
    replies = ReplyCache(Items(), Stats(), max_bytes=3 * one)  # type: ignore[arg-type]
    for n in range(5):
        replies.last_hit = ((0, b"k", b""), (None, 0.0, 0, 0, None))
        replies.remember(str(n).encode(), b"{}")
    assert len(replies) == 3  # the oldest two dropped
    replies.last_hit = ((0, b"k", b""), (None, 0.0, 0, 0, None))
    replies.remember(b"big", b"x" * (MAX_REPLY + 1))
    assert len(replies) == 3 and replies.last_hit is None
    replies.remember(b"no-hit", b"{}")  # nothing pending: nothing kept
    assert len(replies) == 3


def test_with_policies_a_stored_reply_is_served_only_to_a_key_allowed_without_conditions() -> None:
    """The fast path asks the enforcer: a key with an unconditional Allow gets the stored bytes; a key whose
    access depends on LeadingKeys, or that has no policy, takes the full path (and is refused) even though the
    very same body was answered from the store a moment before."""
    from accelerator.core.context import PRINCIPAL
    from accelerator.policy import Enforcer, PolicySet, parse_document

    arn = f"arn:aws:dynamodb:*:*:table/{TABLE}"
    policies = PolicySet({
        "ADMIN": parse_document({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "dynamodb:*", "Resource": arn}]}),
        "ALICE": parse_document({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": arn,
             "Condition": {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["alice"]}}}]}),
    })

    async def as_key(router: Router, key: str, op: str, request: dict[str, Any] | bytes) -> tuple[int, Any, bytes]:
        token = PRINCIPAL.set(key)
        try:
            return await _call(router, op, request)
        finally:
            PRINCIPAL.reset(token)

    async def run() -> None:
        engine = TableEngine(MemoryStorage())
        await engine.open()
        cache = CachedStore(engine, CacheConfig())
        router = Router(cache, enforcer=Enforcer(policies, lambda t: cache.call("DescribeTable", {"TableName": t})))
        await as_key(router, "ADMIN", "CreateTable", {
            "TableName": TABLE, "BillingMode": "PAY_PER_REQUEST",
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}]})
        for pk in ("alice", "bob"):
            await as_key(router, "ADMIN", "PutItem", {"TableName": TABLE, "Item": {"pk": {"S": pk}}})
        bob = orjson.dumps({"TableName": TABLE, "Key": {"pk": {"S": "bob"}}})
        for _ in range(2):  # a miss, then a hit that is remembered
            await as_key(router, "ADMIN", "GetItem", bob)
        assert len(cache.replies) == 1
        hits = cache.stats.item_hits
        status, answer, headers = await as_key(router, "ADMIN", "GetItem", bob)
        assert status == 200 and answer == {"Item": {"pk": {"S": "bob"}}} and b"hit" in headers
        assert cache.stats.item_hits == hits + 1 and len(cache.replies) == 1  # served from the stored reply
        for key in ("ALICE", "NOBODY"):
            status, answer, _ = await as_key(router, key, "GetItem", bob)
            assert status == 400 and answer["__type"].endswith("AccessDeniedException"), (key, answer)
        alice = orjson.dumps({"TableName": TABLE, "Key": {"pk": {"S": "alice"}}})
        for _ in range(3):  # allowed by its condition, so always decided in full: still the right answer
            status, answer, _ = await as_key(router, "ALICE", "GetItem", alice)
            assert status == 200 and answer == {"Item": {"pk": {"S": "alice"}}}
        await engine.close()

    asyncio.run(run())
