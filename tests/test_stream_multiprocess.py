"""Two accelerator processes on one backend write the same items: the stream read through either shows every
acknowledged write exactly once, and each item's records in commit order (every old image is the previous
new image), so the log's sequence follows commits across processes."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from tests.conftest import boto_client, unique_name
from tests.e2e_backends import E2E_BACKENDS, SHARED_BACKENDS
from tests.server_process import ServerProcess
from tests.stream_consumer import StreamReader, streams_client

KEYS = 4
PER_WRITER = 40


def _bump(url: str, table: str, worker: int, done: list[int]) -> None:
    client = boto_client(url, retries=5)
    for i in range(PER_WRITER):
        client.update_item(TableName=table, Key={"pk": {"S": f"k{(worker + i) % KEYS}"}},
                           UpdateExpression="ADD n :one", ExpressionAttributeValues={":one": {"N": "1"}})
        done[worker] += 1


@pytest.mark.parametrize("backend", SHARED_BACKENDS)
def test_two_processes_one_ordered_log(backend: str) -> None:
    config = E2E_BACKENDS[backend]()
    first = ServerProcess(config).start()
    second = ServerProcess(config, data_dir=str(first.dir)) if backend == "sqlite" else ServerProcess(config)
    second.start()
    try:
        table = unique_name("mp")
        boto_client(first.url).create_table(
            TableName=table, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
        arn = boto_client(second.url).describe_table(TableName=table)["Table"]["LatestStreamArn"]
        done = [0] * 6
        workers = [threading.Thread(target=_bump, args=((first, second)[w % 2].url, table, w, done))
                   for w in range(6)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(120)
        assert sum(done) == 6 * PER_WRITER
        records = StreamReader(streams_client(second.url), arn).read_until(sum(done))
        assert len(records) == sum(done), "every increment exactly once"
        last: dict[str, Any] = {}
        for record in records:
            key = record["dynamodb"]["Keys"]["pk"]["S"]
            old, new = record["dynamodb"].get("OldImage"), record["dynamodb"]["NewImage"]
            assert old == last.get(key), f"{key}'s records are out of commit order"
            last[key] = new
        assert sum(int(item["n"]["N"]) for item in last.values()) == sum(done)
    finally:
        second.stop()
        first.stop()
