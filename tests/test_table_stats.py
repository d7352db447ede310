"""DescribeTable's ItemCount and TableSizeBytes: recounted in the background, on every backend.

The e2e test runs a server per backend with a short recount interval and waits for the figures (a condition,
not a sleep); the unit tests drive ``TableStats.run_once`` directly over the memory backend, including a
recount that gives the event loop back while it pages and one that fails and is logged once.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest

from accelerator.core.errors import BackendUnavailable
from accelerator.core.values import item_size
from accelerator.engine import TableEngine
from backends.memory import MemoryStorage
from tests.conftest import BACKENDS, boto_client, unique_name
from tests.e2e_backends import E2E_BACKENDS
from tests.server_process import ServerProcess

_ENGINE_BACKENDS = [b for b in BACKENDS if b != "dynamodb-upstream"]  # the upstream reports its own figures


@pytest.fixture(scope="module", params=_ENGINE_BACKENDS)
def counted(request: pytest.FixtureRequest) -> Iterator[ServerProcess]:
    backend = {**E2E_BACKENDS[request.param](), "table_stats_interval": 0.2}
    proc = ServerProcess(backend).start()
    yield proc
    proc.stop()


def _wait_for(check: Any, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got is not None or time.monotonic() > deadline:
            return got
        time.sleep(0.05)


def _items(n: int) -> list[dict[str, Any]]:
    return [{"pk": {"S": f"k{i}"}, "g": {"S": "even" if i % 2 == 0 else "odd"}, "v": {"S": "x" * i}}
            for i in range(n)]


def test_item_count_and_size_follow_writes(counted: ServerProcess) -> None:
    ddb = boto_client(counted.url)
    name = unique_name("st")
    ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                           {"AttributeName": "g", "AttributeType": "S"}],
                     GlobalSecondaryIndexes=[{"IndexName": "by_g", "Projection": {"ProjectionType": "KEYS_ONLY"},
                                              "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}]}])
    assert ddb.describe_table(TableName=name)["Table"]["ItemCount"] == 0
    items = _items(30)
    for item in items:
        ddb.put_item(TableName=name, Item=item)
    ddb.put_item(TableName=name, Item={"pk": {"S": "no-g"}})  # not in the index
    size = sum(item_size(i) for i in items) + item_size({"pk": {"S": "no-g"}})

    def counted_all() -> dict[str, Any] | None:
        desc = ddb.describe_table(TableName=name)["Table"]
        return desc if desc["ItemCount"] == 31 else None

    desc = _wait_for(counted_all)
    assert desc is not None, "the recount never reported 31 items"
    assert desc["TableSizeBytes"] == size
    index = desc["GlobalSecondaryIndexes"][0]
    assert index["ItemCount"] == 30 and index["IndexSizeBytes"] > 0
    for item in items[:10]:
        ddb.delete_item(TableName=name, Key={"pk": item["pk"]})
    assert _wait_for(lambda: ddb.describe_table(TableName=name)["Table"]["ItemCount"] == 21 or None)
    # a table re-created under the name starts again from 0, not from the old table's figures
    ddb.delete_table(TableName=name)
    ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
    desc = ddb.describe_table(TableName=name)["Table"]
    assert (desc["ItemCount"], desc["TableSizeBytes"]) == (0, 0)
    ddb.delete_table(TableName=name)


def test_figures_survive_a_restart() -> None:
    proc = ServerProcess({"kind": "sqlite", "table_stats_interval": 0.2}).start()
    try:
        ddb = boto_client(proc.url)
        ddb.create_table(TableName="kept", BillingMode="PAY_PER_REQUEST",
                         KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
        for item in _items(5):
            ddb.put_item(TableName="kept", Item={"pk": item["pk"]})
        assert _wait_for(lambda: ddb.describe_table(TableName="kept")["Table"]["ItemCount"] == 5 or None)
        proc.stop()
        proc.config.write_text(proc.config.read_text().replace("table_stats_interval = 0.2",
                                                               "table_stats_interval = 3600"))
        proc.start()
        ddb = boto_client(proc.url)
        assert ddb.describe_table(TableName="kept")["Table"]["ItemCount"] == 5  # no recount ran: the stored one
    finally:
        proc.stop()


def _engine() -> TableEngine:
    return TableEngine(MemoryStorage(), ttl_sweep_interval=0, log_upkeep_interval=0, table_stats_interval=0)


async def _fill(engine: TableEngine, n: int) -> None:
    await engine.call("CreateTable", {"TableName": "tbl", "BillingMode": "PAY_PER_REQUEST",
                                      "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                                      "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}]})
    for i in range(n):
        await engine.call("PutItem", {"TableName": "tbl", "Item": {"pk": {"S": f"k{i}"}}})


def test_recount_gives_the_loop_back(monkeypatch: pytest.MonkeyPatch) -> None:
    """The recount pages through scan_all, which gives the loop a turn once a slice of work is used (its own
    timing is tested with a fake clock in test_paging); a zero slice makes every page boundary a turn, so the
    test does not depend on how fast this machine counts 2,000 items."""
    from accelerator.engine import table_stats
    from accelerator.engine.paging import scan_all

    monkeypatch.setattr(table_stats, "scan_all", functools.partial(scan_all, slice_seconds=0.0))

    async def run() -> tuple[dict[str, Any], int]:
        engine = _engine()
        await engine.open()
        await _fill(engine, 2000)
        ticks = 0
        done = asyncio.Event()

        async def ticker() -> None:
            nonlocal ticks
            while not done.is_set():
                ticks += 1
                await asyncio.sleep(0)

        task = asyncio.ensure_future(ticker())
        record = await engine.stats.recount("tbl")
        done.set()
        await task
        await engine.close()
        return record, ticks

    record, ticks = asyncio.run(run())
    assert record["items"] == 2000
    assert ticks > 1, "the recount of 2000 items never let another task run"


def test_failed_round_is_counted_and_logged_once(caplog: pytest.LogCaptureFixture,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    async def run() -> int:
        engine = TableEngine(MemoryStorage(), ttl_sweep_interval=0, log_upkeep_interval=0, table_stats_interval=0.01)
        await engine.open()
        await _fill(engine, 3)

        async def broken() -> list[str]:
            raise BackendUnavailable("store away")

        monkeypatch.setattr(engine.stats.storage, "list_tables", broken)
        engine.stats.start()
        while engine.stats.errors < 3:
            await asyncio.sleep(0.01)
        errors = engine.stats.errors
        await engine.close()
        return errors

    with caplog.at_level(logging.WARNING, logger="accelerator.engine.table_stats"):
        errors = asyncio.run(run())
    assert errors >= 3
    assert len([r for r in caplog.records if "recount failed" in r.message]) == 1


def test_a_bug_in_a_round_does_not_end_the_recounts(monkeypatch: pytest.MonkeyPatch) -> None:
    from accelerator.core import guard

    async def run() -> int:
        engine = TableEngine(MemoryStorage(), ttl_sweep_interval=0, log_upkeep_interval=0, table_stats_interval=0.01)
        await engine.open()
        await _fill(engine, 3)

        async def broken() -> list[str]:
            raise KeyError("a bug")

        monkeypatch.setattr(engine.stats.storage, "list_tables", broken)
        engine.stats.start()
        while engine.stats.errors < 3:  # the task goes on round after round (a condition, not a duration)
            await asyncio.sleep(0.01)
        errors = engine.stats.errors
        await engine.close()
        return errors

    before = guard.FAILURES["table statistics recount"]
    assert asyncio.run(run()) >= 3
    assert guard.FAILURES["table statistics recount"] >= before + 3
