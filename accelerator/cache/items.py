"""The item cache: whole items (or "not found") by (table incarnation, pk, sk), bounded in bytes.

An ``OrderedDict`` in recency order, each entry holding its own expiry time: a hit is one dict lookup,
one clock read and one move to the end (the hottest path there is, so no general-purpose cache class
with its timer and heap). Expiry is lazy: an expired entry is dropped when it is read, or when the byte
bound evicts from the least recently used end, where untouched entries drift; expired entries so
dropped are not counted as evictions.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from accelerator.cache.sizing import ENTRY_OVERHEAD, deep_size
from accelerator.core.values import Item, item_size

__all__ = ["ItemCache", "ItemKey", "Entry", "item_bytes"]

ItemKey = tuple[int, bytes, bytes]
Entry = tuple[Item | None, float, int, int, Any]
"""(item or None for a negative entry, expiry time on the cache's clock (inf: no time expiry), estimated
memory bytes, the item's DynamoDB size or -1 if not worked out yet: see ``item_bytes``, and the
shared-generation stamp it was read under when workers share a machine, else None: see
``accelerator.cache.shared``)."""


def item_bytes(entry: Entry) -> int:
    """The DynamoDB size of an entry's item (0 for a negative entry)."""
    if entry[0] is None:
        return 0
    return entry[3] if entry[3] >= 0 else item_size(entry[0])


class ItemCache:
    """LRU by bytes with per-entry expiry; synchronous, clock injected."""

    __slots__ = ("max_bytes", "_timer", "_data", "_bytes", "evicted_bytes", "evictions")

    def __init__(self, max_bytes: int, timer: Callable[[], float]) -> None:
        self.max_bytes = max_bytes
        self._timer = timer
        self._data: OrderedDict[ItemKey, Entry] = OrderedDict()
        self._bytes = 0
        self.evicted_bytes = 0
        """Bytes evicted by the byte bound (not expiry, not invalidation)."""
        self.evictions = 0

    def get(self, key: ItemKey) -> Entry | None:
        """The live entry for ``key`` (refreshing its recency), or None."""
        entry = self._data.get(key)
        if entry is None:
            return None
        if entry[1] <= self._timer():
            self.discard(key)
            return None
        self._data.move_to_end(key)
        return entry

    def put(self, key: ItemKey, item: Item | None, ttl: float, item_bytes: int | None = None,
            stamp: Any = None) -> bool:
        """Cache ``item`` (None: a negative entry) for ``ttl`` seconds (0: no time expiry); False if it cannot fit.

        ``item_bytes`` is the item's DynamoDB size if the caller knows it already (else worked out on demand).
        """
        size = ENTRY_OVERHEAD + 2 * 33 + len(key[1]) + len(key[2])
        if item is not None:
            size += deep_size(item)
        if size > self.max_bytes:
            self.discard(key)
            return False
        now = self._timer()
        expires = now + ttl if ttl > 0 else math.inf
        if expires <= now:  # a TTL too small to register on the clock: nothing to keep
            self.discard(key)
            return True
        data = self._data
        old = data.pop(key, None)
        if old is not None:
            self._bytes -= old[2]
        data[key] = (item, expires, size, -1 if item_bytes is None else item_bytes, stamp)
        self._bytes += size
        while self._bytes > self.max_bytes:
            _, evicted = data.popitem(last=False)
            self._bytes -= evicted[2]
            if evicted[1] > now:  # an expired entry leaving is expiry, not eviction
                self.evicted_bytes += evicted[2]
                self.evictions += 1
        return True

    def discard(self, key: ItemKey) -> None:
        entry = self._data.pop(key, None)
        if entry is not None:
            self._bytes -= entry[2]

    def purge(self, incarnation: int) -> int:
        """Drop every entry of one table incarnation; returns how many."""
        doomed = [k for k in self._data if k[0] == incarnation]
        for key in doomed:
            self.discard(key)
        return len(doomed)

    def count(self, incarnation: int) -> int:
        """How many entries one table incarnation holds (a walk over every key: for the admin route)."""
        return sum(1 for k in self._data if k[0] == incarnation)

    def clear(self) -> None:
        self._data.clear()
        self._bytes = 0

    @property
    def entries(self) -> int:
        return len(self._data)

    @property
    def bytes(self) -> int:
        return self._bytes
