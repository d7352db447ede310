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

__all__ = ["Stats", "register", "snapshot", "table_snapshot"]


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


def table_snapshot(cs: CachedStore, table: str) -> dict[str, Any]:
    """One table's cache state: whether the cache knows it, its TTLs and its entries (a scan: admin only)."""
    state = cs.tables.get(table)
    if state is None:
        return {"table": table, "known": False, "item_entries": 0, "query_entries": 0}
    n = state.incarnation
    return {"table": table, "known": True, "item_cache": state.item_enabled, "query_cache": state.query_enabled,
            "item_ttl": state.item_ttl, "negative_ttl": state.negative_ttl, "query_ttl": state.query_ttl,
            "item_entries": cs.items.count(n), "query_entries": cs.queries.count(n)}


def register(metrics: Metrics, cs: CachedStore) -> None:
    """DAX's metric names: the hit/miss/eviction counts are counters, sizes and entries gauges."""
    s, items, queries = cs.stats, cs.items, cs.queries
    counters = {
        "ItemCacheHits": (lambda: s.item_hits, "GetItem/BatchGetItem keys answered from the item cache"),
        "ItemCacheMisses": (lambda: s.item_misses, "Keys read from the store and filled"),
        "QueryCacheHits": (lambda: s.query_hits, "Query pages answered from the query cache"),
        "QueryCacheMisses": (lambda: s.query_misses, "Query pages read from the store"),
        "ScanCacheHits": (lambda: s.scan_hits, "Scan pages answered from the query cache"),
        "ScanCacheMisses": (lambda: s.scan_misses, "Scan pages read from the store"),
        "EvictedSize": (lambda: items.evicted_bytes + queries.evicted_bytes, "Bytes evicted by the size bound"),
        "CacheBypasses": (lambda: s.bypasses, "Reads that bypassed the cache (ConsistentRead and the like)"),
        "CacheWriteThroughs": (lambda: s.write_throughs, "Acknowledged writes applied to the cache"),
        "CacheSingleFlightJoins": (lambda: cs.item_flights.joined + cs.query_flights.joined,
                                   "Misses that waited for a read already in flight"),
        "CacheStaleFillsPrevented": (lambda: cs.item_flights.stale_fills + cs.query_flights.stale_fills,
                                     "Fills refused because a write raced the read"),
    }
    gauges = {
        "EstimatedDbSize": (lambda: items.bytes + queries.bytes, "Bytes held by the item and query caches"),
        "ItemCacheEntries": (lambda: items.entries, "Entries in the item cache"),
        "ItemCacheBytes": (lambda: items.bytes, "Bytes held by the item cache"),
        "QueryCacheEntries": (lambda: queries.entries, "Entries in the query cache"),
        "QueryCacheBytes": (lambda: queries.bytes, "Bytes held by the query cache"),
    }
    counters["accelerator_cache_broadcast_malformed"] = (
        lambda: getattr(cs.invalidator, "malformed", 0),
        "Broadcast messages that could not be read: dropped (only a lost connection flushes the cache)")
    for name, (read, doc) in counters.items():
        metrics.counter(name, read, doc)
    for name, (read, doc) in gauges.items():
        metrics.gauge(name, read, doc)
