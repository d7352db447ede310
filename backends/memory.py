"""In-process storage: dicts plus sorted key lists, for tests and single-process throwaway use.

Every method runs to completion without awaiting, so on one event loop each call, ``transact`` included,
is atomic by construction. Nothing survives the process.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections import deque
from collections.abc import Sequence

from accelerator.core.errors import TableExists, TableMissing
from accelerator.core.keys import partition_hash, segment_bounds
from accelerator.core.protocols import KEEP, ApplyFn, Bound, KeyRef
from accelerator.core.tables import TableDef
from backends import check_new_values, split_logged

__all__ = ["MemoryStorage"]


class _Partition:
    """One partition key's items: values by sort key, and the sort keys in order."""

    __slots__ = ("values", "sks")

    def __init__(self) -> None:
        self.values: dict[bytes, bytes] = {}
        self.sks: list[bytes] = []


class _Table:
    """A table's definition and items; ``order`` lists partitions in scan order (hash, pk)."""

    __slots__ = ("definition", "partitions", "order")

    def __init__(self, definition: TableDef) -> None:
        self.definition = definition
        self.partitions: dict[bytes, _Partition] = {}
        self.order: list[tuple[int, bytes]] = []

    def put(self, pk: bytes, sk: bytes, value: bytes) -> None:
        part = self.partitions.get(pk)
        if part is None:
            part = self.partitions[pk] = _Partition()
            insort(self.order, (partition_hash(pk), pk))
        if sk not in part.values:
            insort(part.sks, sk)
        part.values[sk] = value

    def delete(self, pk: bytes, sk: bytes) -> None:
        part = self.partitions.get(pk)
        if part is None or part.values.pop(sk, None) is None:
            return
        del part.sks[bisect_left(part.sks, sk)]
        if not part.sks:
            del self.partitions[pk]
            del self.order[bisect_left(self.order, (partition_hash(pk), pk))]


