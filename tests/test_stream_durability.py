"""A SIGKILL during writes leaves the table and its change log consistent: replaying the stream from its start
gives exactly the table (no record without its write, no write without its record), and every acknowledged
write is in both. SQLite and PostgreSQL."""

from __future__ import annotations

import random
import signal
import threading
import time
from typing import Any

import pytest

from tests.conftest import boto_client, unique_name
from tests.e2e_backends import E2E_BACKENDS
from tests.server_process import ServerProcess
from tests.stream_consumer import StreamReader, streams_client

KEYS = 12


def _load(url: str, table: str, stop: threading.Event, acked: dict[str, int], seed: int) -> None:
    """Increment counters, sometimes delete and re-put: each acknowledged increment is counted per key."""
    client = boto_client(url)
    rng = random.Random(seed)
    while not stop.is_set():
        key = f"k{rng.randrange(KEYS)}"
        try:
            if rng.random() < 0.1:
                client.delete_item(TableName=table, Key={"pk": {"S": key}})
                acked["deletes"] = acked.get("deletes", 0) + 1
            else:
                client.update_item(TableName=table, Key={"pk": {"S": key}}, UpdateExpression="ADD n :one",
                                   ExpressionAttributeValues={":one": {"N": "1"}})
                acked["updates"] = acked.get("updates", 0) + 1
        except Exception:
            return  # the server went away: not acknowledged


def _scan(client: Any, table: str) -> dict[str, Any]:
    items: dict[str, Any] = {}
    kwargs: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
    while True:
        page = client.scan(**kwargs)
        items.update({item["pk"]["S"]: item for item in page["Items"]})
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _replay(records: list[dict[str, Any]]) -> dict[str, Any]:
    state: dict[str, Any] = {}
    for record in records:
        key = record["dynamodb"]["Keys"]["pk"]["S"]
        if record["eventName"] == "REMOVE":
            state.pop(key, None)
        else:
            state[key] = record["dynamodb"]["NewImage"]
    return state


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_sigkill_leaves_log_and_table_consistent(backend: str) -> None:
    proc = ServerProcess(E2E_BACKENDS[backend]()).start()
    try:
        client = boto_client(proc.url)
        table = unique_name("crash")
        client.create_table(TableName=table, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                            BillingMode="PAY_PER_REQUEST",
                            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
        arn = client.describe_table(TableName=table)["Table"]["LatestStreamArn"]
        stop = threading.Event()
        acked: list[dict[str, int]] = [{} for _ in range(6)]
        workers = [threading.Thread(target=_load, args=(proc.url, table, stop, acked[w], w)) for w in range(6)]
        for worker in workers:
            worker.start()
        deadline = time.monotonic() + 30
        while sum(a.get("updates", 0) for a in acked) < 300 and time.monotonic() < deadline:
            time.sleep(0.01)  # let the load run until enough writes were acknowledged
        proc.stop(signal.SIGKILL)  # mid-write: several units are in flight
        stop.set()
        for worker in workers:
            worker.join(10)
        updates = sum(a.get("updates", 0) for a in acked)
        assert updates >= 300, "the load ran"

        proc.start()
        client, streams = boto_client(proc.url), streams_client(proc.url)
        table_now = _scan(client, table)
        reader = StreamReader(streams, arn)
        while reader.poll():
            pass  # nothing writes any more: read until a pass finds nothing new
        records = reader.records
        assert _replay(records) == table_now, "the log replays to exactly the table"
        # Every acknowledged increment is a record (it always changes the item); committed but unacknowledged
        # ones (in flight at the kill) may add a few.
        assert sum(r["eventName"] != "REMOVE" for r in records) >= updates
        assert len({r["dynamodb"]["SequenceNumber"] for r in records}) == len(records)
        last: dict[str, Any] = {}  # each key's records chain: every old image is the previous new image
        for record in records:
            key = record["dynamodb"]["Keys"]["pk"]["S"]
            old, new = record["dynamodb"].get("OldImage"), record["dynamodb"].get("NewImage")
            assert old == last.get(key), f"a change of {key} is missing from the log"
            if new is not None:
                assert int(new["n"]["N"]) == (int(old["n"]["N"]) if old else 0) + 1
            last[key] = new
    finally:
        proc.stop()
