"""IAM resources of the Streams operations: ListStreams is account level, the others name the stream's ARN
(GetRecords through the table and label its iterator carries)."""

from __future__ import annotations

import asyncio

from accelerator.engine.meta import MetaStore
from accelerator.engine.stream_iterators import IteratorCodec, Position
from accelerator.policy.requests import table_arn, targets
from backends.memory import MemoryStorage

STREAM = table_arn("orders") + "/stream/2026-01-01T00:00:00.000"


def test_streams_operations_name_the_stream() -> None:
    assert [t.resource for t in targets("ListStreams", {})] == ["*"]
    assert [t.resource for t in targets("DescribeStream", {"StreamArn": STREAM})] == [STREAM]
    assert [(t.action, t.resource) for t in targets("GetShardIterator", {"StreamArn": STREAM})] == [
        ("dynamodb:GetShardIterator", STREAM)]


def test_get_records_names_the_stream_of_its_iterator() -> None:
    async def token() -> str:
        storage = MemoryStorage()
        await MetaStore(storage).open()  # the iterator key lives in the meta table
        return await IteratorCodec(storage).encode(Position("orders", "2026-01-01T00:00:00.000", 1, 0, 0))

    iterator = asyncio.run(token())
    assert [t.resource for t in targets("GetRecords", {"ShardIterator": iterator})] == [STREAM]
    for garbage in ("", "x", "!!!.???", "e30.AAAA"):  # not base64 JSON of a list: nothing to name but "*"
        assert [t.resource for t in targets("GetRecords", {"ShardIterator": garbage})] == ["*"]

