"""A table's DynamoDB Streams state: its streams and their shards, as one durable meta record per table.

A stream is a range of the table's change log (``accelerator.core.changelog``): it starts at the log's next
sequence when StreamSpecification enables it and ends at the log's head when it is disabled. Its shards cut
that range at sequence boundaries: a shard rolls over (closes, and a child shard whose ParentShardId names it
opens) once it has been open ``shard_seconds`` and has records. Every change is an atomic read-modify-write
of the record ``stream:<table>`` in the storage, so several processes agree; ``"log": true`` in it turns the
table's change log on (see ``accelerator.engine.changelog``).

Record: {"log": bool, "trimmed": first sequence not trimmed, "streams": [{"label", "view", "created",
"shards": [first sequence of each shard], "opened": when the last shard opened, "end": last sequence or
None while enabled}]}.
"""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from accelerator.core.changelog import ChangeLog
from accelerator.core.errors import ValidationException
from accelerator.core.protocols import KEEP, KeyRef, Storage
from accelerator.engine.tables import ACCOUNT, REGION

__all__ = ["VIEW_TYPES", "StreamState", "Stream", "Shard", "check_create_spec", "stream_arn", "parse_arn",
           "shard_id", "PREFIX"]

VIEW_TYPES = ("NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES", "KEYS_ONLY")
PREFIX = "stream:"
META_TABLE = "!meta"
_INVALID = "One or more parameter values were invalid: "


@dataclass(frozen=True, slots=True)
class Shard:
    """One shard: sequences [start, end] (end None while open), and its parent's start."""

    start: int
    end: int | None
    parent: int | None


@dataclass(frozen=True, slots=True)
class Stream:
    """One stream of a table, as DescribeStream shows it."""

    table: str
    label: str
    view: str
    created: float
    end: int | None
    shards: tuple[Shard, ...]

    @property
    def arn(self) -> str:
        return stream_arn(self.table, self.label)

    @property
    def enabled(self) -> bool:
        return self.end is None

    def shard(self, shard_id_: str) -> Shard | None:
        for shard in self.shards:
            if shard_id(self.label, shard.start) == shard_id_:
                return shard
        return None


def stream_arn(table: str, label: str) -> str:
    return f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{table}/stream/{label}"


def parse_arn(arn: str) -> tuple[str, str] | None:
    """(table, label) of a stream ARN of this server, or None if it is not one."""
    head = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/"
    if not arn.startswith(head) or "/stream/" not in arn:
        return None
    table, _, label = arn[len(head):].partition("/stream/")
    return (table, label) if table and label and "/" not in label else None


def shard_id(label: str, start: int) -> str:
    """``shardId-<20-digit start>-<8 hex>``: lexical order is creation order, as DynamoDB's are."""
    tag = hashlib.blake2s(f"{label}:{start}".encode(), digest_size=4).hexdigest()
    return f"shardId-{start:020d}-{tag}"


def _label(now: float, previous: list[dict[str, Any]]) -> str:
    """An ISO-8601 millisecond timestamp, later than any earlier stream's label of the table."""
    ms = int(now * 1000)
    if previous:
        last = datetime.datetime.fromisoformat(previous[-1]["label"]).replace(tzinfo=datetime.UTC)
        ms = max(ms, int(last.timestamp() * 1000) + 1)
    stamp = datetime.datetime.fromtimestamp(ms / 1000, datetime.UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}"


def check_create_spec(spec: dict[str, Any] | None) -> str | None:
    """CreateTable's StreamSpecification rules; the view type of a stream to enable, or None."""
    if spec is None:
        return None
    view = spec.get("StreamViewType")
    if spec["StreamEnabled"]:
        if view is None:
            raise ValidationException(_INVALID + "Table is being created with a stream enabled, UpdateViewType is "
                                                 "required")
        return str(view)
    if view is not None:
        raise ValidationException(_INVALID + "Table is being created with a stream disabled, UpdateViewType should "
                                             "not be specified")
    return None


def _streams(record: dict[str, Any] | None, table: str) -> tuple[Stream, ...]:
    out = []
    for raw in (record or {}).get("streams", ()):
        starts = raw["shards"]
        shards = []
        for i, start in enumerate(starts):
            last = i + 1 == len(starts)
            end = (starts[i + 1] - 1) if not last else raw["end"]
            shards.append(Shard(start, end, starts[i - 1] if i else None))
        out.append(Stream(table, raw["label"], raw["view"], raw["created"], raw["end"], tuple(shards)))
    return tuple(out)


