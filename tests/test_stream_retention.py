"""Streams' time rules with injected clocks: 15-minute iterators, 24-hour retention trimmed by the upkeep task."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from accelerator.core.errors import (
    BackendUnavailable,
    ExpiredIteratorException,
    TrimmedDataAccessException,
    ValidationException,
)
from accelerator.engine import TableEngine
from accelerator.engine.log_maintenance import LogMaintenance
from accelerator.engine.stream_iterators import ITERATOR_SECONDS, IteratorCodec, Position
from backends.memory import MemoryStorage

TABLE = {"TableName": "retained", "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
         "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}], "BillingMode": "PAY_PER_REQUEST",
         "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"}}


def run(body: Any) -> None:
    async def main() -> None:
        engine = TableEngine(MemoryStorage(), ttl_sweep_interval=0, log_upkeep_interval=0)
        await engine.open()
        try:
            await body(engine)
        finally:
            await engine.close()

    asyncio.run(main())


def test_an_iterator_expires_after_fifteen_minutes_and_a_tampered_one_is_refused() -> None:
    async def body(engine: TableEngine) -> None:
        codec = IteratorCodec(engine.storage)
        token = await codec.encode(Position("t", "label", 1, 5, issued_ms=1_000_000))
        assert (await codec.decode(token, 1_000_000 + ITERATOR_SECONDS * 1000)).after == 5
        with pytest.raises(ExpiredIteratorException):
            await codec.decode(token, 1_000_001 + ITERATOR_SECONDS * 1000)
        payload, mac = token.split(".")
        forged = await IteratorCodec(engine.storage).encode(Position("t", "label", 1, 0, issued_ms=1_000_000))
        for bad in (forged.split(".")[0] + "." + mac, payload + "." + mac[::-1], "not-a-token", ""):
            with pytest.raises(ValidationException):
                await codec.decode(bad, 1_000_000)
        assert await IteratorCodec(engine.storage).decode(token, 1_000_000) is not None, "one key per backend"

    run(body)


def test_records_older_than_a_day_are_trimmed_and_old_positions_say_so() -> None:
    async def body(engine: TableEngine) -> None:
        await engine.call("CreateTable", TABLE)
        for i in range(600):  # more than two trim pages
            await engine.call("PutItem", {"TableName": "retained", "Item": {"pk": {"S": f"k{i}"}}})
        arn = (await engine.call("DescribeTable", {"TableName": "retained"}))["Table"]["LatestStreamArn"]
        shard = (await engine.call("DescribeStream", {"StreamArn": arn}))["StreamDescription"]["Shards"][0]
        start = {"StreamArn": arn, "ShardId": shard["ShardId"]}
        early = (await engine.call("GetShardIterator", {**start, "ShardIteratorType": "TRIM_HORIZON"}))["ShardIterator"]
        first = (await engine.call("GetRecords", {"ShardIterator": early, "Limit": 1}))["Records"][0]
        upkeep = engine.log_upkeep
        upkeep.clock = lambda: time.time() + 3600  # an hour on: nothing is a day old
        assert await upkeep.run_once() == 0
        engine.changelog.clock = lambda: time.time() + 25 * 3600  # a day later, three more writes
        for i in range(3):
            await engine.call("PutItem", {"TableName": "retained", "Item": {"pk": {"S": f"late{i}"}}})
        upkeep.clock = lambda: time.time() + 25 * 3600 + 60
        assert await upkeep.run_once() == 600
        with pytest.raises(TrimmedDataAccessException):
            await engine.call("GetRecords", {"ShardIterator": early})
        with pytest.raises(TrimmedDataAccessException):
            await engine.call("GetShardIterator", {**start, "ShardIteratorType": "AT_SEQUENCE_NUMBER",
                                                   "SequenceNumber": first["dynamodb"]["SequenceNumber"]})
        horizon = (await engine.call("GetShardIterator", {**start, "ShardIteratorType": "TRIM_HORIZON"}))
        kept = (await engine.call("GetRecords", horizon))["Records"]
        assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in kept] == ["late0", "late1", "late2"]
        assert await upkeep.run_once() == 0, "a second round finds nothing more"

    run(body)


def test_the_upkeep_task_survives_and_counts_its_errors() -> None:
    async def body(engine: TableEngine) -> None:
        await engine.call("CreateTable", TABLE)
        upkeep = LogMaintenance(engine.storage, engine.streams, interval=0.001)
        calls = {"n": 0}
        real = engine.storage.list_tables

        async def flaky() -> list[str]:
            calls["n"] += 1
            if calls["n"] == 1:
                raise BackendUnavailable("the store is away")
            if calls["n"] == 2:
                raise RuntimeError("a bug")
            return await real()

        engine.storage.list_tables = flaky  # type: ignore[method-assign]
        upkeep.start()
        try:
            while calls["n"] < 4:  # two failed rounds, then good ones: the task is still running
                await asyncio.sleep(0.001)
        finally:
            await upkeep.stop()
        assert upkeep.errors == 2

    run(body)
