"""Acknowledged writes survive a SIGTERM (graceful) and a SIGKILL (crash) of the server on SQLite."""

from __future__ import annotations

import signal
import threading
import time
from typing import Any

import pytest

from tests.conftest import boto_client, unique_name
from tests.server_process import ServerProcess


def _write_load(url: str, table: str, stop: threading.Event, acked: list[str], worker: int) -> None:
    client = boto_client(url)
    i = 0
    while not stop.is_set():
        key = f"w{worker}-{i}"
        try:
            client.put_item(TableName=table, Item={"pk": {"S": key}, "v": {"N": str(i)}})
        except Exception:
            return  # the server went away: this write was not acknowledged
        acked.append(key)
        i += 1


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_acknowledged_writes_survive_stop(sig: int) -> None:
    proc = ServerProcess({"kind": "sqlite"}).start()
    try:
        client = boto_client(proc.url)
        table = unique_name()
        client.create_table(TableName=table, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                            BillingMode="PAY_PER_REQUEST")
        stop = threading.Event()
        acked: list[list[str]] = [[] for _ in range(4)]
        workers = [threading.Thread(target=_write_load, args=(proc.url, table, stop, acked[w], w))
                   for w in range(4)]
        for w in workers:
            w.start()
        deadline = time.monotonic() + 60  # stop mid-load: once every worker has had writes acknowledged
        while min(len(a) for a in acked) < 25 and any(w.is_alive() for w in workers):
            assert time.monotonic() < deadline, "the load never got going"
            time.sleep(0.01)
        code = proc.stop(sig)
        stop.set()
        for w in workers:
            w.join(10)
        if sig == signal.SIGTERM:
            assert code == 0, "graceful shutdown exits cleanly"
        total = sum(len(a) for a in acked)
        assert total > 50, "the load ran"
        proc.start()
        client = boto_client(proc.url)
        for keys in acked:
            for key in keys:
                item = client.get_item(TableName=table, Key={"pk": {"S": key}}, ConsistentRead=True)
                assert "Item" in item, f"acknowledged write {key} lost"
    finally:
        proc.stop()


def test_data_survives_restart() -> None:
    proc = ServerProcess({"kind": "sqlite"}).start()
    try:
        client: Any = boto_client(proc.url)
        table = unique_name()
        client.create_table(TableName=table, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                            BillingMode="PAY_PER_REQUEST")
        client.put_item(TableName=table, Item={"pk": {"S": "a"}, "v": {"NS": ["1", "2"]}})
        proc.restart()
        client = boto_client(proc.url)
        assert table in client.list_tables()["TableNames"]
        assert client.get_item(TableName=table, Key={"pk": {"S": "a"}})["Item"]["v"]["NS"] in (["1", "2"], ["2", "1"])
    finally:
        proc.stop()
