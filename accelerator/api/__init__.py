"""The operation layer: X-Amz-Target routing, request shapes, and the wire form of replies and errors."""

from __future__ import annotations

import time
from typing import Any

import orjson

from accelerator.api import batch, items, query, tables, transact
from accelerator.api.shapes import Shape, validate
from accelerator.core.context import CACHE_STATUS, NONE
from accelerator.core.errors import (
    DynamoError,
    SerializationException,
    UnknownOperationException,
)
from accelerator.core.protocols import Store
from accelerator.metrics import Metrics

__all__ = ["Router", "TARGET_PREFIX", "SHAPES"]

TARGET_PREFIX = b"DynamoDB_20120810."
_JSON = b"application/x-amz-json-1.0"
_CACHE_HEADERS = {b"hit": b"x-accelerator-cache: hit\r\n", b"miss": b"x-accelerator-cache: miss\r\n",
                  b"bypass": b"x-accelerator-cache: bypass\r\n", NONE: b""}

SHAPES: dict[str, Shape] = {**tables.SHAPES, **items.SHAPES, **query.SHAPES, **batch.SHAPES, **transact.SHAPES}

Reply = tuple[int, bytes, bytes, bytes]


class Router:
    """Routes a target to its operation: shape check, then the store, then the reply."""

    def __init__(self, store: Store, metrics: Metrics | None = None) -> None:
        self.store = store
        self.metrics = metrics or Metrics()
        self.routes: dict[bytes, tuple[str, Shape]] = {
            TARGET_PREFIX + name.encode(): (name, shape) for name, shape in SHAPES.items()
        }

    def error_reply(self, exc: DynamoError) -> Reply:
        return exc.status, _JSON, b"", orjson.dumps(exc.to_wire())

    async def handle(self, target: bytes, body: bytes) -> Reply:
        started = time.perf_counter()
        route = self.routes.get(target)
        if route is None:
            self.metrics.error("Unknown", "UnknownOperationException")
            return self.error_reply(UnknownOperationException(""))
        name, shape = route
        CACHE_STATUS.set(NONE)
        try:
            try:
                request: Any = orjson.loads(body)
            except orjson.JSONDecodeError:
                raise SerializationException("Start of structure or map found where not expected.") from None
            if not isinstance(request, dict):
                raise SerializationException("Start of structure or map found where not expected.")
            validate(shape, request)
            response = await self.store.call(name, request)
            reply = (200, _JSON, _CACHE_HEADERS[CACHE_STATUS.get()], orjson.dumps(response))
        except DynamoError as exc:
            self.metrics.error(name, exc.type_name)
            reply = self.error_reply(exc)
        self.metrics.observe(name, CACHE_STATUS.get().decode(), time.perf_counter() - started)
        return reply
