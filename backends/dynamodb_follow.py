"""Following the upstream tables' DynamoDB Streams, so the cache hears of writes that did not pass through it.

DAX's best-known weakness: a write made straight to DynamoDB (a bulk load, another service, a global table
replica) leaves DAX's cached item stale until its TTL. Here, for every upstream table the accelerator has
served and whose stream is on (any view type: every record carries the item's keys), a ``StreamFollower``
reads the stream and reports each changed key; the cache drops that key and the partition's query pages.

How it reads (DynamoDB Streams' own rules): DescribeTable gives the table's ``LatestStreamArn``, DescribeStream
its shards; a shard seen when following starts is read from LATEST (the cache holds nothing older than the
accelerator), a shard that appears later (a child after a roll-over) from TRIM_HORIZON; a shard whose
GetRecords returns no NextShardIterator is closed and dropped. Each shard is polled at most every
``poll_interval`` seconds (DynamoDB allows 5 GetRecords per second per shard). Whatever makes the follower
lose its place (an expired or trimmed iterator, a stream replaced by disabling and enabling it again, an
error) is reported as "this whole table changed", so the cache flushes the table instead of trusting
entries it can no longer vouch for. Errors are logged once per table and kind until that table recovers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["StreamFollower", "Change"]

log = logging.getLogger("accelerator.backends.dynamodb.follow")

Change = Callable[[str, "dict[str, Any] | None"], None]
"""``on_change(table, keys)``: ``keys`` is a changed item's key (wire form), None for "anything may have"."""

_RECORDS_PER_CALL = 1000


@dataclass
class _Shard:
    iterator: str | None
    last_sequence: str | None = None


@dataclass
class _Stream:
    arn: str
    shards: dict[str, _Shard] = field(default_factory=dict)
    done: set[str] = field(default_factory=set)  # closed shards read to their end


