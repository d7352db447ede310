"""The cache layer: ``CachedStore`` wraps any Store with an item cache and a query cache.

    store.py         CachedStore: dispatch, the write protocol, invalidation, flush
    reads.py         GetItem / BatchGetItem (item cache), Query / Scan (query cache)
    writes.py        what each write touches, and the write-through choices
    items.py         ItemCache    (synchronous: TLRUCache by bytes, injected clock)
    queries.py       QueryCache   (synchronous, with a scope index for invalidation)
    generations.py   per-scope write generations (no stale fill)
    flight.py        single-flight for concurrent misses
    tables.py        key schemas and per-table settings, by table incarnation
    projection.py    projection of cached whole items on the way out
    sizing.py        memory estimates behind the byte bounds
    stats.py         DAX-named counters; admin.py the admin routes; invalidation.py the cross-node hook
"""

from __future__ import annotations

from accelerator.cache.invalidation import Invalidation, Invalidator, LocalBus
from accelerator.cache.items import ItemCache
from accelerator.cache.queries import QueryCache
from accelerator.cache.store import CachedStore

__all__ = ["CachedStore", "ItemCache", "QueryCache", "Invalidation", "Invalidator", "LocalBus"]
