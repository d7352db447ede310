"""Cross-node invalidation: the hook a broadcast (Redis pub/sub, PostgreSQL LISTEN/NOTIFY) plugs into.

After a write through one node is acknowledged, that node publishes which keys changed; every other
node drops those items and the query pages of their partitions and table. ``LocalBus`` connects
several ``CachedStore`` objects in one process (tests, and the shape a network transport follows).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

__all__ = ["Invalidation", "Invalidator", "LocalBus", "EVERYTHING"]

EVERYTHING = ""
"""The table name of a message that drops every entry (e.g. after a broadcast connection was lost)."""


@dataclass(frozen=True, slots=True)
class Invalidation:
    """Keys of one table that changed (encoded pk, sk); ``keys=None``: the whole table (or, with table
    EVERYTHING, every table)."""

    table: str
    keys: tuple[tuple[bytes, bytes], ...] | None
    origin: int = 0  # the publishing node, so it can ignore its own messages


class Invalidator(Protocol):
    """A transport for invalidations between nodes; ``publish`` must not block the caller."""

    def publish(self, message: Invalidation) -> None: ...

    async def start(self, deliver: Callable[[Invalidation], None]) -> None:
        """Begin delivering other nodes' messages to ``deliver``."""

    async def close(self) -> None: ...


class LocalBus:
    """An in-process fan-out: ``bus.node()`` gives one Invalidator per CachedStore."""

    def __init__(self) -> None:
        self._subscribers: list[Callable[[Invalidation], None]] = []

    def node(self) -> Invalidator:
        return _LocalNode(self)


class _LocalNode:
    def __init__(self, bus: LocalBus) -> None:
        self.bus = bus
        self.deliver: Callable[[Invalidation], None] | None = None

    def publish(self, message: Invalidation) -> None:
        for deliver in list(self.bus._subscribers):
            if deliver is not self.deliver:
                deliver(message)

    async def start(self, deliver: Callable[[Invalidation], None]) -> None:
        self.deliver = deliver
        self.bus._subscribers.append(deliver)

    async def close(self) -> None:
        if self.deliver is not None:
            self.bus._subscribers.remove(self.deliver)
            self.deliver = None
