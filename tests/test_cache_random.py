"""Seeded random interleavings of reads, writes, deletes, queries, scans, other nodes' writes, failures
and clock advances, each read checked against a model of the store's history.

The model: every change of the fake store is an event (sequence number, clock time, key, value, the
operation that made it). An eventually consistent read through the cache must return a state that
(1) is no older than the last write through this node acknowledged before the read began
    (read-your-writes), and
(2) existed at some moment during the read (linearizable), or existed less than the TTL ago (the
    staleness a cache may show, e.g. after a write by another node).
A ConsistentRead must satisfy (1) and (2) without the TTL allowance. Clock advances wait for the
operations in flight, so a read never spans one and "less than the TTL ago" is exact.
"""

from __future__ import annotations

import asyncio
import contextvars
import itertools
import math
import random
from collections import defaultdict
from typing import Any

import pytest

from accelerator.cache import CachedStore
from accelerator.config import CacheConfig
from accelerator.core.errors import ConditionalCheckFailedException, DynamoError, ServiceUnavailable
from tests.cache_fakes import FakeClock, FakeStore

ITEM_TTL, NEGATIVE_TTL, QUERY_TTL = 10.0, 4.0, 7.0
T_KEYS = ["a", "b", "c"]
R_KEYS = [(p, s) for p in ("p", "q") for s in ("1", "2", "3")]
OP = contextvars.ContextVar("op", default="init")


def S(v: str) -> dict[str, str]:
    return {"S": v}