class MemoryStorage:
    """The ``Storage`` contract over Python dicts."""

    def __init__(self) -> None:
        self._tables: dict[str, _Table] = {}
        self._logs: dict[str, deque[tuple[int, bytes]]] = {}  # table -> (seq, record), ascending
        self._heads: dict[str, int] = {}  # table -> last sequence assigned (kept after DeleteTable)

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def create_table(self, table: TableDef) -> None:
        if table.name in self._tables:
            raise TableExists(table.name)
        self._tables[table.name] = _Table(table)

    async def delete_table(self, name: str) -> None:
        if self._tables.pop(name, None) is None:
            raise TableMissing(name)

    async def get_table(self, name: str) -> TableDef | None:
        table = self._tables.get(name)
        return None if table is None else table.definition

    async def list_tables(self) -> list[str]:
        return sorted(self._tables)

    def _get(self, ref: KeyRef) -> bytes | None:
        table = self._tables.get(ref.table)
        part = None if table is None else table.partitions.get(ref.pk)
        return None if part is None else part.values.get(ref.sk)

    async def get(self, table: str, pk: bytes, sk: bytes) -> bytes | None:
        return self._get(KeyRef(table, pk, sk))

    async def get_many(self, keys: Sequence[KeyRef]) -> list[bytes | None]:
        return [self._get(ref) for ref in keys]

    async def query(
        self,
        table: str,
        pk: bytes,
        *,
        lo: Bound | None,
        hi: Bound | None,
        forward: bool,
        start: bytes | None,
        limit: int,
    ) -> list[tuple[bytes, bytes]]:
        tbl = self._tables.get(table)
        part = None if tbl is None else tbl.partitions.get(pk)
        if part is None or limit <= 0:
            return []
        sks = part.sks
        i = 0 if lo is None else (bisect_left if lo.inclusive else bisect_right)(sks, lo.key)
        j = len(sks) if hi is None else (bisect_right if hi.inclusive else bisect_left)(sks, hi.key)
        if start is not None:
            if forward:
                i = max(i, bisect_right(sks, start))
            else:
                j = min(j, bisect_left(sks, start))
        chosen = sks[i : min(j, i + limit)] if forward else sks[max(i, j - limit) : j][::-1]
        return [(sk, part.values[sk]) for sk in chosen]

    async def scan(
        self,
        table: str,
        *,
        segment: int,
        total_segments: int,
        start: tuple[bytes, bytes] | None,
        limit: int,
    ) -> list[tuple[bytes, bytes, bytes]]:
        tbl = self._tables.get(table)
        if tbl is None or limit <= 0:
            return []
        lo, hi = segment_bounds(segment, total_segments)
        order = tbl.order
        index = bisect_left(order, (lo, b""))
        after_sk: bytes | None = None
        if start is not None:
            here = (partition_hash(start[0]), start[0])
            if here >= (lo, b""):
                # The start partition may have been emptied since; bisect lands on its successor then.
                index = bisect_left(order, here)
                if index < len(order) and order[index] == here:
                    after_sk = start[1]
        out: list[tuple[bytes, bytes, bytes]] = []
        while index < len(order) and order[index][0] < hi and len(out) < limit:
            pk = order[index][1]
            part = tbl.partitions[pk]
            first = 0 if after_sk is None else bisect_right(part.sks, after_sk)
            for sk in part.sks[first : first + limit - len(out)]:
                out.append((pk, sk, part.values[sk]))
            after_sk = None
            index += 1
        return out

    async def snapshot(self, table: str) -> _ListSnapshot:
        """The table's items as of now (``Snapshots``)."""
        return await _memory_snapshot(self, table)

    async def transact(self, keys: Sequence[KeyRef], apply: ApplyFn) -> list[bytes | None]:
        tables = []
        for ref in keys:
            table = self._tables.get(ref.table)
            if table is None:
                raise TableMissing(ref.table)
            tables.append(table)
        old = [self._get(ref) for ref in keys]
        new, records = split_logged(keys, check_new_values(keys, apply(list(old))))
        # Nothing is written until apply has returned and its result checked, so a raise leaves no trace.
        for table, ref, value in zip(tables, keys, new, strict=True):
            if value is None:
                table.delete(ref.pk, ref.sk)
            elif value is not KEEP:
                table.put(ref.pk, ref.sk, value)
        for name, _pk, record in records:
            seq = self._heads[name] = self._heads.get(name, 0) + 1
            self._logs.setdefault(name, deque()).append((seq, record))
        return old

    # ----- the change log (see accelerator.core.changelog)

    async def read_log(self, table: str, after: int, limit: int) -> list[tuple[int, bytes]]:
        log = self._logs.get(table)
        if not log or limit <= 0:
            return []
        first = log[0][0]  # sequences in one deque are consecutive: index by arithmetic
        start = max(0, after + 1 - first)
        return [log[i] for i in range(start, min(len(log), start + limit))]

    async def log_head(self, table: str) -> int:
        return self._heads.get(table, 0)

    async def trim_log(self, table: str, before: int) -> int:
        log = self._logs.get(table)
        gone = 0
        while log and log[0][0] < before:
            log.popleft()
            gone += 1
        return gone


class _ListSnapshot:
    """A table's items copied out in scan order: a snapshot of the memory backend."""

    def __init__(self, rows: list[tuple[bytes, bytes, bytes]]) -> None:
        self.rows = rows
        self.keys = [(partition_hash(pk), pk, sk) for pk, sk, _ in rows]

    async def scan(self, start: tuple[bytes, bytes] | None, limit: int) -> list[tuple[bytes, bytes, bytes]]:
        first = 0 if start is None else bisect_right(self.keys, (partition_hash(start[0]), *start))
        return self.rows[first : first + limit]

    async def close(self) -> None:
        self.rows, self.keys = [], []


async def _memory_snapshot(storage: MemoryStorage, table: str) -> _ListSnapshot:
    # Copied without awaiting, so no write lands half-way; values are immutable bytes, so the copy is shallow.
    tbl = storage._tables.get(table)
    rows: list[tuple[bytes, bytes, bytes]] = []
    if tbl is not None:
        for _, pk in tbl.order:
            part = tbl.partitions[pk]
            rows.extend((pk, sk, part.values[sk]) for sk in part.sks)
    return _ListSnapshot(rows)
