"""The query cache: Query and Scan response pages by normalized request, indexed by invalidation scope.

A page depends on a *scope*: a Query on a table's primary key depends on its partition
``(incarnation, pk)``; a Scan, or a Query whose partition cannot be told (an index, an expression the
engine cannot parse yet), depends on the whole table ``incarnation``. A write invalidates the
scope of its partition and the table scope.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Hashable
from typing import Any

import orjson

from accelerator.cache.lru import BoundedTLRU
from accelerator.cache.sizing import QUERY_ENTRY_OVERHEAD, deep_size
from accelerator.core.keys import KeySchema
from accelerator.core.protocols import Request, Response
from accelerator.expressions import plan

__all__ = ["QueryCache", "query_key", "partition_of", "KEY_MEMBERS"]

KEY_MEMBERS = (
    "TableName", "IndexName", "KeyConditionExpression", "KeyConditions", "FilterExpression", "QueryFilter",
    "ScanFilter", "ConditionalOperator", "ProjectionExpression", "AttributesToGet", "ExpressionAttributeNames",
    "ExpressionAttributeValues", "Limit", "ExclusiveStartKey", "ScanIndexForward", "Select", "Segment",
    "TotalSegments",
)
"""Every request member that can change a page (ConsistentRead bypasses; ReturnConsumedCapacity does not)."""

Page = tuple[Response, float, int, Hashable, Any]
"""(response, TTL seconds, estimated bytes, scope, shared-generation stamp or None)."""


def query_key(operation: str, req: Request) -> bytes:
    """A 128-bit digest of the normalized request: the members that shape a page, keys sorted at every depth.

    A digest, not the JSON itself: it is short, and ``orjson.dumps`` hands back a bytes object whose
    allocation stays about 4 KB however short its content is.
    """
    members = {name: req[name] for name in KEY_MEMBERS if name in req}
    return hashlib.blake2b(orjson.dumps([operation, members], option=orjson.OPT_SORT_KEYS), digest_size=16).digest()


def partition_of(req: Request, schema: KeySchema) -> bytes | None:
    """The encoded partition key a Query reads, or None when it cannot be told (then: table scope)."""
    if "IndexName" in req:
        return None
    try:
        return plan.key_condition(req, plan.Context(req, "Query"), schema).hash_key
    except Exception:  # noqa: BLE001 - the store will report a bad request; we only lose precision
        return None


def _ttu(key: Any, page: Page, now: float) -> float:
    return now + page[1] if page[1] > 0 else math.inf


def _size(page: Page) -> int:
    return page[2]


class QueryCache:
    """Pages by key, bounded by bytes, with TTL; ``invalidate(scope)`` drops every page of a scope."""

    def __init__(self, max_bytes: int, timer: Callable[[], float]) -> None:
        self.max_bytes = max_bytes
        self._lru = BoundedTLRU(max(max_bytes, 1), _ttu, timer, _size, on_remove=self._unindex)
        self._scopes: dict[Hashable, set[Hashable]] = {}

    def _unindex(self, key: Hashable, page: Page) -> None:
        keys = self._scopes.get(page[3])
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self._scopes[page[3]]

    def get(self, key: Hashable) -> Response | None:
        try:
            return self._lru[key][0]
        except KeyError:
            return None

    def get_page(self, key: Hashable) -> Page | None:
        """The live page with its stamp (refreshing its recency), or None."""
        try:
            return self._lru[key]
        except KeyError:
            return None

    def put(self, key: tuple[int, bytes], scope: Hashable, response: Response, ttl: float,
            stamp: Any = None) -> bool:
        """Cache one page under ``scope``; False if it cannot fit."""
        size = QUERY_ENTRY_OVERHEAD + deep_size(response)
        if size > self.max_bytes:
            self.discard(key)
            return False
        self._lru[key] = (response, ttl, size, scope, stamp)
        self._scopes.setdefault(scope, set()).add(key)
        return True

    def discard(self, key: Hashable) -> None:
        page: Page | None = self._lru.peek(key)
        if page is not None:
            self._lru.discard(key)
            self._unindex(key, page)

    def invalidate(self, scope: Hashable) -> int:
        """Drop every page that depends on ``scope``; returns how many."""
        keys = self._scopes.pop(scope, None)
        if not keys:
            return 0
        for key in keys:
            self._lru.discard(key)
        return len(keys)

    def purge(self, incarnation: int) -> int:
        """Drop every page of one table incarnation."""
        doomed = [k for k in self._lru.raw_keys() if k[0] == incarnation]
        for key in doomed:
            self.discard(key)
        return len(doomed)

    def count(self, incarnation: int) -> int:
        """How many entries one table incarnation holds (a walk over every key: for the admin route)."""
        return sum(1 for k in self._lru.raw_keys() if k[0] == incarnation)

    def clear(self) -> None:
        self._lru.clear()
        self._scopes.clear()

    @property
    def entries(self) -> int:
        return len(self._lru)

    @property
    def bytes(self) -> int:
        return int(self._lru.currsize)

    @property
    def evicted_bytes(self) -> int:
        return self._lru.evicted_bytes
