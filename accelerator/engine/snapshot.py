"""One table's items as of one instant, read page by page while writes continue.

Backends with a read snapshot (``Snapshots``) give it directly. On the others (Redis, where nothing holds an
old version), the view is the live table rolled back with its change log to the log's head when the view
opened (see ``_RolledBack``), page by page, so it streams like a snapshot. That needs the table's log to be
on from the view's opening to its close.
"""

from __future__ import annotations

import asyncio
import logging
from bisect import insort
from collections.abc import Callable
from typing import Any

import orjson

from accelerator.core.changelog import CLUSTER_HORIZON_US
from accelerator.core.errors import BackendUnavailable
from accelerator.core.keys import partition_hash
from accelerator.core.snapshots import Snapshot, Snapshots
from accelerator.core.tables import TableDef

__all__ = ["open_view", "pages", "native", "PAGE", "LOG_SETTLE_SECONDS"]

log = logging.getLogger("accelerator.snapshot")

LOG_SETTLE_SECONDS = CLUSTER_HORIZON_US / 1_000_000 + 0.1
"""After this long, every change committed before a moment is readable from the log on every backend (a Redis
Cluster's log is read only up to its horizon, ``accelerator.core.changelog``)."""

PAGE = 500
"""Items per page: one page is read (and written elsewhere) between two yields to the loop."""


def _levels(storage: Any) -> list[Any]:
    levels = [storage]
    while hasattr(levels[-1], "inner"):
        levels.append(levels[-1].inner)
    return levels


def log_settle_seconds(storage: Any) -> float:
    """How long until every change committed before now can be read from the log: 0, or Redis Cluster's
    horizon (``accelerator.core.changelog``) plus a margin."""
    return LOG_SETTLE_SECONDS if any(getattr(level, "clustered", False) is True for level in _levels(storage)) \
        else 0.0


def native(storage: Any) -> bool:
    """Whether the backend under ``storage`` holds read snapshots (else views need the table's log on)."""
    return any(isinstance(level, Snapshots) for level in _levels(storage))


async def open_view(storage: Any, table: TableDef) -> Snapshot:
    """A consistent view of ``table`` through ``storage`` (the engine's stack), fixed when this returns.

    The stack's wrappers are followed through their ``inner`` down to the backend; a wrapper that transforms
    stored values (encryption) opens the snapshot's values with its ``open_value``.
    """
    levels = _levels(storage)
    found = [i for i, level in enumerate(levels) if isinstance(level, Snapshots)]
    if found:
        view: Snapshot = await levels[found[-1]].snapshot(table.name)
        for level in reversed(levels[: found[-1]]):
            opener = getattr(level, "open_value", None)
            if opener is not None:
                view = _Opened(view, table.name, opener)
        return view
    # The log is read through the outermost level, so its records pass every wrapper on the way up (opened when
    # encrypted, like the scanned rows); it exists when the backend keeps one.
    if not (hasattr(levels[-1], "log_head") and hasattr(levels[-1], "read_log")):
        raise BackendUnavailable(f"{type(levels[-1]).__name__} has neither read snapshots nor a change log")
    return await _RolledBack.open(storage, storage, table, log_settle_seconds(storage))


class _Opened:
    """A snapshot whose values pass through a wrapper's ``open_value`` (decryption)."""

    def __init__(self, inner: Snapshot, table: str, opener: Callable[[str, bytes, bytes, bytes], bytes]) -> None:
        self.inner = inner
        self.table = table
        self.opener = opener

    async def scan(self, start: tuple[bytes, bytes] | None, limit: int) -> list[tuple[bytes, bytes, bytes]]:
        return [(pk, sk, self.opener(self.table, pk, sk, v)) for pk, sk, v in await self.inner.scan(start, limit)]

    async def close(self) -> None:
        await self.inner.close()


async def pages(view: Snapshot, limit: int = PAGE) -> Any:
    """Async iterator over the view's pages of (pk, sk, value); yields to the loop between pages."""
    start: tuple[bytes, bytes] | None = None
    while True:
        page = await view.scan(start, limit)
        if not page:
            return
        yield page
        start = page[-1][0], page[-1][1]
        await asyncio.sleep(0)


class _RolledBack:
    """The live table read page by page, each page rolled back with the change log to the view's instant.

    The instant is the log's head when the view opens. A page read later may hold items changed since; every
    such change has a record after that head, whose old image is the item as it was, so before a page is
    handed out the log is read up to now and each item changed since the instant is replaced by the old image
    of its first record after it (dropped if that image is absent). An item that existed at the instant but is
    gone when the scan passes its place is put back there. Memory: the changes made while the view is read.
    """

    def __init__(self, storage: Any, changes: Any, table: TableDef, head: int, settle: float) -> None:
        self.storage = storage
        self.changes = changes
        self.table = table
        self.position = head
        self.settle = settle  # how long a change takes to become readable from the log (a cluster's horizon)
        self.before: dict[tuple[bytes, bytes], bytes | None] = {}  # key -> its value at the instant
        self.pending: list[tuple[int, bytes, bytes]] = []  # sorted scan positions of changed keys not yet passed
        self.cursor: tuple[int, bytes, bytes] | None = None  # the scan position handed out so far

    @classmethod
    async def open(cls, storage: Any, changes: Any, table: TableDef, settle: float) -> _RolledBack:
        if settle:  # a cluster's head lags the clock: this makes the instant now, not half a second ago
            await asyncio.sleep(settle)
        return cls(storage, changes, table, await changes.log_head(table.name), settle)

    async def _catch_up(self) -> None:
        """Read the log up to now: note the value at the instant of every key first changed since."""
        end = await self.changes.log_head(self.table.name)
        while self.position < end:
            page = await self.changes.read_log(self.table.name, self.position, PAGE)
            if not page:
                break
            for seq, data in page:
                self.position = seq
                record = orjson.loads(data)
                image = record["o"] if record["o"] is not None else record["n"]
                key = self.table.key.key_of_item(image)
                if key in self.before:
                    continue  # only the first change after the instant tells the value at it
                self.before[key] = None if record["o"] is None else orjson.dumps(record["o"])
                place = (partition_hash(key[0]), *key)
                if self.cursor is None or place > self.cursor:
                    insort(self.pending, place)
            await asyncio.sleep(0)

    async def scan(self, start: tuple[bytes, bytes] | None, limit: int) -> list[tuple[bytes, bytes, bytes]]:
        live = await self.storage.scan(self.table.name, segment=0, total_segments=1, start=start, limit=limit)
        if self.settle:  # until the log holds every change made before the page was read
            await asyncio.sleep(self.settle)
        await self._catch_up()
        last = (partition_hash(live[-1][0]), live[-1][0], live[-1][1]) if len(live) == limit else None
        rows: dict[tuple[int, bytes, bytes], bytes] = {}
        for pk, sk, value in live:
            kept = self.before.get((pk, sk), value)  # None: it did not exist at the instant
            if kept is not None:
                rows[partition_hash(pk), pk, sk] = kept
        while self.pending and (last is None or self.pending[0] <= last):
            place = self.pending.pop(0)
            old = self.before[place[1], place[2]]
            if old is not None and place not in rows:  # gone (or moved on) since the instant: as it was
                rows[place] = old
        if last is not None:
            self.cursor = last
        return [(pk, sk, rows[h, pk, sk]) for h, pk, sk in sorted(rows)]

    async def close(self) -> None:
        self.before, self.pending = {}, []
