"""Streams' time rules with injected clocks: 15-minute iterators, 24-hour retention trimmed by the upkeep task."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from accelerator.core.errors import (
    BackendUnavailable,
    ExpiredIteratorException,
    ResourceNotFoundException,
    TrimmedDataAccessException,
    ValidationException,
)
from accelerator.engine import TableEngine, stream_state
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


async def _records(engine: TableEngine, arn: str) -> list[dict[str, Any]]:
    """Every record of the stream's shards, read from TRIM_HORIZON to each shard's end."""
    out: list[dict[str, Any]] = []
    for shard in (await engine.call("DescribeStream", {"StreamArn": arn}))["StreamDescription"]["Shards"]:
        iterator = (await engine.call("GetShardIterator", {"StreamArn": arn, "ShardId": shard["ShardId"],
                                                           "ShardIteratorType": "TRIM_HORIZON"}))["ShardIterator"]
        while iterator:
            page = await engine.call("GetRecords", {"ShardIterator": iterator})
            out += page["Records"]
            iterator = page.get("NextShardIterator") if page["Records"] else None
    return out


async def _listed(engine: TableEngine, **kwargs: Any) -> list[str]:
    return [s["StreamArn"] for s in (await engine.call("ListStreams", kwargs))["Streams"]]


def test_a_deleted_tables_stream_stays_readable_for_a_day() -> None:
    """DynamoDB's DeleteTable: the stream goes DISABLED and is deleted after 24 hours; until then its records
    can be read, also after a table of the same name (another key schema) is created with a stream of its own."""

    async def body(engine: TableEngine) -> None:
        await engine.call("CreateTable", TABLE)
        for i in range(3):
            await engine.call("PutItem", {"TableName": "retained", "Item": {"pk": {"S": f"k{i}"}}})
        old = (await engine.call("DescribeTable", {"TableName": "retained"}))["Table"]["LatestStreamArn"]
        await engine.call("DeleteTable", {"TableName": "retained"})
        described = (await engine.call("DescribeStream", {"StreamArn": old}))["StreamDescription"]
        assert described["StreamStatus"] == "DISABLED" and described["TableName"] == "retained"
        assert described["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
        assert all("EndingSequenceNumber" in s["SequenceNumberRange"] for s in described["Shards"])
        assert old in await _listed(engine) and old in await _listed(engine, TableName="retained")
        assert [r["dynamodb"]["Keys"] for r in await _records(engine, old)] == [{"pk": {"S": f"k{i}"}} for i in range(3)]

        again = {**TABLE, "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
                 "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}]}
        del again["StreamSpecification"]
        await engine.call("CreateTable", again)
        assert "LatestStreamArn" not in (await engine.call("DescribeTable", {"TableName": "retained"}))["Table"]
        await engine.call("UpdateTable", {"TableName": "retained", "StreamSpecification": {
            "StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}})
        new = (await engine.call("DescribeTable", {"TableName": "retained"}))["Table"]["LatestStreamArn"]
        await engine.call("PutItem", {"TableName": "retained", "Item": {"id": {"S": "x"}}})
        assert new != old and {old, new} <= set(await _listed(engine, TableName="retained"))
        assert [r["dynamodb"]["Keys"] for r in await _records(engine, new)] == [{"id": {"S": "x"}}]
        assert len(await _records(engine, old)) == 3, "the old stream's records keep their own key schema"

        upkeep = engine.log_upkeep
        upkeep.clock = lambda: time.time() + 23 * 3600
        await upkeep.run_once()
        assert len(await _records(engine, old)) == 3, "23 hours on: still kept"
        upkeep.clock = lambda: time.time() + 24 * 3600 + 60
        await upkeep.run_once()
        with pytest.raises(ResourceNotFoundException):
            await engine.call("DescribeStream", {"StreamArn": old})
        assert await _listed(engine) == [new]  # (its record is a day old by that clock too: trimmed)
        assert (await engine.call("DescribeStream", {"StreamArn": new}))["StreamDescription"]["StreamStatus"] == \
            "ENABLED"

        await engine.call("PutItem", {"TableName": "retained", "Item": {"id": {"S": "y"}}})
        await engine.call("DeleteTable", {"TableName": "retained"})
        assert await _listed(engine) == [new] and await engine.streams.retired() == ["retained"]
        assert await engine.storage.read_log("retained", 0, 10), "kept for the deleted table's stream"
        upkeep.clock = lambda: time.time() + 2 * 24 * 3600
        await upkeep.run_once()
        assert await _listed(engine) == [] and await engine.streams.retired() == []
        assert await engine.storage.read_log("retained", 0, 10) == [], "no stream needs the log: it is gone"
        with pytest.raises(ResourceNotFoundException):
            await engine.call("ListStreams", {"TableName": "retained"})

    run(body)


def test_a_deleted_table_without_a_stream_leaves_no_log_and_the_kept_ones_are_bounded(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    async def body(engine: TableEngine) -> None:
        await engine.call("CreateTable", TABLE)
        await engine.call("PutItem", {"TableName": "retained", "Item": {"pk": {"S": "a"}}})
        await engine.call("UpdateTable", {"TableName": "retained", "StreamSpecification": {"StreamEnabled": False}})
        await engine.call("DeleteTable", {"TableName": "retained"})
        assert await engine.storage.read_log("retained", 0, 10), "a disabled stream is kept after the delete too"
        await engine.call("CreateTable", {**TABLE, "TableName": "plain", "StreamSpecification": {
            "StreamEnabled": False}})
        await engine.call("DeleteTable", {"TableName": "plain"})
        assert await engine.streams.retired() == ["retained"]

        monkeypatch.setattr(stream_state, "RETIRED_BOUND", 2)
        arns = []
        for name in ("bound0", "bound1", "bound2"):
            await engine.call("CreateTable", {**TABLE, "TableName": name})
            await engine.call("PutItem", {"TableName": name, "Item": {"pk": {"S": "a"}}})
            arns.append((await engine.call("DescribeTable", {"TableName": name}))["Table"]["LatestStreamArn"])
            await engine.call("DeleteTable", {"TableName": name})
        assert await engine.streams.retired() == ["bound1", "bound2"] and "dropped early" in caplog.text
        with pytest.raises(ResourceNotFoundException):  # the oldest deleted tables' streams went first
            await engine.call("DescribeStream", {"StreamArn": arns[0]})
        assert set(await _listed(engine)) == {arns[1], arns[2]}
        assert await engine.storage.read_log("retained", 0, 10) == [] and await engine.storage.read_log(
            "bound0", 0, 10) == [], "their logs went with them"

    run(body)


class _Crash(BaseException):
    """The process dying at this point (raised past every handler, as SIGKILL would stop them)."""


def test_a_crash_inside_delete_table_leaves_no_unlisted_stream() -> None:
    """The streams are retired before the table is deleted: a crash after the table is gone leaves a stream
    that ListStreams lists and the upkeep expires; a crash before leaves the table, and a retried DeleteTable
    finishes with the same stream readable."""

    async def body(engine: TableEngine) -> None:
        real = engine.storage.delete_table
        for name, crash_after_delete in (("gone", True), ("kept", False)):
            await engine.call("CreateTable", {**TABLE, "TableName": name})
            for i in range(2):
                await engine.call("PutItem", {"TableName": name, "Item": {"pk": {"S": f"k{i}"}}})
            arn = (await engine.call("DescribeTable", {"TableName": name}))["Table"]["LatestStreamArn"]

            async def dying(table: str, after: bool = crash_after_delete) -> None:
                if after:
                    await real(table)
                raise _Crash()

            engine.storage.delete_table = dying  # type: ignore[method-assign]
            with pytest.raises(_Crash):
                await engine.call("DeleteTable", {"TableName": name})
            engine.storage.delete_table = real  # type: ignore[method-assign]
            if not crash_after_delete:  # the client's retry of the unanswered DeleteTable
                await engine.call("DeleteTable", {"TableName": name})
            assert name in await engine.streams.retired()
            assert arn in await _listed(engine, TableName=name)
            described = (await engine.call("DescribeStream", {"StreamArn": arn}))["StreamDescription"]
            assert described["StreamStatus"] == "DISABLED"
            assert [r["dynamodb"]["Keys"] for r in await _records(engine, arn)] == [
                {"pk": {"S": "k0"}}, {"pk": {"S": "k1"}}]
        engine.log_upkeep.clock = lambda: time.time() + 24 * 3600 + 60
        await engine.log_upkeep.run_once()
        assert await _listed(engine) == [] and await engine.streams.retired() == []

    run(body)


def test_a_table_created_again_after_a_crashed_delete_starts_clean() -> None:
    """DeleteTable drops the name's meta records (TTL, tags) after the storage delete; if it dies in between,
    a CreateTable of the name clears what was left, so the new table does not inherit the old one's TTL."""

    async def body(engine: TableEngine) -> None:
        plain = {k: v for k, v in TABLE.items() if k != "StreamSpecification"}
        created = await engine.call("CreateTable", {**plain, "Tags": [{"Key": "team", "Value": "a"}]})
        arn = created["TableDescription"]["TableArn"]
        await engine.call("UpdateTimeToLive", {"TableName": "retained", "TimeToLiveSpecification": {
            "Enabled": True, "AttributeName": "exp"}})
        real = engine.storage.delete_table

        async def dying(table: str) -> None:
            await real(table)
            raise _Crash()

        engine.storage.delete_table = dying  # type: ignore[method-assign]
        with pytest.raises(_Crash):
            await engine.call("DeleteTable", {"TableName": "retained"})
        engine.storage.delete_table = real  # type: ignore[method-assign]
        await engine.call("CreateTable", plain)
        ttl = await engine.call("DescribeTimeToLive", {"TableName": "retained"})
        assert ttl["TimeToLiveDescription"]["TimeToLiveStatus"] == "DISABLED"
        assert (await engine.call("ListTagsOfResource", {"ResourceArn": arn})).get("Tags", []) == []

    run(body)
