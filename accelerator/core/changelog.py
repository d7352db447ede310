"""The change log: one durable, ordered log of item changes per table, written in the write's atomic unit.

Writing. ``apply`` (see ``accelerator.core.protocols``) may return ``Logged(value, record)`` instead of plain
bytes / None for an item key: the backend then writes ``value`` (None deletes) AND appends ``record`` to the
log of that key's table in the same atomic unit, so no crash can leave one without the other. The backend
assigns the record's sequence number inside the unit; ``apply`` never sees it. Index tables and the meta
table are never logged. The engine decides which writes are logged (``accelerator.engine.changelog``): only
tables whose log is on, and never a write that changed nothing.

Reading (``ChangeLog``, implemented by every storage backend and passed through by the engine's wrappers)::

    seq = 0
    while True:
        page = await storage.read_log("Orders", after=seq, limit=500)   # [(seq, record bytes), ...] ascending
        if not page:
            break
        for seq, data in page:
            rec = LogRecord.decode(seq, data)     # rec.seq, rec.at_ms, rec.old, rec.new, rec.service
        ...
    head = await storage.log_head("Orders")         # highest sequence assigned so far (0: none yet)
    await storage.trim_log("Orders", before=seq)    # drop records with a sequence < seq (retention)

Sequence numbers are positive ints, unique and strictly increasing per table in commit order: a reader that
resumes ``after`` the last sequence it saw never misses nor repeats a record. Memory, SQLite, PostgreSQL
and standalone Redis keep one counter per table, advanced inside the unit (so writes that log to one table
serialise on that counter). Redis Cluster keeps a log per partition (its slot) with a hybrid logical clock
(microseconds of the Redis server's clock, or the partition's last value + 1 if larger) and ``read_log``
merges them, returning only records older than ``CLUSTER_HORIZON_US`` so that a commit still in flight on
another node (or a node's clock slightly behind) cannot land behind a reader's position; there, each item's
changes are ordered, and changes of different partitions are ordered by their servers' clocks. Partitions
that log at the same µs share a clock value, so the sequence is the clock value times 1,024 plus the
record's rank among them (``backends.redis.changelog``), and ``trim_log`` keeps such a run whole when
``before`` falls inside it.

Records are immutable once written. A table's log outlives the table (``delete_table`` keeps it, so a
deleted table's stream stays readable); the engine drops it with ``trim_log(table, LOG_END)`` once nothing
needs it. The sequence counter of a name is kept, so a re-created table's log continues after the old one's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import orjson

__all__ = ["Logged", "LogRecord", "ChangeLog", "encode_record", "CLUSTER_HORIZON_US", "LOG_END"]

CLUSTER_HORIZON_US = 500_000
LOG_END = 1 << 62
"""Above every sequence a backend hands out (64-bit signed, with room): ``trim_log(table, LOG_END)`` empties it."""
"""Redis Cluster: ``read_log`` returns records at least this old (µs on the Redis clock), see above."""


@dataclass(frozen=True, slots=True)
class Logged:
    """A value ``apply`` may return for an item key: write ``value`` and log ``record``, atomically."""

    value: bytes | None
    record: bytes


def encode_record(at_ms: int, old: bytes | None, new: bytes | None, service: bool) -> bytes:
    """A record's bytes: the change's time, both images (item JSON as stored) and whether TTL made it."""
    return b'{"t":%d,"o":%s,"n":%s,"u":%s}' % (
        at_ms, old if old is not None else b"null", new if new is not None else b"null",
        b"true" if service else b"false",
    )


@dataclass(frozen=True, slots=True)
class LogRecord:
    """One decoded change: ``old``/``new`` are the item before/after (None: absent)."""

    seq: int
    at_ms: int
    old: dict[str, Any] | None
    new: dict[str, Any] | None
    service: bool  # deleted by the TTL process, not by a caller

    @property
    def event(self) -> str:
        """DynamoDB Streams' eventName."""
        if self.old is None:
            return "INSERT"
        return "REMOVE" if self.new is None else "MODIFY"

    @classmethod
    def decode(cls, seq: int, data: bytes) -> LogRecord:
        raw = orjson.loads(data)
        return cls(seq, raw["t"], raw["o"], raw["n"], bool(raw.get("u")))


@runtime_checkable
class ChangeLog(Protocol):
    """Reading and trimming a table's log; every storage backend implements it."""

    async def read_log(self, table: str, after: int, limit: int) -> list[tuple[int, bytes]]:
        """Up to ``limit`` (seq, record) with seq > ``after``, ascending."""

    async def log_head(self, table: str) -> int:
        """The highest sequence number assigned in ``table``'s log so far (0 if none)."""

    async def trim_log(self, table: str, before: int) -> int:
        """Delete the records with seq < ``before``; returns how many went."""
