"""The item cache: whole items (or "not found") by (table incarnation, pk, sk), bounded in bytes."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from accelerator.cache.lru import BoundedTLRU
from accelerator.cache.sizing import ENTRY_OVERHEAD, deep_size
from accelerator.core.values import Item, item_size

__all__ = ["ItemCache", "ItemKey", "Entry", "item_bytes"]

ItemKey = tuple[int, bytes, bytes]
Entry = tuple[Item | None, float, int, int, Any]
"""(item or None for a negative entry, TTL seconds (0: no time expiry), estimated memory bytes,
the item's DynamoDB size or -1 if not worked out yet: see ``item_bytes``, and the shared-generation
stamp it was read under when workers share a machine, else None: see ``accelerator.cache.shared``)."""


def _ttu(key: Any, entry: Entry, now: float) -> float:
    ttl = entry[1]
    return now + ttl if ttl > 0 else math.inf


def _size(entry: Entry) -> int:
    return entry[2]


def item_bytes(entry: Entry) -> int:
    """The DynamoDB size of an entry's item (0 for a negative entry)."""
    if entry[0] is None:
        return 0
    return entry[3] if entry[3] >= 0 else item_size(entry[0])


class ItemCache:
    """LRU by bytes with per-entry expiry; synchronous, clock injected."""

    def __init__(self, max_bytes: int, timer: Callable[[], float]) -> None:
        self.max_bytes = max_bytes
        self._lru = BoundedTLRU(max(max_bytes, 1), _ttu, timer, _size)

    def get(self, key: ItemKey) -> Entry | None:
        """The live entry for ``key`` (refreshing its recency), or None."""
        try:
            return self._lru[key]
        except KeyError:
            return None

    def put(self, key: ItemKey, item: Item | None, ttl: float, item_bytes: int | None = None,
            stamp: Any = None) -> bool:
        """Cache ``item`` (None: a negative entry) for ``ttl`` seconds; False if it cannot fit.

        ``item_bytes`` is the item's DynamoDB size if the caller knows it already (else worked out on demand).
        """
        size = ENTRY_OVERHEAD + 2 * 33 + len(key[1]) + len(key[2])
        if item is not None:
            size += deep_size(item)
        if size > self.max_bytes:
            self._lru.discard(key)
            return False
        self._lru[key] = (item, ttl, size, -1 if item_bytes is None else item_bytes, stamp)
        return True

    def discard(self, key: ItemKey) -> None:
        self._lru.discard(key)

    def purge(self, incarnation: int) -> int:
        """Drop every entry of one table incarnation; returns how many."""
        doomed = [k for k in self._lru.raw_keys() if k[0] == incarnation]
        for key in doomed:
            self._lru.discard(key)
        return len(doomed)

    def count(self, incarnation: int) -> int:
        """How many entries one table incarnation holds (a walk over every key: for the admin route)."""
        return sum(1 for k in self._lru.raw_keys() if k[0] == incarnation)

    def clear(self) -> None:
        self._lru.clear()

    @property
    def entries(self) -> int:
        return len(self._lru)

    @property
    def bytes(self) -> int:
        return int(self._lru.currsize)

    @property
    def evicted_bytes(self) -> int:
        return self._lru.evicted_bytes

    @property
    def evictions(self) -> int:
        return self._lru.evictions
