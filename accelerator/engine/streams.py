"""The DynamoDB Streams API over the change log: ListStreams, DescribeStream, GetShardIterator, GetRecords.

A stream is a range of the table's log, cut into shards (``accelerator.engine.stream_state``); an iterator is
a signed position in one shard (``accelerator.engine.stream_iterators``). GetRecords reads the log after the
position, renders each record in the stream's view type and hands back the next position; a closed shard's
last page has no NextShardIterator, and the reader continues with the child shard DescribeStream lists.
An open shard that is due to roll over is rolled by the first DescribeStream or GetRecords that sees it.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from accelerator.core.changelog import LogRecord
from accelerator.core.errors import (
    ResourceNotFoundException,
    TrimmedDataAccessException,
    ValidationException,
)
from accelerator.core.protocols import Request, Response
from accelerator.core.tables import TableDef
from accelerator.core.values import item_size
from accelerator.engine.handler import Engine
from accelerator.engine.stream_iterators import Position
from accelerator.engine.stream_state import Shard, Stream, parse_arn, shard_id, stream_arn
from accelerator.engine.tables import REGION

__all__ = ["list_streams", "describe_stream", "get_shard_iterator", "get_records", "HANDLERS", "render"]

_MAX_BYTES = 1024 * 1024  # GetRecords returns at most 1 MB of records
_SERVICE = {"PrincipalId": "dynamodb.amazonaws.com", "Type": "Service"}
_TRIMMED = "The operation attempted to read past the oldest stream record in a shard."


def sequence_number(seq: int) -> str:
    return f"{seq:021d}"


def _stream_not_found(arn: str) -> ResourceNotFoundException:
    return ResourceNotFoundException(f"Requested resource not found: Stream: {arn} not found")


async def _stream(engine: Engine, arn: str) -> tuple[Stream, int]:
    """The stream ``arn`` names (its open shard rolled over if due) and its table's trim point."""
    parsed = parse_arn(arn)
    if parsed is None:
        raise ValidationException(f"Invalid StreamArn: {arn}")
    table, label = parsed
    streams, trimmed = await engine.streams.current(table, time.time())
    for stream in streams:
        if stream.label == label:
            return stream, trimmed
    raise _stream_not_found(arn)


async def _table_of(engine: Engine, stream: Stream) -> TableDef:
    """The table a stream's records belong to: the live table, or a deleted one's key schema as kept."""
    if stream.key is not None:
        return TableDef(name=stream.table, key=stream.key, attribute_definitions=(), created=stream.created)
    return await engine.tables.get(stream.table)


async def list_streams(engine: Engine, req: Request) -> Response:
    start = req.get("ExclusiveStartStreamArn")
    if start is not None and parse_arn(start) is None:
        raise ValidationException(f"Invalid ExclusiveStartStreamArn: {start}")
    name = req.get("TableName")
    if name is not None:
        try:
            await engine.tables.get(name)
        except ResourceNotFoundException:
            if not await engine.streams.streams(name):  # a deleted table's streams are listed for 24 hours
                raise ResourceNotFoundException(f"Requested resource not found: Table: {name} not found") from None
        names = [name]
    else:  # the tables' streams, and a deleted table's for 24 hours
        names = sorted({*await engine.storage.list_tables(), *await engine.streams.retired()})
    streams = sorted([s for n in names for s in await engine.streams.streams(n)], key=lambda s: s.arn)
    if start is not None:
        streams = [s for s in streams if s.arn > start]
    limit = req.get("Limit", 100)
    page = streams[:limit]
    response: Response = {"Streams": [{"StreamArn": s.arn, "TableName": s.table, "StreamLabel": s.label}
                                      for s in page]}
    if len(streams) > limit:
        response["LastEvaluatedStreamArn"] = page[-1].arn
    return response


def _shard_json(stream: Stream, shard: Shard) -> dict[str, Any]:
    numbers = {"StartingSequenceNumber": sequence_number(shard.start)}
    if shard.end is not None:
        numbers["EndingSequenceNumber"] = sequence_number(max(shard.end, 0))
    out: dict[str, Any] = {"ShardId": shard_id(stream.label, shard.start), "SequenceNumberRange": numbers}
    if shard.parent is not None:
        out["ParentShardId"] = shard_id(stream.label, shard.parent)
    return out


def _key_schema(table: TableDef) -> list[dict[str, str]]:
    key = [{"AttributeName": table.key.hash_name, "KeyType": "HASH"}]
    if table.key.range_name is not None:
        key.append({"AttributeName": table.key.range_name, "KeyType": "RANGE"})
    return key


async def describe_stream(engine: Engine, req: Request) -> Response:
    arn = req["StreamArn"]
    stream, trimmed = await _stream(engine, arn)
    table = await _table_of(engine, stream)
    shards = [s for s in stream.shards if s.end is None or s.end >= trimmed]  # wholly trimmed shards are gone
    wanted = req.get("ShardFilter")
    if wanted is not None:
        if wanted.get("Type") != "CHILD_SHARDS" or "ShardId" not in wanted:
            raise ValidationException("ShardFilter must have Type CHILD_SHARDS and a ShardId")
        shards = [s for s in shards if s.parent is not None and shard_id(stream.label, s.parent) == wanted["ShardId"]]
    start = req.get("ExclusiveStartShardId")
    if start is not None:
        shards = [s for s in shards if shard_id(stream.label, s.start) > start]
    limit = req.get("Limit", 100)
    page = shards[:limit]
    description: dict[str, Any] = {
        "StreamArn": stream.arn, "StreamLabel": stream.label,
        "StreamStatus": "ENABLED" if stream.enabled else "DISABLED", "StreamViewType": stream.view,
        "CreationRequestDateTime": stream.created, "TableName": stream.table, "KeySchema": _key_schema(table),
        "Shards": [_shard_json(stream, s) for s in page],
    }
    if len(shards) > limit:
        description["LastEvaluatedShardId"] = shard_id(stream.label, page[-1].start)
    return {"StreamDescription": description}


