"""A byte-bounded ``TLRUCache`` that reports what it evicts and what it drops on expiry."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

from cachetools import Cache, TLRUCache

__all__ = ["BoundedTLRU"]


class BoundedTLRU(TLRUCache):
    """``TLRUCache`` plus an eviction byte counter and an ``on_remove(key, value)`` hook.

    The hook fires for entries evicted by the byte bound and for entries dropped once expired; an
    explicit ``discard`` does not call it (the caller knows what it removed).
    """

    def __init__(self, maxsize: int, ttu: Callable[[Any, Any, float], float], timer: Callable[[], float],
                 getsizeof: Callable[[Any], int],
                 on_remove: Callable[[Hashable, Any], None] | None = None) -> None:
        super().__init__(maxsize, ttu, timer=timer, getsizeof=getsizeof)
        self.evicted_bytes = 0
        self.evictions = 0
        self.on_remove = on_remove

    def popitem(self) -> tuple[Any, Any]:
        key, value = super().popitem()
        self.evicted_bytes += int(self.getsizeof(value))
        self.evictions += 1
        if self.on_remove is not None:
            self.on_remove(key, value)
        return key, value

    def expire(self, time: float | None = None) -> list[tuple[Any, Any]]:
        expired: list[tuple[Any, Any]] = super().expire(time)
        if expired and self.on_remove is not None:
            for key, value in expired:
                self.on_remove(key, value)
        return expired

    def discard(self, key: Hashable) -> bool:
        """Remove ``key`` whether or not it has expired; True if it was live."""
        try:
            del self[key]
        except KeyError:
            return False
        return True

    def peek(self, key: Hashable) -> Any:
        """The stored value, expired or not, without touching recency; None if absent."""
        try:
            return Cache.__getitem__(self, key)
        except KeyError:
            return None

    def raw_keys(self) -> list[Any]:
        """Every stored key, expired or not, without touching recency or the clock."""
        return list(Cache.__iter__(self))
