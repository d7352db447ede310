"""The recovery base moves with the window: restores stay exact after the log before the base is trimmed."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson

from accelerator.core.tables import TableDef
from accelerator.engine import TableEngine
from accelerator.engine.pitr import PitrUpkeep, advance_base, materialize
from backends.memory import MemoryStorage


def _tick() -> float:
    """A wall-clock moment with a clear millisecond on each side of it."""
    start = time.time()
    while time.time() < start + 0.003:
        pass
    now = time.time()
    while time.time() < now + 0.003:
        pass
    return now


async def _state(engine: TableEngine, name: str) -> dict[str, str]:
    out = {}
    start = None
    while True:
        page = await engine.call("Scan", {"TableName": name, **({"ExclusiveStartKey": start} if start else {})})
        out.update({i["pk"]["S"]: i["v"]["N"] for i in page["Items"]})
        start = page.get("LastEvaluatedKey")
        if start is None:
            return out


async def _put(engine: TableEngine, name: str, key: str, value: int) -> None:
    await engine.call("PutItem", {"TableName": name, "Item": {"pk": {"S": key}, "v": {"N": str(value)}}})


async def _rebuilt(engine: TableEngine, table: TableDef, record: dict[str, Any], at: float) -> dict[str, str]:
    scratch = f"!scratch!{int(at * 1000)}"
    await engine.storage.create_table(TableDef(name=scratch, key=table.key, attribute_definitions=(), created=at))
    await materialize(engine, table, record, at, scratch)
    rows = await engine.storage.scan(scratch, segment=0, total_segments=1, start=None, limit=10_000)
    return {orjson.loads(v)["pk"]["S"]: orjson.loads(v)["v"]["N"] for _, _, v in rows}


def test_advanced_base_restores_exactly_after_the_trim() -> None:
    async def main() -> None:
        engine = TableEngine(MemoryStorage(), log_upkeep_interval=0)
        await engine.open()
        try:
            await engine.call("CreateTable", {
                "TableName": "t1", "BillingMode": "PAY_PER_REQUEST",
                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}]})
            for i in range(50):
                await _put(engine, "t1", f"k{i}", 0)
            await engine.call("UpdateContinuousBackups", {"TableName": "t1", "PointInTimeRecoverySpecification": {
                "PointInTimeRecoveryEnabled": True, "RecoveryPeriodInDays": 1}})
            while not (await engine.meta.get("pitr:t1") or {}).get("ready"):
                await asyncio.sleep(0.01)
            table = await engine.tables.get("t1")
            for i in range(0, 50, 2):
                await _put(engine, "t1", f"k{i}", 1)
            await engine.call("DeleteItem", {"TableName": "t1", "Key": {"pk": {"S": "k1"}}})
            middle = _tick()
            after_a = await _state(engine, "t1")
            for i in range(0, 50, 3):
                await _put(engine, "t1", f"k{i}", 2)
            await _put(engine, "t1", "new", 3)
            later = _tick()
            final = await _state(engine, "t1")

            record = await engine.meta.get("pitr:t1")
            assert record is not None
            moved = await advance_base(engine, table, record, middle)
            assert moved["since"] == round(middle, 3) and moved["head"] > record["head"]
            assert await engine.storage.get_table(record["base"]) is None  # the old base is gone
            await engine.storage.trim_log("t1", moved["head"] + 1)  # what the window's trim may now drop
            assert await _rebuilt(engine, table, moved, middle) == after_a
            assert await _rebuilt(engine, table, moved, later) == final

            upkeep = PitrUpkeep(engine, interval=0, clock=lambda: moved["since"] + 86400 + PitrUpkeep.SLACK + 5)
            assert await upkeep.run_once() == 1
            assert (await engine.meta.get("pitr:t1"))["since"] > moved["since"]
        finally:
            await engine.close()

    asyncio.run(main())