class History:
    """Every change of the store, per table and key."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.seq = 0
        self.events: dict[tuple[str, Any], list[tuple[int, float, str | None, str]]] = defaultdict(list)

    def record(self, table: str, key: Any, tag: str | None) -> None:
        self.seq += 1
        self.events[(table, key)].append((self.seq, self.clock(), tag, OP.get()))


class Recorded(dict):  # type: ignore[type-arg]
    """A fake store table that reports every change to the history."""

    def __init__(self, history: History, table: str) -> None:
        super().__init__()
        self.history = history
        self.table = table

    def __setitem__(self, key: Any, item: Any) -> None:
        super().__setitem__(key, item)
        self.history.record(self.table, key, item["v"]["S"])

    def pop(self, key: Any, default: Any = None) -> Any:
        value = super().pop(key, default)
        self.history.record(self.table, key, None)
        return value


def _states(events: list[tuple[int, float, str | None, str]], scope: list[Any]) -> list[tuple[int, float, Any]]:
    """(seq, time, state) of a set of keys after each event touching them; state: key -> tag."""
    merged = sorted((e[0], e[1], key, e[2]) for key in scope for e in events_of(events, key))
    state: dict[Any, str] = {}
    out: list[tuple[int, float, Any]] = [(0, -math.inf, {})]
    for seq, time, key, tag in merged:
        state = {**state}
        if tag is None:
            state.pop(key[1], None)
        else:
            state[key[1]] = tag
        out.append((seq, time, state))
    return out


def events_of(events: Any, key: Any) -> list[tuple[int, float, str | None, str]]:
    return events.get(key, [])  # type: ignore[no-any-return]


def check(states: list[tuple[int, float, Any]], got: Any, start: int, end: int, floor: int, ttl: float | None,
          now: float, what: str) -> None:
    for i, (seq, _, state) in enumerate(states):
        if state != got or seq < floor or seq > end:
            continue
        following = states[i + 1] if i + 1 < len(states) else None
        if following is None or following[0] > start:
            return  # existed during the read
        if ttl is not None and following[1] > now - ttl:
            return  # superseded less than the TTL ago
    raise AssertionError(f"{what}: returned {got!r} (read seq {start}..{end}, floor {floor}, now {now}); "
                         f"history {states}")


class Driver:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.clock = FakeClock(0.0)
        self.history = History(self.clock)
        self.store = FakeStore(rng=self.rng, max_yields=3)
        self.store.add_table("tbl")
        self.store.add_table("rng", range_name="sk")
        self.store.data["tbl"] = Recorded(self.history, "tbl")
        self.store.data["rng"] = Recorded(self.history, "rng")
        self.cs = CachedStore(self.store, CacheConfig(item_ttl=ITEM_TTL, negative_ttl=NEGATIVE_TTL,
                                                      query_ttl=QUERY_TTL), clock=self.clock)
        self.acked: dict[tuple[str, Any], int] = {}  # key -> store seq of the last acknowledged write here
        self.ids = itertools.count()
        self.checked = 0

    # -- keys ------------------------------------------------------------------------------------
    def tkey(self, pk: str) -> tuple[str, Any]:
        return ("tbl", (pk.encode(), b""))

    def rkey(self, pk: str, sk: str) -> tuple[str, Any]:
        return ("rng", (pk.encode(), sk.encode()))

    def floor(self, keys: list[tuple[str, Any]]) -> int:
        return max((self.acked.get(k, 0) for k in keys), default=0)

    # -- operations ------------------------------------------------------------------------------
    async def write(self, op: str, req: dict[str, Any], keys: list[tuple[str, Any]]) -> None:
        op_id = f"w{next(self.ids)}"
        OP.set(op_id)
        try:
            await self.cs.call(op, req)
        except DynamoError:
            return  # not acknowledged: promises nothing
        for key in keys:
            applied = [e[0] for e in self.history.events[key] if e[3] == op_id]
            if applied:
                self.acked[key] = max(self.acked.get(key, 0), max(applied))

    async def get(self, pk: str, consistent: bool) -> None:
        key = self.tkey(pk)
        start, floor = self.history.seq, self.floor([key])
        response = await self.cs.call("GetItem", {"TableName": "tbl", "Key": {"pk": S(pk)},
                                                  "ConsistentRead": consistent})
        got = {key[1]: response["Item"]["v"]["S"]} if "Item" in response else {}
        ttl = None if consistent else (ITEM_TTL if got else NEGATIVE_TTL)
        check(_states(self.history.events, [key]), got, start, self.history.seq, floor, ttl, self.clock(),
              f"GetItem {pk}")
        self.checked += 1

    async def batch_get(self, pks: list[str]) -> None:
        keys = [self.tkey(pk) for pk in pks]
        start, floors = self.history.seq, [self.floor([k]) for k in keys]
        response = await self.cs.call("BatchGetItem", {"RequestItems": {"tbl": {"Keys": [{"pk": S(p)} for p in pks]}}})
        found = {i["pk"]["S"]: i["v"]["S"] for i in response["Responses"]["tbl"]}
        for pk, key, floor in zip(pks, keys, floors, strict=True):
            got = {key[1]: found[pk]} if pk in found else {}
            check(_states(self.history.events, [key]), got, start, self.history.seq, floor,
                  ITEM_TTL if got else NEGATIVE_TTL, self.clock(), f"BatchGetItem {pk}")
            self.checked += 1

    async def query(self, pk: str) -> None:
        keys = [self.rkey(p, s) for p, s in R_KEYS if p == pk]
        start, floor = self.history.seq, self.floor(keys)
        response = await self.cs.call("Query", {
            "TableName": "rng", "KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": S(pk)}})
        got = {(i["pk"]["S"].encode(), i["sk"]["S"].encode()): i["v"]["S"] for i in response["Items"]}
        check(_states(self.history.events, keys), got, start, self.history.seq, floor, QUERY_TTL, self.clock(),
              f"Query {pk}")
        self.checked += 1

    async def scan(self) -> None:
        keys = [self.tkey(pk) for pk in T_KEYS]
        start, floor = self.history.seq, self.floor(keys)
        response = await self.cs.call("Scan", {"TableName": "tbl"})
        got = {(i["pk"]["S"].encode(), b""): i["v"]["S"] for i in response["Items"]}
        check(_states(self.history.events, keys), got, start, self.history.seq, floor, QUERY_TTL, self.clock(),
              "Scan")
        self.checked += 1

    def random_op(self) -> Any:
        rng = self.rng
        pk = rng.choice(T_KEYS)
        tag = f"v{next(self.ids)}"
        choice = rng.random()
        if choice < 0.25:
            return self.get(pk, consistent=rng.random() < 0.15)
        if choice < 0.32:
            return self.batch_get(rng.sample(T_KEYS, 2))
        if choice < 0.40:
            return self.query(rng.choice(["p", "q"]))
        if choice < 0.45:
            return self.scan()
        self.maybe_fail()
        if choice < 0.58:
            return self.write("PutItem", {"TableName": "tbl", "Item": {"pk": S(pk), "v": S(tag)}}, [self.tkey(pk)])
        if choice < 0.66:
            return self.write("DeleteItem", {"TableName": "tbl", "Key": {"pk": S(pk)}}, [self.tkey(pk)])
        if choice < 0.76:
            mode = rng.choice([None, "NONE", "ALL_NEW", "ALL_OLD", "UPDATED_NEW"])
            req: dict[str, Any] = {"TableName": "tbl", "Key": {"pk": S(pk)},
                                   "AttributeUpdates": {"v": {"Value": S(tag)}}}
            if mode:
                req["ReturnValues"] = mode
            return self.write("UpdateItem", req, [self.tkey(pk)])
        if choice < 0.84:
            rp, rs = rng.choice(R_KEYS)
            if rng.random() < 0.3:
                return self.write("DeleteItem", {"TableName": "rng", "Key": {"pk": S(rp), "sk": S(rs)}},
                                  [self.rkey(rp, rs)])
            return self.write("PutItem", {"TableName": "rng", "Item": {"pk": S(rp), "sk": S(rs), "v": S(tag)}},
                              [self.rkey(rp, rs)])
        if choice < 0.90:
            a, b = rng.sample(T_KEYS, 2)
            return self.write("BatchWriteItem", {"RequestItems": {"tbl": [
                {"PutRequest": {"Item": {"pk": S(a), "v": S(tag)}}}, {"DeleteRequest": {"Key": {"pk": S(b)}}}]}},
                [self.tkey(a), self.tkey(b)])
        a, b = rng.sample(T_KEYS, 2)
        return self.write("TransactWriteItems", {"TransactItems": [
            {"Put": {"TableName": "tbl", "Item": {"pk": S(a), "v": S(tag)}}},
            {"Update": {"TableName": "tbl", "Key": {"pk": S(b)}, "AttributeUpdates": {"v": {"Value": S(tag)}}}}]},
            [self.tkey(a), self.tkey(b)])

    def maybe_fail(self) -> None:
        roll = self.rng.random()
        op = self.rng.choice(["PutItem", "DeleteItem", "UpdateItem", "BatchWriteItem", "TransactWriteItems"])
        if roll < 0.04:
            self.store.failures[op] = ConditionalCheckFailedException()
        elif roll < 0.08:
            self.store.fail_after[op] = ServiceUnavailable("applied, then the connection dropped")

    def external_write(self) -> None:
        """Another node writes straight to the shared store."""
        OP.set("external")
        table = self.store.data["tbl"] if self.rng.random() < 0.6 else self.store.data["rng"]
        tag = f"x{next(self.ids)}"
        if table is self.store.data["tbl"]:
            pk = self.rng.choice(T_KEYS)
            if self.rng.random() < 0.3:
                table.pop((pk.encode(), b""), None)
            else:
                table[(pk.encode(), b"")] = {"pk": S(pk), "v": S(tag)}
        else:
            rp, rs = self.rng.choice(R_KEYS)
            table[(rp.encode(), rs.encode())] = {"pk": S(rp), "sk": S(rs), "v": S(tag)}

    async def run(self, steps: int, width: int) -> None:
        in_flight: set[asyncio.Future[Any]] = set()
        for _ in range(steps):
            roll = self.rng.random()
            if roll < 0.06:
                if in_flight:
                    await asyncio.gather(*in_flight)
                    in_flight.clear()
                self.clock.advance(self.rng.choice([0.5, 1.0, 3.0, 5.0, 8.0, 12.0]))
                continue
            if roll < 0.12:
                self.external_write()
                continue
            in_flight.add(asyncio.ensure_future(self.random_op()))
            if len(in_flight) >= width:
                done, _ = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    task.result()
                in_flight -= done
        await asyncio.gather(*in_flight)
        assert len(self.cs.gens) == 0 and not self.cs.item_flights.active and not self.cs.query_flights.active


@pytest.mark.parametrize("seed", range(40))
def test_random_interleavings_against_the_model(seed: int) -> None:
    driver = Driver(seed)
    asyncio.run(driver.run(steps=400, width=1 + seed % 6))
    assert driver.checked > 100
