"""Redis Cluster cross-slot transactions are all-or-nothing across a crash or a stall past the lock lease:
deterministic fault injection at each step of the intent protocol (backends/redis/intents.py), with a second
storage on the same prefix standing in for another process."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from accelerator.core.keys import KeySchema
from accelerator.core.protocols import KeyRef
from accelerator.core.tables import TableDef
from backends.redis import RedisStorage
from backends.redis.intents import SimulatedCrash
from tests.backend_services import open_redis
from tests.redis_cluster import shared_cluster

TABLE = TableDef(name="t", key=KeySchema("pk", "S", "sk", "S"), attribute_definitions=(("pk", "S"), ("sk", "S")),
                 created=1.0)
LEASE = 0.3
ACCOUNTS = [KeyRef("t", pk, b"") for pk in (b"a", b"b", b"c", b"d")]  # several slots


def transfer(amount: int) -> Callable[[list[bytes | None]], list[bytes]]:
    """Move ``amount`` from the first account to each of the others (the sum stays the same)."""
    def apply(old: list[bytes | None]) -> list[bytes]:
        values = [int(v or b"0") for v in old]
        values[0] -= amount * (len(values) - 1)
        return [str(v).encode() for v in [values[0], *(v + amount for v in values[1:])]]
    return apply


async def _balances(storage: RedisStorage) -> list[int]:
    return [int(v or b"0") for v in await storage.get_many(ACCOUNTS)]


async def _scenario(point: str, hook: Callable[[RedisStorage, RedisStorage], Callable[[str], Awaitable[None]]],
                    check: Callable[[RedisStorage, RedisStorage, list[int]], Awaitable[None]]) -> None:
    async with open_redis(cluster_nodes=shared_cluster().nodes, lock_lease=LEASE) as owner:
        await owner.create_table(TABLE)
        await owner.transact(ACCOUNTS, lambda old: [b"1000", b"0", b"0", b"0"])
        assert len({p.slot for p in owner.layout.plan(ACCOUNTS).ref_parts}) > 1
        other = RedisStorage(cluster_nodes=[f"{n.host}:{n.port}" for n in owner.cluster_nodes], prefix=owner.prefix,
                             lock_lease=LEASE)
        await other.open()
        try:
            owner.intents.fault = hook(owner, other)
            await check(owner, other, await _balances(owner))
        finally:
            await other.close()


@pytest.mark.parametrize("point", ["held", "committed", "first write"])
def test_a_process_killed_mid_transaction_is_finished_or_undone_by_the_next_writer(point: str) -> None:
    def hook(owner: RedisStorage, other: RedisStorage) -> Callable[[str], Awaitable[None]]:
        async def fault(at: str) -> None:
            if at == point:
                raise SimulatedCrash(at)
        return fault

    async def check(owner: RedisStorage, other: RedisStorage, before: list[int]) -> None:
        with pytest.raises(SimulatedCrash):
            await owner.transact(ACCOUNTS, transfer(10))
        # the next writer of any of its partitions finds the lock left held, waits out a lease, then recovers
        await other.transact([ACCOUNTS[2]], lambda old: [str(int(old[0] or b"0") + 1).encode()])
        after = await _balances(other)
        committed = point != "held"
        assert after == ([970, 10, 11, 10] if committed else [1000, 0, 1, 0])
        if committed:  # one recovery finishes it and frees every lock
            assert other.stats["intents_rolled_forward"] == 1
        else:  # never committed: each lock it left is freed by the reader or writer that meets it
            assert other.stats["intents_abandoned"] == 4
        assert sum(after) == 1001  # the transfer moved money, never made or lost it
        for lock in {p.lock for p in other.layout.plan(ACCOUNTS).ref_parts}:
            assert await other.driver.client.exists(lock) == 0, "a lock was left behind"

    asyncio.run(_scenario(point, hook, check))


def test_an_owner_stalled_past_its_lease_and_a_recoverer_apply_it_once() -> None:
    stalled, resumed = asyncio.Event(), asyncio.Event()

    def hook(owner: RedisStorage, other: RedisStorage) -> Callable[[str], Awaitable[None]]:
        async def fault(at: str) -> None:
            if at == "first write":  # stall here until another process has finished the transaction
                stalled.set()
                await resumed.wait()
        return fault

    async def check(owner: RedisStorage, other: RedisStorage, before: list[int]) -> None:
        owning = asyncio.ensure_future(owner.transact(ACCOUNTS, transfer(10)))
        await stalled.wait()  # committed, one slot written
        snapshot = await other.get_many(ACCOUNTS)  # waits for the locks; recovers after a lease
        resumed.set()
        await owning  # the owner's own writes of the applied slots are no-ops
        assert [int(v or b"0") for v in snapshot] == [970, 10, 10, 10]
        assert await _balances(owner) == [970, 10, 10, 10]  # applied once, not twice
        assert other.stats["intents_rolled_forward"] == 1

    asyncio.run(_scenario("stall", hook, check))


def test_readers_never_see_half_of_a_transaction_left_by_a_crash() -> None:
    def hook(owner: RedisStorage, other: RedisStorage) -> Callable[[str], Awaitable[None]]:
        async def fault(at: str) -> None:
            if at == "first write":
                raise SimulatedCrash(at)
        return fault

    async def check(owner: RedisStorage, other: RedisStorage, before: list[int]) -> None:
        with pytest.raises(SimulatedCrash):
            await owner.transact(ACCOUNTS, transfer(10))
        got: Any = await other.get_many(ACCOUNTS)  # a snapshot read: all before or all after, never a mix
        assert sum(int(v or b"0") for v in got) == 1000
        assert [int(v) for v in got] == [970, 10, 10, 10]

    asyncio.run(_scenario("reader", hook, check))


def test_sigkill_loop_over_transfers_between_two_processes_keeps_the_sum() -> None:
    """Two accelerator processes on one cluster prefix, transfers through both; one is SIGKILLed mid-load each
    round and restarted: a TransactGetItems of every account (which finishes any transaction left behind)
    always sums to the start."""
    import random
    import signal
    import threading
    import time

    from tests.backend_services import redis_cluster_e2e_backend
    from tests.conftest import boto_client
    from tests.server_process import ServerProcess

    accounts, start = 6, 100
    backend = {**redis_cluster_e2e_backend(), "lock_lease": 0.5}
    one, two = ServerProcess(backend).start(), ServerProcess(backend).start()
    try:
        admin = boto_client(two.url)
        admin.create_table(TableName="bank", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                           AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                           BillingMode="PAY_PER_REQUEST")
        for i in range(accounts):
            admin.put_item(TableName="bank", Item={"pk": {"S": f"acc{i}"}, "balance": {"N": str(start)}})

        def total() -> int:
            got = admin.transact_get_items(TransactItems=[
                {"Get": {"TableName": "bank", "Key": {"pk": {"S": f"acc{i}"}}}} for i in range(accounts)])
            return sum(int(r["Item"]["balance"]["N"]) for r in got["Responses"])

        for round_ in range(3):
            stop = threading.Event()
            done = [0, 0]

            def load(n: int, url: str, seed: int, stop: threading.Event, done: list[int]) -> None:
                rng, client = random.Random(seed), boto_client(url, retries=0)
                while not stop.is_set():
                    src, dst = rng.sample(range(accounts), 2)
                    amount = rng.randint(1, 20)
                    try:
                        client.transact_write_items(TransactItems=[
                            {"Update": {"TableName": "bank", "Key": {"pk": {"S": f"acc{src}"}},
                                        "UpdateExpression": "SET balance = balance - :a",
                                        "ConditionExpression": "balance >= :a",
                                        "ExpressionAttributeValues": {":a": {"N": str(amount)}}}},
                            {"Update": {"TableName": "bank", "Key": {"pk": {"S": f"acc{dst}"}},
                                        "UpdateExpression": "SET balance = balance + :a",
                                        "ExpressionAttributeValues": {":a": {"N": str(amount)}}}}])
                        done[n] += 1
                    except Exception:  # noqa: BLE001 - cancelled, conflicting, or the process was killed
                        if n == 0 and stop.is_set():
                            return
            threads = [threading.Thread(target=load, args=(n, url, round_ * 2 + n, stop, done))
                       for n, url in enumerate((one.url, two.url))]
            for t in threads:
                t.start()
            deadline = time.monotonic() + 60
            while min(done) < 5:  # both processes are committing transfers: kill one mid-load
                assert time.monotonic() < deadline, "the load never got going"
                time.sleep(0.005)
            one.stop(signal.SIGKILL)
            stop.set()
            for t in threads:
                t.join(30)
            assert total() == accounts * start, f"round {round_}: money made or lost"
            one.start()
    finally:
        one.stop()
        two.stop()


def test_a_restarted_process_finishes_committed_intents_at_startup() -> None:
    def hook(owner: RedisStorage, other: RedisStorage) -> Callable[[str], Awaitable[None]]:
        async def fault(at: str) -> None:
            if at == "first write":
                raise SimulatedCrash(at)
        return fault

    async def check(owner: RedisStorage, other: RedisStorage, before: list[int]) -> None:
        with pytest.raises(SimulatedCrash):
            await owner.transact(ACCOUNTS, transfer(10))
        restarted = RedisStorage(cluster_nodes=[f"{n.host}:{n.port}" for n in owner.cluster_nodes],
                                 prefix=owner.prefix, lock_lease=60.0)  # a lease no test would wait out
        await restarted.open()  # its recovery pass finishes the transaction at once
        try:
            assert restarted.stats["intents_rolled_forward"] == 1
            assert [int(await restarted.get("t", ref.pk, b"") or b"0") for ref in ACCOUNTS] == [970, 10, 10, 10]
            for lock in {p.lock for p in restarted.layout.plan(ACCOUNTS).ref_parts}:
                assert await restarted.driver.client.exists(lock) == 0
        finally:
            await restarted.close()

    asyncio.run(_scenario("startup", hook, check))