def _sequence(req: Request) -> int | None:
    text = req.get("SequenceNumber")
    if text is None:
        return None
    if not text.isdigit():
        raise ValidationException(f"Invalid SequenceNumber: {text}")
    return int(text)


async def get_shard_iterator(engine: Engine, req: Request) -> Response:
    stream, trimmed = await _stream(engine, req["StreamArn"])
    shard = stream.shard(req["ShardId"])
    if shard is None:
        raise ResourceNotFoundException("Requested resource not found: Shard does not exist")
    kind = req["ShardIteratorType"]
    seq = _sequence(req)
    if kind in ("TRIM_HORIZON", "LATEST") and seq is not None:
        raise ValidationException(f"Request should not contain a SequenceNumber for ShardIteratorType {kind}")
    if kind in ("AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER") and seq is None:
        raise ValidationException(f"Must specify a SequenceNumber for ShardIteratorType {kind}")
    if kind == "TRIM_HORIZON":
        after = max(shard.start, trimmed) - 1
    elif kind == "LATEST":
        head = await engine.storage.log_head(stream.table)
        after = max(shard.start - 1, head if shard.end is None else min(head, shard.end))
    else:
        assert seq is not None
        if seq < shard.start or (shard.end is not None and seq > shard.end):
            raise ValidationException(f"Invalid SequenceNumber {req['SequenceNumber']} for shard "
                                      f"{req['ShardId']}: it is outside the shard's range")
        if seq < trimmed:
            raise TrimmedDataAccessException(_TRIMMED)
        after = seq - 1 if kind == "AT_SEQUENCE_NUMBER" else seq
    position = Position(stream.table, stream.label, shard.start, after, int(time.time() * 1000))
    return {"ShardIterator": await engine.iterators.encode(position)}


def render(record: LogRecord, table: TableDef, view: str, label: str) -> dict[str, Any]:
    """One GetRecords record in DynamoDB Streams' shape, with the images ``view`` includes."""
    image = record.new if record.new is not None else record.old
    assert image is not None
    keys = {name: image[name] for name in table.key.names if name in image}
    body: dict[str, Any] = {"ApproximateCreationDateTime": record.at_ms // 1000, "Keys": keys}
    size = item_size(keys)
    if view in ("NEW_IMAGE", "NEW_AND_OLD_IMAGES") and record.new is not None:
        body["NewImage"] = record.new
        size += item_size(record.new)
    if view in ("OLD_IMAGE", "NEW_AND_OLD_IMAGES") and record.old is not None:
        body["OldImage"] = record.old
        size += item_size(record.old)
    body.update({"SequenceNumber": sequence_number(record.seq), "SizeBytes": size, "StreamViewType": view})
    out: dict[str, Any] = {
        "eventID": hashlib.blake2s(f"{table.name}/{label}/{record.seq}".encode(), digest_size=16).hexdigest(),
        "eventName": record.event, "eventVersion": "1.1", "eventSource": "aws:dynamodb", "awsRegion": REGION,
        "dynamodb": body,
    }
    if record.service:
        out["userIdentity"] = dict(_SERVICE)
    return out


async def get_records(engine: Engine, req: Request) -> Response:
    now_ms = int(time.time() * 1000)
    position = await engine.iterators.decode(req["ShardIterator"], now_ms)
    streams, trimmed = await engine.streams.current(position.table, now_ms / 1000)
    stream = next((s for s in streams if s.label == position.label), None)
    if stream is None:
        raise _stream_not_found(stream_arn(position.table, position.label))
    shard = next((s for s in stream.shards if s.start == position.shard), None)
    if shard is None:
        raise ResourceNotFoundException("Invalid ShardId in ShardIterator")
    if shard.end is not None and position.after >= shard.end:
        return {"Records": []}  # a closed shard read to its end: no NextShardIterator
    if position.after + 1 < trimmed:
        raise TrimmedDataAccessException(_TRIMMED)
    limit = req.get("Limit", 1000)
    table = await _table_of(engine, stream)
    rows = await engine.storage.read_log(position.table, position.after, limit)
    records: list[dict[str, Any]] = []
    after, size, full = position.after, 0, len(rows) == limit
    for seq, data in rows:
        if shard.end is not None and seq > shard.end:
            full = False
            break
        rendered = render(LogRecord.decode(seq, data), table, stream.view, stream.label)
        size += rendered["dynamodb"]["SizeBytes"]
        if records and size > _MAX_BYTES:
            full = True
            break
        records.append(rendered)
        after = seq
    response: Response = {"Records": records}
    if shard.end is None or (full and after < shard.end):
        next_position = Position(position.table, position.label, shard.start, after, now_ms)
        response["NextShardIterator"] = await engine.iterators.encode(next_position)
    return response


HANDLERS = {"ListStreams": list_streams, "DescribeStream": describe_stream, "GetShardIterator": get_shard_iterator,
            "GetRecords": get_records}
