"""Cache counters under DAX's metric names, and their registration as Prometheus gauges.

DAX names and what they count here:
    ItemCacheHits / ItemCacheMisses   GetItem and BatchGetItem, per key (eventually consistent reads only)
    QueryCacheHits / QueryCacheMisses Query pages
    ScanCacheHits / ScanCacheMisses   Scan pages
    EvictedSize                       estimated bytes evicted by the byte bounds (not expiry, not invalidation)
    EstimatedDbSize                   estimated bytes held now by the item and query caches together
Ours, besides: entries and bytes per cache, bypassed reads, reads that joined another's flight, fills
refused because a write raced the read, write-through fills, and invalidated query pages.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from accelerator.metrics import Metrics

if TYPE_CHECKING:
    from accelerator.cache.store import CachedStore

__all__ = ["Stats", "register", "snapshot"]


@dataclass(slots=True)
class Stats:
    item_hits: int = 0
    item_misses: int = 0
    query_hits: int = 0
    query_misses: int = 0
    scan_hits: int = 0
    scan_misses: int = 0
    bypasses: int = 0
    write_throughs: int = 0
    invalidated_items: int = 0
    invalidated_pages: int = 0
    remote_invalidations: int = 0


def snapshot(cs: CachedStore) -> dict[str, Any]:
    """Every counter and gauge, for the admin endpoint."""
    items, queries = cs.items, cs.queries
    return {
        **asdict(cs.stats),
        "single_flight_joins": cs.item_flights.joined + cs.query_flights.joined,
        "stale_fills_prevented": cs.item_flights.stale_fills + cs.query_flights.stale_fills,
        "item_cache": {"entries": items.entries, "bytes": items.bytes, "max_bytes": items.max_bytes,
                       "evicted_bytes": items.evicted_bytes, "evictions": items.evictions},
        "query_cache": {"entries": queries.entries, "bytes": queries.bytes, "max_bytes": queries.max_bytes,
                        "evicted_bytes": queries.evicted_bytes},
        "estimated_db_size": items.bytes + queries.bytes,
        "tables": cs.tables.names(),
        "reads_in_flight": len(cs.item_flights.active) + len(cs.query_flights.active),
    }


def register(metrics: Metrics, cs: CachedStore) -> None:
    s, items, queries = cs.stats, cs.items, cs.queries
    gauges = {
        "ItemCacheHits": lambda: s.item_hits,
        "ItemCacheMisses": lambda: s.item_misses,
        "QueryCacheHits": lambda: s.query_hits,
        "QueryCacheMisses": lambda: s.query_misses,
        "ScanCacheHits": lambda: s.scan_hits,
        "ScanCacheMisses": lambda: s.scan_misses,
        "EvictedSize": lambda: items.evicted_bytes + queries.evicted_bytes,
        "EstimatedDbSize": lambda: items.bytes + queries.bytes,
        "ItemCacheEntries": lambda: items.entries,
        "ItemCacheBytes": lambda: items.bytes,
        "QueryCacheEntries": lambda: queries.entries,
        "QueryCacheBytes": lambda: queries.bytes,
        "CacheBypasses": lambda: s.bypasses,
        "CacheWriteThroughs": lambda: s.write_throughs,
        "CacheSingleFlightJoins": lambda: cs.item_flights.joined + cs.query_flights.joined,
        "CacheStaleFillsPrevented": lambda: cs.item_flights.stale_fills + cs.query_flights.stale_fills,
    }
    for name, read in gauges.items():
        metrics.gauge(name, read)
