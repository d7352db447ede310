"""Time to Live: settings through the API (durable), and the sweeper's expiry rules with a fake clock."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from accelerator.engine import TableEngine
from accelerator.engine.ttl import expired
from backends.memory import MemoryStorage
from tests.conftest import boto_client, unique_name
from tests.server_process import ServerProcess


@pytest.mark.parametrize("value, now, result", [
    ({"N": "100"}, 200.0, True),
    ({"N": "300"}, 200.0, False),
    ({"N": "200"}, 200.0, False),
    ({"S": "100"}, 200.0, False),
    ({"N": "1"}, 6 * 365 * 24 * 3600.0, False),  # more than five years in the past: never deleted
])
def test_expiry_rule(value: dict[str, str], now: float, result: bool) -> None:
    assert expired({"ttl": value}, "ttl", now) is result
    assert expired({"other": value}, "ttl", now) is False


def test_sweeper_deletes_only_expired_items() -> None:
    async def main() -> None:
        engine = TableEngine(MemoryStorage(), ttl_sweep_interval=0)
        now = [1_000_000.0]
        engine.sweeper.clock = lambda: now[0]
        deleted: list[tuple[str, bytes, bytes]] = []
        engine.subscribe(lambda t, pk, sk: deleted.append((t, pk, sk)))
        await engine.open()
        await engine.call("CreateTable", {"TableName": "sess", "BillingMode": "PAY_PER_REQUEST",
                                          "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
                                          "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}]})
        await engine.call("UpdateTimeToLive", {"TableName": "sess", "TimeToLiveSpecification": {
            "Enabled": True, "AttributeName": "exp"}})
        for i, exp in enumerate(["999000", "1000500", "abc"]):
            await engine.call("PutItem", {"TableName": "sess", "Item": {"id": {"S": f"s{i}"}, "exp": {"N": exp}
                                                                       if exp != "abc" else {"S": exp}}})
        assert await engine.sweeper.sweep() == 1
        assert [d[1] for d in deleted] == [b"s0"]
        now[0] = 1_001_000.0
        assert await engine.sweeper.sweep() == 1
        left = await engine.call("Scan", {"TableName": "sess"})
        assert [i["id"]["S"] for i in left["Items"]] == ["s2"]
        await engine.close()

    asyncio.run(main())


def test_ttl_settings_through_the_api_survive_restart() -> None:
    proc = ServerProcess({"kind": "sqlite", "ttl_sweep_interval": 0.2}).start()
    try:
        c: Any = boto_client(proc.url)
        name = unique_name()
        c.create_table(TableName=name, KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                       AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                       BillingMode="PAY_PER_REQUEST")
        assert c.describe_time_to_live(TableName=name)["TimeToLiveDescription"]["TimeToLiveStatus"] == "DISABLED"
        c.update_time_to_live(TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "exp"})
        with pytest.raises(c.exceptions.ClientError) as exc:
            c.update_time_to_live(TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "exp"})
        assert exc.value.response["Error"]["Code"] == "ValidationException"
        c.put_item(TableName=name, Item={"id": {"S": "old"}, "exp": {"N": str(int(time.time()) - 10)}})
        c.put_item(TableName=name, Item={"id": {"S": "new"}, "exp": {"N": str(int(time.time()) + 3600)}})
        proc.restart()
        c = boto_client(proc.url)
        desc = c.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        assert desc == {"TimeToLiveStatus": "ENABLED", "AttributeName": "exp"}
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if "Item" not in c.get_item(TableName=name, Key={"id": {"S": "old"}}):
                break
            time.sleep(0.1)
        assert "Item" not in c.get_item(TableName=name, Key={"id": {"S": "old"}}), "expired item swept"
        assert "Item" in c.get_item(TableName=name, Key={"id": {"S": "new"}})
        assert name in c.list_tables()["TableNames"] and not any("!" in n for n in c.list_tables()["TableNames"])
    finally:
        proc.stop()


def test_sweeper_forgets_transaction_tokens_after_ten_minutes() -> None:
    async def main() -> None:
        engine = TableEngine(MemoryStorage(), ttl_sweep_interval=0)
        await engine.open()
        await engine.call("CreateTable", {"TableName": "acct", "BillingMode": "PAY_PER_REQUEST",
                                          "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
                                          "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}]})
        request = {"ClientRequestToken": "tok-1", "TransactItems": [
            {"Update": {"TableName": "acct", "Key": {"id": {"S": "a"}}, "UpdateExpression": "ADD n :one",
                        "ExpressionAttributeValues": {":one": {"N": "1"}}}}]}
        await engine.call("TransactWriteItems", dict(request))
        await engine.call("TransactWriteItems", dict(request))
        item = await engine.call("GetItem", {"TableName": "acct", "Key": {"id": {"S": "a"}}})
        assert item["Item"]["n"] == {"N": "1"}, "the retry had no second effect"
        engine.sweeper.clock = lambda: time.time() + 5
        assert await engine.sweeper.sweep() == 0, "a young token is kept"
        engine.sweeper.clock = lambda: time.time() + 601
        assert await engine.sweeper.sweep() == 1, "an expired token is forgotten"
        await engine.close()

    asyncio.run(main())


class _Flaky(MemoryStorage):
    """Raises a bug's exception on the first sweep's table listing, then behaves."""

    def __init__(self) -> None:
        super().__init__()
        self.listings = 0
        self.second = asyncio.Event()

    async def list_tables(self) -> list[str]:
        self.listings += 1
        if self.listings == 1:
            raise RuntimeError("a bug in the sweep")
        self.second.set()
        return await super().list_tables()


def test_sweeper_survives_an_unexpected_exception_and_counts_it(caplog: pytest.LogCaptureFixture) -> None:
    from accelerator.core import guard

    async def main() -> None:
        storage = _Flaky()
        engine = TableEngine(storage, ttl_sweep_interval=0.001)
        before = guard.FAILURES["ttl sweep"]
        await engine.open()
        await asyncio.wait_for(storage.second.wait(), 30)  # the loop went on to another round
        await engine.close()
        assert guard.FAILURES["ttl sweep"] == before + 1

    asyncio.run(main())
    assert any("ttl sweep failed" in r.getMessage() and r.exc_info for r in caplog.records)
