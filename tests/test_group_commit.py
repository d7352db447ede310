"""Group commit: concurrent units share one transaction, each keeps its own outcome.

The scheduling rules against a recording runner (pure, no store), then PostgreSQL for real: many concurrent
read-modify-write units on a few keys with a small pool (so units queue and batch), some failing their
condition, against the exact expected counts.
"""

from __future__ import annotations

import asyncio
from typing import Any

from accelerator.core.errors import ConditionFailed
from accelerator.core.keys import KeySchema
from accelerator.core.protocols import KEEP, KeyRef
from accelerator.core.tables import TableDef
from backends.group_commit import GroupCommit, Unit
from tests.backend_services import open_postgres, open_redis


def _ref(k: str) -> KeyRef:
    return KeyRef("t", k.encode(), b"")


def test_batches_take_disjoint_units_in_order_and_isolate_failures() -> None:
    batches: list[list[str]] = []
    gate = asyncio.Event()

    async def run(batch: list[Unit]) -> list[Any]:
        batches.append([unit.refs[0].pk.decode() for unit in batch])
        await gate.wait()
        outcomes: list[Any] = []
        for unit in batch:
            try:
                unit.apply([None])
                outcomes.append([None])
            except Exception as exc:  # noqa: BLE001
                outcomes.append(exc)
        return outcomes

    def ok(_old: list[bytes | None]) -> list[Any]:
        return [b"v"]

    def fails(_old: list[bytes | None]) -> list[Any]:
        raise ConditionFailed()

    async def main() -> list[Any]:
        group = GroupCommit(run, slots=1)
        first = asyncio.ensure_future(group.submit([_ref("x")], ok))  # alone: a batch of one
        await asyncio.sleep(0)
        rest = [asyncio.ensure_future(group.submit([_ref(k)], f))
                for k, f in (("b", ok), ("a", ok), ("a", ok), ("c", fails), ("d", ok))]
        await asyncio.sleep(0)
        gate.set()
        return await asyncio.gather(first, *rest, return_exceptions=True)

    results = asyncio.run(main())
    # the second "a" waits for the batch after the one holding the first: its apply sees that unit's commit
    assert batches == [["x"], ["b", "a", "c", "d"], ["a"]]
    assert isinstance(results[4], ConditionFailed)
    assert [r for i, r in enumerate(results) if i != 4] == [[None]] * 5


def test_a_failed_transaction_fails_each_of_its_units() -> None:
    async def run(batch: list[Unit]) -> list[Any]:
        raise OSError("connection lost")

    async def main() -> list[Any]:
        group = GroupCommit(run, slots=2)
        return await asyncio.gather(*(group.submit([_ref(k)], lambda old: [b"v"]) for k in "xyz"),
                                    return_exceptions=True)

    assert all(isinstance(r, OSError) for r in asyncio.run(main()))


def _counts_exactly(opener: Any) -> None:
    keys = [KeyRef("counters", f"k{i}".encode(), b"") for i in range(5)]

    def increment(old: list[bytes | None]) -> list[Any]:
        return [str(int(old[0] or b"0") + 1).encode()]

    def refuse(old: list[bytes | None]) -> list[Any]:
        raise ConditionFailed(old[0])

    def transfer(old: list[bytes | None]) -> list[Any]:  # two keys at once: both or neither
        return [str(int(old[0] or b"0") - 1).encode(), str(int(old[1] or b"0") + 1).encode()]

    async def main() -> None:
        async with opener() as storage:
            await storage.create_table(TableDef("counters", KeySchema("pk", "S"), (("pk", "S"),), created=0.0))
            units = []
            for round_ in range(40):
                for i, ref in enumerate(keys):
                    units.append(storage.transact([ref], increment))
                    if (round_ + i) % 7 == 0:
                        units.append(storage.transact([ref], refuse))
                units.append(storage.transact([keys[0], keys[1]], transfer))
            results = await asyncio.gather(*units, return_exceptions=True)
            refused = sum(isinstance(r, ConditionFailed) for r in results)
            assert refused == sum(1 for r in range(40) for i in range(5) if (r + i) % 7 == 0)
            assert not [r for r in results if isinstance(r, BaseException) and not isinstance(r, ConditionFailed)]
            values = [int((await storage.get(ref.table, ref.pk, ref.sk)) or b"0") for ref in keys]
            assert values == [40 - 40, 40 + 40, 40, 40, 40]
            group = storage._group
            assert group.units == len(units) and group.batches < group.units  # units did share transactions
            (untouched,) = await storage.transact([keys[2]], lambda old: [KEEP])
            assert untouched == b"40"

    asyncio.run(main())


def test_postgres_counts_exactly_under_batching() -> None:
    _counts_exactly(lambda: open_postgres(pool_size=2))


def test_redis_counts_exactly_under_batching() -> None:
    _counts_exactly(lambda: open_redis(batch_slots=1))
