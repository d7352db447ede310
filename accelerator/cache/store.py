"""CachedStore: a Store that answers eventually consistent reads from memory and writes through.

Write protocol (per key a write touches): bump the key's, its partition's and its table's generation
and go to the store; when it returns, bump them again and then

- acknowledged: the item cache takes the new item (a negative entry for a delete) if the key's
  generation shows no other write overlapped this one, else the key is dropped; the query pages of
  the partition and the table's table-wide pages (Scans) are dropped;
- failed for certain (a 4xx DynamoDB error: condition failed, transaction cancelled, validation):
  nothing changes;
- outcome unknown (cancelled, 5xx, an unexpected exception): the touched keys and pages are dropped,
  because the store may have applied the write.

Reads fill only when the generation of their scope did not move while they were at the store, so a
read that raced a write never leaves the old value behind, and the cache is up to date before a
write is acknowledged: read-your-writes through one node always holds.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from accelerator.cache import reads, writes
from accelerator.cache.bypasses import UNKNOWN_TABLE, Bypasses
from accelerator.cache.flight import Flights
from accelerator.cache.generations import Generations
from accelerator.cache.invalidation import EVERYTHING, Invalidation, Invalidator
from accelerator.cache.items import ItemCache, ItemKey
from accelerator.cache.queries import QueryCache
from accelerator.cache.replies import ReplyCache
from accelerator.cache.shared import SharedGenerations
from accelerator.cache.stats import Stats, register
from accelerator.cache.tables import TableStates
from accelerator.config import CacheConfig
from accelerator.core.errors import DynamoError, ResourceNotFoundException
from accelerator.core.guard import quietly, swallowed
from accelerator.core.protocols import Request, Response, Store
from accelerator.core.values import Item
from accelerator.metrics import Metrics

if TYPE_CHECKING:
    from accelerator.cache.admin import Handler

__all__ = ["CachedStore"]

log = logging.getLogger("accelerator.cache")

_APPLIED, _FAILED, _UNKNOWN = "applied", "failed", "unknown"
_WRITES = ("PutItem", "DeleteItem", "UpdateItem", "BatchWriteItem", "TransactWriteItems")
_SCHEMA_CHANGES = ("CreateTable", "DeleteTable", "UpdateTable", "UpdateTimeToLive")
"""Operations that change what a table's cached answers depend on (its indexes, key schema, TTL, streams)."""


def _broadcast(url: str, channel: str) -> Invalidator:
    if url.startswith(("redis://", "rediss://", "unix://")):
        from accelerator.cache.broadcast import RedisInvalidator

        return RedisInvalidator(url, channel)
    if url.startswith(("postgres://", "postgresql://")):
        from accelerator.cache.broadcast_pg import PostgresInvalidator

        return PostgresInvalidator(url, channel)
    raise ValueError(f"unsupported cache broadcast URL {url!r} (expected redis://... or postgresql://...)")


