"""Key naming: where a table, a partition, its lock and its index entry live (see the package docstring).

All keys of one partition share the hash tag ``{T:H}`` so that, on a cluster, one script may touch them
together; a unit's keys are grouped by partition and by slot into a ``Plan``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from redis.crc import key_slot

from accelerator.core.keys import partition_hash
from accelerator.core.protocols import Bound, KeyRef

__all__ = ["PREFIX", "TABLE", "Part", "Plan", "Layout", "key_range", "expect"]

PREFIX = re.compile(r"[A-Za-z0-9_.-]{1,64}\Z")  # no ":" (prefixes must not nest), no braces
TABLE = re.compile(r"[^{}]{1,1024}\Z")  # no braces: a table name sits inside the keys' hash tags
INLINE_VALUE = 64  # the WRITE script compares values up to this size directly, longer ones by SHA1


@dataclass(frozen=True, slots=True)
class Part:
    """The keys of one partition, and of its table's index."""

    table: str
    pk: bytes
    zset: bytes
    hash: bytes
    lock: bytes
    applied: bytes  # cluster: the last cross-slot transaction token applied here (replays are no-ops)
    version: bytes
    pending: bytes
    index: bytes
    index_versions: bytes
    member: bytes
    slot: int
    log: bytes  # cluster: the partition's change log (standalone: the table's log, in the table's slot)
    log_seq: bytes  # standalone: the table's log sequence counter (unused on a cluster)
    log_parts: bytes  # cluster: the table's registry of partitions that have logged


@dataclass(slots=True)
class Plan:
    """A unit's keys grouped by partition and by slot (one group on a standalone server)."""

    refs: list[KeyRef]
    ref_parts: list[Part]
    groups: list[list[Part]]


class Layout:
    """The key names under one prefix; slots are computed only in cluster mode."""

    def __init__(self, prefix: str, clustered: bool) -> None:
        if not PREFIX.match(prefix):
            raise ValueError(f"prefix must match {PREFIX.pattern}, not {prefix!r}")
        self.prefix = prefix.encode()
        self.tables = self.prefix + b":tables"
        self.clustered = clustered

    def part(self, table: str, pk: bytes) -> Part:
        tag = b"%s:{%s:%s}" % (self.prefix, table.encode(), pk.hex().encode())
        index = b"%s:{%s}:" % (self.prefix, table.encode())
        return Part(
            table=table,
            pk=pk,
            zset=tag + b":s",
            hash=tag + b":v",
            lock=tag + b":l",
            applied=tag + b":a",
            version=tag + b":n",
            pending=tag + b":x",
            index=index + b"parts",
            index_versions=index + b"pv",
            member=partition_hash(pk).to_bytes(4, "big") + pk,
            slot=key_slot(tag) if self.clustered else 0,
            log=tag + b":g" if self.clustered else index + b"log",
            log_seq=index + b"lseq",
            log_parts=index + b"lp",
        )

    def intent(self, token: bytes) -> bytes:
        """Where a cross-slot transaction's intent (its commit record) lives: a slot of its own."""
        return b"%s:{txn:%s}" % (self.prefix, token)

    def plan(self, refs: list[KeyRef]) -> Plan:
        parts: dict[tuple[str, bytes], Part] = {}
        for ref in refs:
            if (ref.table, ref.pk) not in parts:
                parts[(ref.table, ref.pk)] = self.part(ref.table, ref.pk)
        groups: dict[int, list[Part]] = {}
        for part in parts.values():
            groups.setdefault(part.slot, []).append(part)
        return Plan(refs, [parts[(ref.table, ref.pk)] for ref in refs], list(groups.values()))


def key_range(lo: Bound | None, hi: Bound | None, forward: bool, start: bytes | None) -> tuple[bytes, bytes]:
    """ZRANGEBYLEX min and max for [lo, hi] narrowed by an exclusive ``start`` in the read direction."""
    low = b"-" if lo is None else (b"[" if lo.inclusive else b"(") + lo.key
    high = b"+" if hi is None else (b"[" if hi.inclusive else b"(") + hi.key
    if start is not None:
        if forward and (lo is None or start >= lo.key):
            low = b"(" + start
        elif not forward and (hi is None or start <= hi.key):
            high = b"(" + start
    return low, high


def expect(old: bytes | None) -> tuple[bytes, bytes]:
    """How the WRITE script checks that a key still holds what ``apply`` saw."""
    if old is None:
        return b"n", b""
    if len(old) <= INLINE_VALUE:
        return b"v", old
    return b"h", hashlib.sha1(old).hexdigest().encode()
