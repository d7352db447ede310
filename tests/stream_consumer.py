"""A DynamoDB Streams consumer for tests: follows every shard of a stream, parents before children.

It is the algorithm a KCL-style reader uses: list the shards (all DescribeStream pages), read a shard from
TRIM_HORIZON until GetRecords stops handing out a NextShardIterator (the shard closed and was read to its
end), and start a child only once its parent is done, so records come out in stream order.
"""

from __future__ import annotations

import time
from typing import Any

import boto3
from botocore.config import Config

__all__ = ["streams_client", "list_shards", "StreamReader"]


def streams_client(url: str, validate: bool = True) -> Any:
    """boto3's dynamodbstreams client; ``validate=False`` lets bad parameters reach the server."""
    return boto3.client("dynamodbstreams", endpoint_url=url, region_name="us-east-1", aws_access_key_id="test",
                        aws_secret_access_key="test",
                        config=Config(retries={"max_attempts": 1}, parameter_validation=validate))


def list_shards(streams: Any, arn: str, limit: int = 100) -> list[dict[str, Any]]:
    """Every shard of the stream, following LastEvaluatedShardId."""
    shards: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"StreamArn": arn, "Limit": limit}
    while True:
        desc = streams.describe_stream(**kwargs)["StreamDescription"]
        shards += desc["Shards"]
        if "LastEvaluatedShardId" not in desc:
            return shards
        kwargs["ExclusiveStartShardId"] = desc["LastEvaluatedShardId"]


class StreamReader:
    """Reads a stream across shard roll-overs; ``records`` keeps every record once, in order."""

    def __init__(self, streams: Any, arn: str, limit: int = 1000) -> None:
        self.streams = streams
        self.arn = arn
        self.limit = limit
        self.records: list[dict[str, Any]] = []
        self.done: set[str] = set()
        self.iterators: dict[str, str] = {}
        self.shards_seen: dict[str, dict[str, Any]] = {}

    def poll(self) -> int:
        """One pass over the readable shards; returns how many records it got."""
        got = 0
        for shard in list_shards(self.streams, self.arn):
            sid = shard["ShardId"]
            self.shards_seen[sid] = shard
            parent = shard.get("ParentShardId")
            if sid in self.done or (parent is not None and parent in self.shards_seen and parent not in self.done):
                continue
            while sid not in self.done:
                if sid not in self.iterators:
                    self.iterators[sid] = self.streams.get_shard_iterator(
                        StreamArn=self.arn, ShardId=sid, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
                page = self.streams.get_records(ShardIterator=self.iterators[sid], Limit=self.limit)
                self.records += page["Records"]
                got += len(page["Records"])
                if "NextShardIterator" not in page:
                    self.done.add(sid)
                    break
                self.iterators[sid] = page["NextShardIterator"]
                if not page["Records"]:
                    break  # an open shard with nothing new yet
        return got

    def read_until(self, count: int, timeout: float = 15.0) -> list[dict[str, Any]]:
        """Poll until at least ``count`` records arrived (or the timeout: the caller's asserts then fail)."""
        deadline = time.monotonic() + timeout
        while len(self.records) < count and time.monotonic() < deadline:
            if not self.poll():
                time.sleep(0.05)
        return self.records