class CachedStore:
    """Wraps any ``Store`` and is one."""

    def __init__(self, store: Store, config: CacheConfig | None = None, metrics: Metrics | None = None,
                 clock: Callable[[], float] = time.monotonic, invalidator: Invalidator | None = None,
                 shared: SharedGenerations | None = None) -> None:
        self.store = store
        self.trusted_items = getattr(store, "validates_items", False) is True
        """The store below checks and normalises written items in place (the local engine; not an upstream)."""
        self.shared = shared
        """Generations shared with the other workers of this machine (None: this process is alone)."""
        self.config = config or CacheConfig()
        self.clock = clock
        self.bypasses = Bypasses(metrics.labelled_counter(
            "accelerator_cache_bypass", ["table", "reason"], "Requests the cache stepped aside for because it could "
            "not work out what they touch (the store answered; nothing stale was cached), by table and reason")
            if metrics is not None else None)
        self.tables = TableStates(self.config, self.bypasses)
        self.items = ItemCache(self.config.item_cache_bytes, clock)
        self.queries = QueryCache(self.config.query_cache_bytes, clock)
        self.gens = Generations()
        self.item_flights: Flights[Item | None] = Flights(self.gens)
        self.query_flights: Flights[Response] = Flights(self.gens)
        self.stats = Stats()
        self.replies = ReplyCache(self.items, self.stats, shared.counters if shared is not None else None)
        """Serialised GetItem hits by request body, for the router's fast path."""
        if invalidator is None and self.config.broadcast:
            invalidator = _broadcast(self.config.broadcast, self.config.broadcast_channel)
        self.invalidator = invalidator
        self.node_id = getattr(invalidator, "node_id", None) or secrets.randbits(62)
        self.schema_listeners: list[Callable[[str | None], None]] = []
        """Told of another node's schema change (a table name, None for all): e.g. the policy layer's key
        schemas, which the layers above must not keep past a table's re-creation."""
        handlers: dict[str, Callable[[Request], Awaitable[Response]]] = {
            "GetItem": self._get_item,
            "BatchGetItem": self._batch_get_item,
            "Query": self._query,
            "Scan": self._scan,
            "TransactGetItems": self._transact_get,
        }
        for op in _SCHEMA_CHANGES:
            handlers[op] = self._table_change(op)
        for op in _WRITES:
            handlers[op] = self._writer(op)
        self._handlers = handlers
        if metrics is not None:
            register(metrics, self)

    # -- Store -----------------------------------------------------------------------------------
    async def open(self) -> None:
        await self.store.open()
        subscribe = getattr(self.store, "subscribe", None)
        if subscribe is not None:  # deletions the store makes on its own (TTL expiry) reach every node's cache
            subscribe(self._store_deleted)
        if self.invalidator is not None:
            await self.invalidator.start(self.apply_invalidation)

    async def close(self) -> None:
        if self.invalidator is not None:
            await self.invalidator.close()
        await self.store.close()

    async def call(self, operation: str, request: Request) -> Response:
        handler = self._handlers.get(operation)
        try:
            if handler is None:
                return await self.store.call(operation, request)
            return await handler(request)
        except ResourceNotFoundException:
            name = request.get("TableName")
            if isinstance(name, str):
                self.flush(name)  # its definition may have changed elsewhere: learn it again
            raise

    def _get_item(self, req: Request) -> Awaitable[Response]:
        return reads.get_item(self, req)

    def _batch_get_item(self, req: Request) -> Awaitable[Response]:
        return reads.batch_get_item(self, req)

    def _query(self, req: Request) -> Awaitable[Response]:
        return reads.query(self, "Query", req)

    def _scan(self, req: Request) -> Awaitable[Response]:
        return reads.query(self, "Scan", req)

    def _transact_get(self, req: Request) -> Awaitable[Response]:
        return reads.bypass(self, "TransactGetItems", req)

    def _table_change(self, operation: str) -> Callable[[Request], Awaitable[Response]]:
        async def change(req: Request) -> Response:
            name = req.get("TableName")
            if isinstance(name, str):  # reads in flight from here on cannot fill the old incarnation
                self.flush(name)
            try:
                return await self.store.call(operation, req)
            finally:
                if isinstance(name, str):
                    self.flush(name)
                    self._publish(Invalidation(name, None, self.node_id))
        return change

    def _writer(self, operation: str) -> Callable[[Request], Awaitable[Response]]:
        async def write(req: Request) -> Response:
            return await self._write(operation, req)
        return write

    # -- writes ----------------------------------------------------------------------------------
    async def _write(self, operation: str, req: Request) -> Response:
        try:
            plan = await writes.plan_write(self, operation, req)
        except Exception as exc:  # noqa: BLE001 - keys unknown: let the store judge, then flush the tables
            for name in writes.table_names(operation, req) or [UNKNOWN_TABLE]:
                self.bypasses.note(name if self.tables.get(name) is not None else UNKNOWN_TABLE,
                                   "write keys not understood", exc)
            return await self._blind_write(operation, req)
        self._begin(plan.touches)
        outcome = _UNKNOWN
        try:
            response = await self.store.call(operation, plan.inner)
            outcome = _APPLIED
        except DynamoError as exc:
            if exc.status < 500:
                outcome = _FAILED
            raise
        finally:
            if outcome != _APPLIED:
                self._end(plan.touches, outcome)
        # The store committed: from here nothing may fail the request (see accelerator.core.guard).
        response = self._settle(operation, plan, response)
        self._end(plan.touches, outcome)
        return response

    def _settle(self, operation: str, plan: writes.WritePlan, response: Response) -> Response:
        try:
            return writes.settle(operation, plan, response, self.bypasses, self.trusted_items)
        except Exception as exc:  # noqa: BLE001 - a bug here must not fail a committed write
            swallowed("cache settle", exc)
            for touch in plan.touches:
                touch.new = writes.UNKNOWN  # invalidate rather than cache what we could not read
            if plan.strip_attributes:
                response = {k: v for k, v in response.items() if k != "Attributes"}
            return response

    async def _blind_write(self, operation: str, req: Request) -> Response:
        names = writes.table_names(operation, req)
        certain_failure = False
        try:
            return await self.store.call(operation, req)
        except DynamoError as exc:
            certain_failure = exc.status < 500
            raise
        finally:
            if not certain_failure:
                for name in names:
                    self.flush(name)
                    self._publish(Invalidation(name, None, self.node_id))

    def _begin(self, touches: list[writes.Touch]) -> None:
        gens, shared = self.gens, self.shared
        for t in touches:
            gens.hold(t.key)
            self._bump(t.key)
            t.mine = gens.current(t.key)
            if shared is not None:  # other workers' entries of the key are stale from here on
                name = t.state.name
                t.slots = shared.write_slots(name, t.key[1], t.key[2])
                t.shared_mine = shared.bump(t.slots)
                epoch = shared.epoch_slot(name)
                t.epoch = (epoch, shared.counters[epoch])

    def _end_shared(self, touches: list[writes.Touch]) -> None:
        """Bump the shared generations again before the acknowledgement; stamp what may be written through."""
        shared = self.shared
        if shared is None:
            return
        for t in touches:
            after = shared.bump(t.slots)
            # Only when no other worker bumped the key while this write was out is the new item the latest.
            t.stamp = (t.slots[0], after, *t.epoch) if after == t.shared_mine + 1 else writes.UNSTAMPED

    def _bump(self, key: ItemKey) -> None:
        inc, pk, _ = key
        self.gens.bump(key)
        self.gens.bump((inc, pk))
        self.gens.bump(inc)

    def _end(self, touches: list[writes.Touch], outcome: str) -> None:
        changed: dict[str, tuple[tuple[bytes, bytes], ...] | None] = {}
        try:
            self._end_shared(touches)
            if outcome != _FAILED:
                changed = self._update(touches, outcome)
        except Exception as exc:  # noqa: BLE001 - a bug here must not fail the write: forget its tables
            swallowed("cache update after a write", exc)
            for name in {t.state.name for t in touches}:
                self.flush(name)
                changed[name] = None
        finally:
            gens = self.gens
            for t in touches:
                self._bump(t.key)
                gens.release(t.key)
        for name, keys in changed.items():
            self._publish(Invalidation(name, keys, self.node_id))

    def _update(self, touches: list[writes.Touch],
                outcome: str) -> dict[str, tuple[tuple[bytes, bytes], ...] | None]:
        """The cache after a write that applied (or may have): fill or drop each key, drop its pages."""
        gens, items = self.gens, self.items
        changed: dict[str, list[tuple[bytes, bytes]]] = {}
        for t in touches:
            key, state = t.key, t.state
            if (outcome == _APPLIED and t.new is not writes.UNKNOWN and gens.current(key) == t.mine
                    and t.stamp is not writes.UNSTAMPED and state.alive and state.item_enabled):
                items.put(key, t.new, state.item_ttl if t.new is not None else state.negative_ttl, t.size,
                          t.stamp)
                self.stats.write_throughs += 1
            else:
                items.discard(key)
                self.stats.invalidated_items += 1
            self._drop_pages(key)
            changed.setdefault(state.name, []).append(key[1:])
        return {name: tuple(keys) for name, keys in changed.items()}

    def _drop_pages(self, key: ItemKey) -> None:
        inc, pk, _ = key
        self.stats.invalidated_pages += self.queries.invalidate((inc, pk)) + self.queries.invalidate(inc)

    # -- invalidation ----------------------------------------------------------------------------
    def _store_deleted(self, table: str, pk: bytes | None, sk: bytes | None) -> None:
        """The store changed a key on its own (TTL expiry, a write upstream that bypassed the accelerator), or
        any key of the table (``pk`` None)."""
        keys = None if pk is None or sk is None else ((pk, sk),)
        if self.shared is not None and pk is not None and sk is not None:  # a whole table: flush bumps its epoch
            self.shared.bump(self.shared.write_slots(table, pk, sk))
        self.apply_invalidation(Invalidation(table, keys))
        self._publish(Invalidation(table, keys, self.node_id))

    def _publish(self, message: Invalidation) -> None:
        if self.invalidator is not None:
            try:
                self.invalidator.publish(message)
            except Exception as exc:  # noqa: BLE001 - a broadcast failure must not fail an acknowledged write
                self.bypasses.note(message.table or UNKNOWN_TABLE, "invalidation not published", exc,
                                   logging.WARNING)

    def apply_invalidation(self, message: Invalidation) -> None:
        """Another node wrote these keys (or changed this table): drop what depends on them."""
        if message.origin == self.node_id:
            return
        self.stats.remote_invalidations += 1
        if message.table == EVERYTHING:
            self.flush()
            self._tell_schema_listeners(None)
            return
        if message.keys is None:  # a schema change (or a write whose keys were unknown)
            self._tell_schema_listeners(message.table)
            forget = getattr(self.store, "forget_table", None)
            if forget is not None:  # else this node's engine could answer from the old definition for a while
                forget(message.table)
            self.flush(message.table)
            return
        state = self.tables.get(message.table)
        if state is None:
            return
        for pk, sk in message.keys:
            key = (state.incarnation, pk, sk)
            self._bump(key)
            self.items.discard(key)
            self._drop_pages(key)

    def _tell_schema_listeners(self, table: str | None) -> None:
        for listener in self.schema_listeners:
            quietly("schema listener", listener, table)

    def flush(self, table: str | None = None) -> int:
        """Drop every entry (of one table, or all); returns how many were dropped.

        With workers, the other workers' entries go too: their stamps name the table's epoch.
        """
        if self.shared is not None:
            self.shared.bump_epoch(table)
        if table is None:
            dropped = self.items.entries + self.queries.entries
            self.tables.forget_all()
            self.items.clear()
            self.queries.clear()
            return dropped
        state = self.tables.forget(table)
        if state is None:
            return 0
        return self.items.purge(state.incarnation) + self.queries.purge(state.incarnation)

    # -- admin -----------------------------------------------------------------------------------
    def admin_routes(self) -> dict[tuple[bytes, bytes], tuple[str, Handler]]:
        """The admin HTTP routes by (method, path), each with its policy action (see accelerator.cache.admin)."""
        from accelerator.cache.admin import routes

        return routes(self)
