"""Serialised GetItem hits, keyed by the request body: a repeated hit skips parsing, validation, key
encoding and serialisation, and costs one dict lookup plus the item cache's own check.

A remembered reply is tied to the item cache entry it was made from, by identity: it is served only while
``ItemCache.get`` still returns that very entry (not expired, not replaced by a write-through, not dropped by an
invalidation, a flush or a schema change) and, with several workers, while that entry's shared-generation stamp
still holds. So it is never staler than the item cache itself, and the same request body always gets the same
answer (the body names the table, the key, the projection and every other member). Only plain hits are kept
(no ConsistentRead, no ReturnConsumedCapacity: those never hit). With per-key policies, ``get`` takes an ``admit``
check of the table the body names (the router passes the policy enforcer's remembered unconditional Allows for
the signing key), so a caller whose access depends on conditions, or is denied, always takes the full path. Bounded in bytes: bodies of at most ``MAX_BODY`` bytes with replies of at
most ``MAX_REPLY`` bytes, ``max_bytes`` for all of them together (with a per-entry overhead), the oldest dropped
first; a hot set of ~250-byte items fits ~60,000 keys in the default 32 MB.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from accelerator.cache.items import Entry, ItemCache, ItemKey
    from accelerator.cache.stats import Stats

__all__ = ["ReplyCache", "MAX_BODY", "MAX_REPLY"]

MAX_BODY = 1024
MAX_REPLY = 4096
ENTRY_OVERHEAD = 200  # the dict slot, the tuple and two bytes objects' headers, roughly
DEFAULT_MAX_BYTES = 32 * 1024 * 1024


class ReplyCache:
    """Request body -> (item cache key, the entry the reply was made from, reply body, table name)."""

    __slots__ = ("max_bytes", "_bytes", "_items", "_stats", "_counters", "_data", "last_hit")

    def __init__(self, items: ItemCache, stats: Stats, counters: Any = None,
                 max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self._bytes = 0
        self._items = items
        self._stats = stats
        self._counters = counters  # the shared generations' counters, with several workers
        self._data: OrderedDict[bytes, tuple[ItemKey, Entry, bytes, Any]] = OrderedDict()
        self.last_hit: tuple[ItemKey, Entry] | None = None
        """Set by a GetItem answered from the item cache, taken by the router in the same step (no await)."""

    def get(self, body: bytes, admit: Callable[[Any], bool] | None = None) -> bytes | None:
        """The reply for ``body`` if its entry is still the live one (and ``admit`` allows the caller the
        table the body names); counts the hit."""
        found = self._data.get(body)
        if found is None:
            return None
        key, entry, reply, table = found
        if admit is not None and not admit(table):
            return None
        stamp = entry[4]
        if self._items.get(key) is not entry or (
                stamp is not None and (self._counters[stamp[0]] != stamp[1] or self._counters[stamp[2]] != stamp[3])):
            del self._data[body]
            self._bytes -= _size(body, reply)
            return None
        self._stats.item_hits += 1
        return reply

    def remember(self, body: bytes, reply: bytes, table: Any = None) -> None:
        """Keep ``reply`` for ``body`` (a GetItem of ``table``) if the request just answered was a plain item
        cache hit."""
        hit, self.last_hit = self.last_hit, None
        if hit is None or len(body) > MAX_BODY or len(reply) > MAX_REPLY:
            return
        data = self._data
        old = data.pop(body, None)
        if old is not None:
            self._bytes -= _size(body, old[2])
        data[body] = (hit[0], hit[1], reply, table)
        self._bytes += _size(body, reply)
        while self._bytes > self.max_bytes and data:
            gone, (_, _, gone_reply, _) = data.popitem(last=False)
            self._bytes -= _size(gone, gone_reply)

    def forget(self) -> None:
        """Drop the pending hit (a request that will not be remembered) and every reply."""
        self.last_hit = None
        self._data.clear()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._data)


def _size(body: bytes, reply: bytes) -> int:
    return len(body) + len(reply) + ENTRY_OVERHEAD
