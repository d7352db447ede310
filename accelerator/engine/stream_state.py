"""A table's DynamoDB Streams state: its streams and their shards, as one durable meta record per table.

A stream is a range of the table's change log (``accelerator.core.changelog``): it starts at the log's next
sequence when StreamSpecification enables it and ends at the log's head when it is disabled. Its shards cut
that range at sequence boundaries: a shard rolls over (closes, and a child shard whose ParentShardId names it
opens) once it has been open ``shard_seconds`` and has records. Every change is an atomic read-modify-write
of the record ``stream:<table>`` in the storage, so several processes agree; ``"log": true`` in it turns the
table's change log on (see ``accelerator.engine.changelog``).

Record: {"log": bool, "trimmed": first sequence not trimmed, "streams": [{"label", "view", "created",
"shards": [first sequence of each shard], "opened": when the last shard opened, "end": last sequence or
None while enabled, "deleted": when its table was deleted (absent while the table lives), "key": the
deleted table's key schema}]}.

DeleteTable does not take the streams with it: as in DynamoDB, they become DISABLED and stay readable for
``DELETED_STREAM_SECONDS`` (24 hours), with the log records they cover (storage keeps a deleted table's log;
the upkeep drops it once no stream needs it). A table created again under the name gets new streams beside
them; DescribeTable shows only its own. The tables whose deleted streams are kept are listed in one meta
record (``RETIRED``), so the upkeep and ListStreams find them without scanning.
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from accelerator.core.changelog import LOG_END, ChangeLog
from accelerator.core.errors import ValidationException
from accelerator.core.keys import KeySchema
from accelerator.core.protocols import KEEP, KeyRef, Storage
from accelerator.engine.tables import ACCOUNT, REGION

__all__ = ["VIEW_TYPES", "StreamState", "Stream", "Shard", "check_create_spec", "stream_arn", "parse_arn",
           "shard_id", "PREFIX", "DELETED_STREAM_SECONDS"]

DELETED_STREAM_SECONDS = 24 * 3600.0
"""How long a deleted table's streams stay readable (DynamoDB's DeleteTable: "deleted after 24 hours")."""
RETIRED = "streams-retired"
"""Meta record: {table: when it was deleted} for the tables whose deleted streams are kept."""
RETIRED_BOUND = 10_000
"""At most this many deleted tables keep their streams; past it the oldest are dropped early (logged)."""

VIEW_TYPES = ("NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES", "KEYS_ONLY")
PREFIX = "stream:"
META_TABLE = "!meta"
_INVALID = "One or more parameter values were invalid: "

log = logging.getLogger("accelerator.changelog")


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
    deleted: float | None = None  # when its table was deleted
    key: KeySchema | None = None  # a deleted table's key schema (the records' Keys)

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


def _expired(raw: dict[str, Any], now: float) -> bool:
    deleted = raw.get("deleted")
    return deleted is not None and now - float(deleted) >= DELETED_STREAM_SECONDS


def _streams(record: dict[str, Any] | None, table: str, now: float) -> tuple[Stream, ...]:
    out = []
    for raw in (record or {}).get("streams", ()):
        if _expired(raw, now):
            continue
        starts = raw["shards"]
        shards = []
        for i, start in enumerate(starts):
            last = i + 1 == len(starts)
            end = (starts[i + 1] - 1) if not last else raw["end"]
            shards.append(Shard(start, end, starts[i - 1] if i else None))
        key = raw.get("key")
        out.append(Stream(table, raw["label"], raw["view"], raw["created"], raw["end"], tuple(shards),
                          raw.get("deleted"), KeySchema(*key) if key else None))
    return tuple(out)


class StreamState:
    """Reads and changes the ``stream:<table>`` records through the storage's atomic unit."""

    def __init__(self, storage: Storage, log: ChangeLog, on_change: Callable[[str], None],
                 shard_seconds: float = 4 * 3600.0, settle: float = 0.0) -> None:
        self.storage = storage
        self.log = log
        self.on_change = on_change  # drops per-process caches of the table's log decision
        self.shard_seconds = shard_seconds
        self.settle = settle  # until the log's head covers every commit made before now (Redis Cluster)

    async def _settled_head(self, table: str) -> int:
        """The log's head once every change committed before this call is in it: a stream that ends here
        keeps the changes made just before it ended (on Redis Cluster the head trails by its horizon)."""
        if self.settle:
            await asyncio.sleep(self.settle)
        return await self.log.log_head(table)

    @staticmethod
    def _ref(table: str) -> KeyRef:
        return KeyRef(META_TABLE, (PREFIX + table).encode(), b"")

    async def record(self, table: str) -> dict[str, Any] | None:
        ref = self._ref(table)
        data = await self.storage.get(ref.table, ref.pk, ref.sk)
        return None if data is None else orjson.loads(data)

    async def streams(self, table: str, now: float | None = None) -> tuple[Stream, ...]:
        """Every stream of the name still readable: the live table's and a deleted table's (24 hours)."""
        return _streams(await self.record(table), table, time.time() if now is None else now)

    async def live(self, table: str) -> tuple[Stream, ...]:
        """The streams of the table that exists now (not those of a deleted table of the same name)."""
        return tuple(s for s in await self.streams(table) if s.deleted is None)

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
        head = await self._settled_head(table)

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
        return _streams(record, table, now), int((record or {}).get("trimmed", 0))

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

    async def retire(self, table: str, key: KeySchema, now: float) -> bool:
        """DeleteTable: the table's streams become DISABLED, kept for 24 hours with the key schema their
        records need; the log stops. Without a stream to keep, the record and the log go now. Returns
        whether any stream is kept."""
        live = any(raw["end"] is None for raw in ((await self.record(table)) or {}).get("streams", []))
        head = await self._settled_head(table) if live else await self.log.log_head(table)

        def change(current: dict[str, Any]) -> dict[str, Any] | None:
            streams = []
            for raw in current.get("streams", []):
                if _expired(raw, now):
                    continue
                if raw.get("deleted") is None:
                    end = raw["end"] if raw["end"] is not None else max(head, raw["shards"][-1] - 1)
                    raw = {**raw, "end": end, "deleted": now,
                           "key": [key.hash_name, key.hash_type, key.range_name, key.range_type]}
                streams.append(raw)
            return {**current, "log": False, "streams": streams} if streams else None

        ref = self._ref(table)
        kept = [False]

        def apply(olds: list[bytes | None]) -> list[Any]:
            new = change(orjson.loads(olds[0])) if olds[0] is not None else None
            kept[0] = new is not None
            return [orjson.dumps(new) if new is not None else None if olds[0] is not None else KEEP]

        await self.storage.transact([ref], apply)
        self.on_change(table)
        if kept[0]:
            await self._retired(lambda names: {**names, table: now})
        else:
            await self.log.trim_log(table, LOG_END)
        return kept[0]

    async def reincarnate(self, table: str) -> None:
        """CreateTable: a new table of the name starts without a stream; a deleted one's stay beside."""
        now = time.time()

        def apply(olds: list[bytes | None]) -> list[Any]:
            if olds[0] is None:
                return [KEEP]
            current = orjson.loads(olds[0])
            kept = [raw for raw in current.get("streams", []) if raw.get("deleted") is not None
                    and not _expired(raw, now)]
            return [orjson.dumps({**current, "log": False, "streams": kept}) if kept else None]

        await self.storage.transact([self._ref(table)], apply)
        self.on_change(table)

    async def expire(self, table: str, now: float, exists: bool, everything: bool = False) -> None:
        """Upkeep: drop the deleted table's streams older than 24 hours (``everything``: all of them); once
        the table is gone and so are its streams, the name's log goes too."""
        gone = [False]

        def apply(olds: list[bytes | None]) -> list[Any]:
            if olds[0] is None:
                gone[0] = not exists
                return [KEEP]
            current = orjson.loads(olds[0])
            streams = current.get("streams", [])
            kept = [raw for raw in streams if not _expired(raw, now)
                    and not (everything and raw.get("deleted") is not None)]
            if kept or exists:
                return [KEEP if len(kept) == len(streams) else orjson.dumps({**current, "streams": kept})]
            gone[0] = True
            return [None]

        await self.storage.transact([self._ref(table)], apply)
        self.on_change(table)
        if gone[0]:
            await self.log.trim_log(table, LOG_END)
        record = await self.record(table)
        if not any(raw.get("deleted") is not None for raw in (record or {}).get("streams", [])):
            await self._retired(lambda names: {k: v for k, v in names.items() if k != table})

    async def retired(self) -> list[str]:
        """The names whose deleted table's streams are kept."""
        ref = KeyRef(META_TABLE, RETIRED.encode(), b"")
        data = await self.storage.get(ref.table, ref.pk, ref.sk)
        return sorted(orjson.loads(data)) if data is not None else []

    async def _retired(self, change: Callable[[dict[str, float]], dict[str, float]]) -> None:
        dropped: list[str] = []

        def apply(olds: list[bytes | None]) -> list[Any]:
            names = change(orjson.loads(olds[0]) if olds[0] is not None else {})
            dropped[:] = sorted(names, key=names.__getitem__)[:max(0, len(names) - RETIRED_BOUND)]
            for name in dropped:
                del names[name]
            return [orjson.dumps(names) if names else None if olds[0] is not None else KEEP]

        await self.storage.transact([KeyRef(META_TABLE, RETIRED.encode(), b"")], apply)
        if dropped:
            log.warning("more than %d deleted tables keep streams: the oldest (%s) are dropped early",
                        RETIRED_BOUND, ", ".join(dropped[:5]))
        for name in dropped:
            await self.expire(name, time.time(), await self.storage.get_table(name) is not None, everything=True)
