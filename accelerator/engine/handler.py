"""What an operation handler may use of the engine: the ``Engine`` protocol that ``TableEngine`` implements.

Handlers live in one module per operation family and take the engine as their first argument; typing that
argument with this protocol (not ``TableEngine``, which imports every family) keeps the imports one-way and
lets mypy check every handler's use of storage, table definitions and meta records.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol

from accelerator.core.protocols import Request, Response
from accelerator.engine.indexed_storage import IndexedStorage
from accelerator.engine.meta import MetaStore
from accelerator.engine.stream_iterators import IteratorCodec
from accelerator.engine.stream_state import StreamState
from accelerator.engine.tables import TableRegistry
from accelerator.engine.ttl import TtlSettings

__all__ = ["Engine", "Handler"]


class Engine(Protocol):
    """The engine's parts a handler reads and writes through."""

    storage: IndexedStorage
    tables: TableRegistry
    meta: MetaStore
    ttl: TtlSettings
    streams: StreamState
    iterators: IteratorCodec

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run background work until it ends or the engine closes."""


Handler = Callable[[Engine, Request], Awaitable[Response]]