class StreamFollower:
    """Polls the streams of ``tables()``; ``describe(name)`` is DescribeTable's ``Table`` member."""

    def __init__(self, streams: Any, tables: Callable[[], Iterable[str]],
                 describe: Callable[[str], Awaitable[dict[str, Any]]], on_change: Change, *,
                 poll_interval: float = 0.5, discover_interval: float = 5.0,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.streams = streams
        self.tables = tables
        self.describe = describe
        self.on_change = on_change
        self.poll_interval = poll_interval
        self.discover_interval = discover_interval
        self.clock = clock
        self.sleep = sleep
        self.followed: dict[str, _Stream] = {}
        self.records = 0  # changes reported, for tests and metrics
        self.resyncs = 0  # times a table had to be flushed because the follower lost its place
        self._failing: dict[str, str] = {}  # table -> kind of error already logged
        self._next_discovery = 0.0

    async def run(self) -> None:
        """Follow until cancelled."""
        while True:
            if self.clock() >= self._next_discovery:
                await self.discover()
                self._next_discovery = self.clock() + self.discover_interval
            await self.poll()
            await self.sleep(self.poll_interval)

    async def discover(self) -> None:
        """Find each table's current stream and its shards; start following new ones."""
        wanted = set(self.tables())
        for name in list(self.followed):
            if name not in wanted:
                del self.followed[name]
        for name in wanted:
            try:
                await self._discover_table(name)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - an upstream error: the table is retried next round
                self._trouble(name, "discover", exc)

    async def _discover_table(self, name: str) -> None:
        table = await self.describe(name)
        spec = table.get("StreamSpecification") or {}
        arn = table.get("LatestStreamArn") if spec.get("StreamEnabled") else None
        current = self.followed.get(name)
        if arn is None:
            if current is not None:
                del self.followed[name]
            return
        first = current is None or current.arn != arn
        stream = _Stream(arn) if first or current is None else current
        for shard in await self._shards(arn):
            shard_id = shard["ShardId"]
            if shard_id in stream.shards or shard_id in stream.done:
                continue
            closed = "EndingSequenceNumber" in shard.get("SequenceNumberRange", {})
            if first and closed:
                stream.done.add(shard_id)  # history from before the accelerator followed this stream
                continue
            kind = "LATEST" if first else "TRIM_HORIZON"
            stream.shards[shard_id] = _Shard(await self._iterator(arn, shard_id, kind))
        if first:
            # Entries cached before these iterators were taken may predate a write that the stream shows only
            # before them (or a write while following was lost, or on a replaced stream): start clean.
            self.followed[name] = stream
            self._resync(name, "following its stream (again) from now")
        self._recovered(name)

    async def _shards(self, arn: str) -> list[dict[str, Any]]:
        shards: list[dict[str, Any]] = []
        start: str | None = None
        while True:
            params: dict[str, Any] = {"StreamArn": arn}
            if start:
                params["ExclusiveStartShardId"] = start
            desc = (await self.streams.describe_stream(**params))["StreamDescription"]
            shards.extend(desc.get("Shards", []))
            start = desc.get("LastEvaluatedShardId")
            if not start:
                return shards

    async def _iterator(self, arn: str, shard_id: str, kind: str, sequence: str | None = None) -> str | None:
        params: dict[str, Any] = {"StreamArn": arn, "ShardId": shard_id, "ShardIteratorType": kind}
        if sequence is not None:
            params["SequenceNumber"] = sequence
        iterator: str | None = (await self.streams.get_shard_iterator(**params)).get("ShardIterator")
        return iterator

    async def poll(self) -> int:
        """One GetRecords round over every followed shard; returns the changes reported."""
        reported = 0
        for name, stream in list(self.followed.items()):
            for shard_id, shard in list(stream.shards.items()):
                try:
                    reported += await self._read(name, stream, shard_id, shard)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - see _lost
                    await self._lost(name, stream, shard_id, shard, exc)
        return reported

    async def _read(self, name: str, stream: _Stream, shard_id: str, shard: _Shard) -> int:
        if shard.iterator is None:
            stream.shards.pop(shard_id, None)
            stream.done.add(shard_id)
            return 0
        page = await self.streams.get_records(ShardIterator=shard.iterator, Limit=_RECORDS_PER_CALL)
        records = page.get("Records", [])
        for record in records:
            keys = record.get("dynamodb", {}).get("Keys")
            self.on_change(name, keys if isinstance(keys, dict) else None)
            shard.last_sequence = record.get("dynamodb", {}).get("SequenceNumber", shard.last_sequence)
        self.records += len(records)
        shard.iterator = page.get("NextShardIterator")
        if shard.iterator is None:  # closed and read to its end; its children turn up in discovery
            stream.shards.pop(shard_id, None)
            stream.done.add(shard_id)
            self._next_discovery = 0.0
        self._recovered(name)
        return len(records)

    async def _lost(self, name: str, stream: _Stream, shard_id: str, shard: _Shard, exc: Exception) -> None:
        """The shard could not be read: continue after the last record seen, or from now with a flush."""
        code = _error_code(exc)
        self._trouble(name, code or type(exc).__name__, exc)
        if code == "ExpiredIteratorException" and shard.last_sequence is not None:
            try:  # nothing lost: continue right after the last record read
                shard.iterator = await self._iterator(stream.arn, shard_id, "AFTER_SEQUENCE_NUMBER",
                                                      shard.last_sequence)
                return
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - fall through: follow again from now
                pass
        # Records may be gone (trimmed, or unreadable): the next discovery follows the table again from now
        # and flushes it then, so nothing cached before that point is trusted.
        self.followed.pop(name, None)
        self._next_discovery = 0.0

    def _resync(self, name: str, why: str) -> None:
        self.resyncs += 1
        log.warning("flushing cached %s: %s", name, why)
        self.on_change(name, None)

    def _trouble(self, name: str, kind: str, exc: Exception) -> None:
        if self._failing.get(name) != kind:
            self._failing[name] = kind
            log.warning("following the stream of %s: %s: %s", name, kind, exc)

    def _recovered(self, name: str) -> None:
        if self._failing.pop(name, None) is not None:
            log.info("following the stream of %s again", name)


def _error_code(exc: Exception) -> str | None:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        return str(code) if code else None
    return None