class StreamState:
    """Reads and changes the ``stream:<table>`` records through the storage's atomic unit."""

    def __init__(self, storage: Storage, log: ChangeLog, on_change: Callable[[str], None],
                 shard_seconds: float = 4 * 3600.0) -> None:
        self.storage = storage
        self.log = log
        self.on_change = on_change  # drops per-process caches of the table's log decision
        self.shard_seconds = shard_seconds

    @staticmethod
    def _ref(table: str) -> KeyRef:
        return KeyRef(META_TABLE, (PREFIX + table).encode(), b"")

    async def record(self, table: str) -> dict[str, Any] | None:
        ref = self._ref(table)
        data = await self.storage.get(ref.table, ref.pk, ref.sk)
        return None if data is None else orjson.loads(data)

    async def streams(self, table: str) -> tuple[Stream, ...]:
        return _streams(await self.record(table), table)

    async def _change(self, table: str, change: Callable[[dict[str, Any]], dict[str, Any] | None]) -> bool:
        """Apply ``change`` to the current record atomically; it returns the new record or None for no change."""
        done = [False]

        def apply(olds: list[bytes | None]) -> list[Any]:
            current = orjson.loads(olds[0]) if olds[0] is not None else {"log": False, "streams": []}
            new = change(current)
            done[0] = new is not None
            return [orjson.dumps(new) if new is not None else KEEP]

        await self.storage.transact([self._ref(table)], apply)
        if done[0]:
            self.on_change(table)
        return done[0]

    async def enable(self, table: str, view: str, now: float) -> None:
        """Start a new stream at the log's next sequence; ValidationException if one is enabled."""
        start = await self.log.log_head(table) + 1

        def change(current: dict[str, Any]) -> dict[str, Any]:
            streams = current.get("streams", [])
            if streams and streams[-1]["end"] is None:
                raise ValidationException(f"Table already has an enabled stream: TableName: {table}")
            entry = {"label": _label(now, streams), "view": view, "created": now, "shards": [start],
                     "opened": now, "end": None}
            return {**current, "log": True, "streams": [*streams, entry]}

        await self._change(table, change)

    async def disable(self, table: str) -> None:
        """End the enabled stream at the log's head; ValidationException if none is enabled."""
        head = await self.log.log_head(table)

        def change(current: dict[str, Any]) -> dict[str, Any]:
            streams = list(current.get("streams", []))
            if not streams or streams[-1]["end"] is not None:
                raise ValidationException(f"Table has no stream to disable: TableName: {table}")
            last = streams[-1]
            streams[-1] = {**last, "end": max(head, last["shards"][-1] - 1)}
            return {**current, "log": False, "streams": streams}

        await self._change(table, change)

    async def current(self, table: str, now: float) -> tuple[tuple[Stream, ...], int]:
        """The table's streams (an open shard that is due rolled over first) and its trim point, in one read
        when nothing is due."""
        record = await self.record(table)
        if await self.roll(table, now, record):
            record = await self.record(table)
        return _streams(record, table), int((record or {}).get("trimmed", 0))

    async def roll(self, table: str, now: float, record: dict[str, Any] | None = None) -> bool:
        """Close the enabled stream's open shard and open its child, if it is due and has records; ``record``
        is the table's record if the caller has just read it."""
        if record is None:
            record = await self.record(table)
        streams = (record or {}).get("streams", [])
        if not streams or streams[-1]["end"] is not None or now - streams[-1]["opened"] < self.shard_seconds:
            return False
        head = await self.log.log_head(table)
        if head < streams[-1]["shards"][-1]:
            return False  # nothing in the open shard yet: a child would start where it starts

        def change(current: dict[str, Any]) -> dict[str, Any] | None:
            streams = list(current.get("streams", []))
            last = streams[-1] if streams else None
            if last is None or last["end"] is not None or head < last["shards"][-1] or \
                    now - last["opened"] < self.shard_seconds:
                return None  # another process rolled it meanwhile
            streams[-1] = {**last, "shards": [*last["shards"], head + 1], "opened": now}
            return {**current, "streams": streams}

        return await self._change(table, change)

    async def set_trimmed(self, table: str, first_kept: int) -> None:
        def change(current: dict[str, Any]) -> dict[str, Any] | None:
            if int(current.get("trimmed", 0)) >= first_kept:
                return None
            return {**current, "trimmed": first_kept}

        await self._change(table, change)

    async def forget(self, table: str) -> None:
        """DeleteTable: the table's streams go with it."""
        ref = self._ref(table)
        await self.storage.transact([ref], lambda olds: [None if olds[0] is not None else KEEP])
        self.on_change(table)
