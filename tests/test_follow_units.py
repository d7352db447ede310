"""StreamFollower's bookkeeping against a scripted stream: which iterator each shard starts from, roll-overs,
and what happens when it loses its place. A fake streams client stands in for the upstream here only because an
iterator that expires after 15 minutes or records trimmed after 24 hours cannot be caused in a test run; the
follower against a real stream is tests/test_upstream_follow.py."""

from __future__ import annotations

import asyncio
from typing import Any

from backends.dynamodb_follow import StreamFollower


class _Error(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.response = {"Error": {"Code": code}}


class FakeStreams:
    def __init__(self) -> None:
        self.shards: list[dict[str, Any]] = [{"ShardId": "s1", "SequenceNumberRange": {"StartingSequenceNumber": "1"}}]
        self.records: dict[str, list[dict[str, Any]]] = {"s1": []}
        self.closed: set[str] = set()
        self.iterators: list[tuple[str, str, str | None]] = []
        self.fail_next: str | None = None

    async def describe_stream(self, **params: Any) -> dict[str, Any]:
        return {"StreamDescription": {"Shards": self.shards}}

    async def get_shard_iterator(self, StreamArn: str, ShardId: str, ShardIteratorType: str,  # noqa: N803
                                 SequenceNumber: str | None = None) -> dict[str, Any]:
        self.iterators.append((ShardId, ShardIteratorType, SequenceNumber))
        start = len(self.records[ShardId]) if ShardIteratorType == "LATEST" else 0
        if ShardIteratorType == "AFTER_SEQUENCE_NUMBER":
            start = next(i + 1 for i, r in enumerate(self.records[ShardId])
                         if r["dynamodb"]["SequenceNumber"] == SequenceNumber)
        return {"ShardIterator": f"{ShardId}:{start}"}

    async def get_records(self, ShardIterator: str, Limit: int) -> dict[str, Any]:  # noqa: N803
        if self.fail_next:
            code, self.fail_next = self.fail_next, None
            raise _Error(code)
        shard, pos = ShardIterator.split(":")
        records = self.records[shard][int(pos):]
        done = shard in self.closed
        out: dict[str, Any] = {"Records": records}
        if not done:
            out["NextShardIterator"] = f"{shard}:{int(pos) + len(records)}"
        return out

    def write(self, shard: str, pk: str) -> None:
        seq = str(sum(len(r) for r in self.records.values()) + 100)
        self.records[shard].append({"dynamodb": {"Keys": {"pk": {"S": pk}}, "SequenceNumber": seq}})


def _follower(streams: FakeStreams, arn: list[str]) -> tuple[StreamFollower, list[tuple[str, Any]]]:
    changes: list[tuple[str, Any]] = []

    async def describe(name: str) -> dict[str, Any]:
        return {"StreamSpecification": {"StreamEnabled": True}, "LatestStreamArn": arn[0]}

    follower = StreamFollower(streams, lambda: ["t"], describe, lambda t, k: changes.append((t, k)))
    return follower, changes


def test_follows_from_now_then_reports_each_change() -> None:
    async def run() -> None:
        streams = FakeStreams()
        streams.write("s1", "before")  # history: not reported, the first discovery flushes instead
        follower, changes = _follower(streams, ["arn1"])
        await follower.discover()
        assert changes == [("t", None)] and streams.iterators == [("s1", "LATEST", None)]
        streams.write("s1", "a")
        streams.write("s1", "b")
        assert await follower.poll() == 2
        assert changes[1:] == [("t", {"pk": {"S": "a"}}), ("t", {"pk": {"S": "b"}})]
        assert await follower.poll() == 0

    asyncio.run(run())


def test_a_child_shard_is_read_from_its_start() -> None:
    async def run() -> None:
        streams = FakeStreams()
        follower, changes = _follower(streams, ["arn1"])
        await follower.discover()
        streams.write("s1", "last")
        streams.closed.add("s1")
        streams.shards.append({"ShardId": "s2", "ParentShardId": "s1",
                               "SequenceNumberRange": {"StartingSequenceNumber": "200"}})
        streams.records["s2"] = []
        streams.write("s2", "first-of-child")  # before the follower discovers s2
        await follower.poll()  # s1 read to its end and closed
        await follower.discover()
        await follower.poll()
        assert [k for _, k in changes[1:]] == [{"pk": {"S": "last"}}, {"pk": {"S": "first-of-child"}}]
        assert ("s2", "TRIM_HORIZON", None) in streams.iterators

    asyncio.run(run())


def test_an_expired_iterator_continues_after_the_last_record() -> None:
    async def run() -> None:
        streams = FakeStreams()
        follower, changes = _follower(streams, ["arn1"])
        await follower.discover()
        streams.write("s1", "a")
        await follower.poll()
        streams.write("s1", "b")
        streams.fail_next = "ExpiredIteratorException"
        await follower.poll()
        await follower.poll()
        assert [k for _, k in changes] == [None, {"pk": {"S": "a"}}, {"pk": {"S": "b"}}]  # no flush, no loss

    asyncio.run(run())


def test_trimmed_records_or_a_new_stream_flush_the_table() -> None:
    async def run() -> None:
        streams = FakeStreams()
        arn = ["arn1"]
        follower, changes = _follower(streams, arn)
        await follower.discover()
        streams.fail_next = "TrimmedDataAccessException"
        await follower.poll()
        assert follower.followed == {}  # lost its place: followed again (and flushed) at the next discovery
        await follower.discover()
        assert changes == [("t", None), ("t", None)]
        arn[0] = "arn2"  # the stream was disabled and enabled again
        await follower.discover()
        assert changes[-1] == ("t", None) and follower.followed["t"].arn == "arn2"

    asyncio.run(run())
