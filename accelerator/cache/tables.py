"""What the cache knows about each table: its key schema (from one DescribeTable) and its settings.

Each time a table is (re)learned it gets a new *incarnation* number, which prefixes every cache key
and scope of that table: forgetting a table (DeleteTable, CreateTable, a flush) makes its old entries
unreachable at once, and a read still in flight for the old incarnation cannot fill the new one.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass
from typing import Any

from accelerator.cache.bypasses import UNKNOWN_TABLE, Bypasses
from accelerator.config import CacheConfig, TableCacheConfig
from accelerator.core.errors import DynamoError
from accelerator.core.keys import KeySchema, schema_from_description
from accelerator.core.protocols import Store

__all__ = ["TableState", "TableStates", "schema_from_description"]


@dataclass(slots=True, eq=False)
class TableState:
    name: str
    schema: KeySchema
    incarnation: int
    item_enabled: bool
    query_enabled: bool
    item_ttl: float
    negative_ttl: float
    query_ttl: float
    alive: bool = True


class TableStates:
    """Table name -> TableState, learned through the inner store's DescribeTable and kept."""

    def __init__(self, config: CacheConfig, bypasses: Bypasses | None = None) -> None:
        self.config = config
        self.bypasses = bypasses or Bypasses()
        self._states: dict[str, TableState] = {}
        self._incarnations = itertools.count(1)

    def get(self, name: Any) -> TableState | None:
        return self._states.get(name)

    async def resolve(self, store: Store, name: Any) -> TableState | None:
        """The table's state, asking the store once; None if it cannot be learned (not cached then)."""
        state = self._states.get(name)
        if state is not None:
            return state
        if not isinstance(name, str):
            return None
        try:
            response = await store.call("DescribeTable", {"TableName": name})
            if response["Table"].get("TableStatus") == "CREATING":  # its item operations fail until ACTIVE:
                return None  # nothing to cache; asked again next time (the end of a fill flushes the table)
            schema = schema_from_description(response["Table"])
        except DynamoError as exc:  # the operation itself will meet the same error in the store
            if exc.status >= 500:  # a missing table is the client's answer, not a cache fallback
                self.bypasses.note(UNKNOWN_TABLE, "table not described", exc, logging.WARNING)
            return None
        except Exception as exc:  # noqa: BLE001 - e.g. a description the cache cannot read
            self.bypasses.note(UNKNOWN_TABLE, "table not described", exc, logging.WARNING)
            return None
        state = self._states.get(name)  # another request may have learned it meanwhile
        if state is None:
            state = self._states[name] = self._new_state(name, schema)
        return state

    def _new_state(self, name: str, schema: KeySchema) -> TableState:
        c = self.config
        t = c.tables.get(name) or TableCacheConfig()
        enabled = c.enabled if t.enabled is None else t.enabled
        query_ttl = c.query_ttl if t.query_ttl is None else t.query_ttl
        return TableState(
            name=name, schema=schema, incarnation=next(self._incarnations),
            item_enabled=enabled and c.item_cache_bytes > 0,
            query_enabled=enabled and c.query_cache_bytes > 0 and query_ttl > 0,
            item_ttl=c.item_ttl if t.item_ttl is None else t.item_ttl,
            negative_ttl=c.negative_ttl if t.negative_ttl is None else t.negative_ttl,
            query_ttl=query_ttl,
        )

    def forget(self, name: str) -> TableState | None:
        """Drop a table's state (its entries become unreachable); returns the old state."""
        state = self._states.pop(name, None)
        if state is not None:
            state.alive = False
        return state

    def forget_all(self) -> list[TableState]:
        states = list(self._states.values())
        self._states.clear()
        for state in states:
            state.alive = False
        return states

    def names(self) -> list[str]:
        return sorted(self._states)
