"""The operation layer: X-Amz-Target routing, request shapes, and the wire form of replies and errors."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from accelerator.api import backups, batch, items, query, streams, tables, transact
from accelerator.api.blobs import check_binary
from accelerator.api.shapes import Shape, validate
from accelerator.api.table_arns import names_for_table_arns
from accelerator.core.context import CACHE_STATUS, HIT, NONE
from accelerator.core.errors import (
    DynamoError,
    InternalServerError,
    SerializationException,
    UnknownOperationException,
)
from accelerator.core.protocols import Store
from accelerator.metrics import Metrics
from accelerator.policy import Enforcer

__all__ = ["Router", "TARGET_PREFIX", "SHAPES", "LOCAL_SHAPES"]

log = logging.getLogger("accelerator.api")

TARGET_PREFIX = b"DynamoDB_20120810."
_JSON = b"application/x-amz-json-1.0"
_CACHE_HEADERS = {b"hit": b"x-accelerator-cache: hit\r\n", b"miss": b"x-accelerator-cache: miss\r\n",
                  b"bypass": b"x-accelerator-cache: bypass\r\n", NONE: b""}
_CACHE_LABELS = {b"hit": "hit", b"miss": "miss", b"bypass": "bypass", NONE: ""}

SHAPES: dict[str, Shape] = {**tables.SHAPES, **items.SHAPES, **query.SHAPES, **batch.SHAPES, **transact.SHAPES,
                           **backups.SHAPES}
LOCAL_SHAPES: dict[str, Shape] = {"DescribeEndpoints": Shape({})}
"""Operations the router answers itself: they describe this server, not the store."""

Reply = tuple[int, bytes, bytes, bytes]
Call = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]
_ENDPOINT_CACHE_MINUTES = 1440
_SCHEMA_CHANGES = frozenset(("CreateTable", "DeleteTable", "UpdateTable"))
_GET_ITEM = TARGET_PREFIX + b"GetItem"
_EMPTY_REPLIES = frozenset(("TagResource", "UntagResource"))  # DynamoDB answers these with no body at all


def _parse_body(body: bytes) -> dict[str, Any]:
    """The request object, or DynamoDB's SerializationException for a body that is not one."""
    try:
        request: Any = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise SerializationException() from None  # DynamoDB sends the type alone for unparsable JSON
    if isinstance(request, dict):
        return request
    if request is None:  # a null input is an empty one
        return {}
    if isinstance(request, list):
        raise SerializationException("Start of list found where not expected")
    raise SerializationException("Expected null")


class Router:
    """Routes a target to its operation: shape check, then the store, then the reply."""

    def __init__(self, store: Store, metrics: Metrics | None = None, address: str = "localhost:8000",
                 enforcer: Enforcer | None = None) -> None:
        self.store = store
        self.enforcer = enforcer
        """Per-key policies, checked after the shape and before the store (so before the cache)."""
        self.metrics = metrics or Metrics()
        self.address = address
        """host:port clients reach this server at, as DescribeEndpoints reports it."""
        self.routes: dict[bytes, tuple[str, Shape, Call]] = {
            TARGET_PREFIX + name.encode(): (name, shape, store.call) for name, shape in SHAPES.items()
        }
        self.routes.update({streams.TARGET_PREFIX + name.encode(): (name, shape, store.call)
                            for name, shape in streams.SHAPES.items()})
        self.replies: Any = getattr(store, "replies", None)
        """The cache's serialised GetItem hits (accelerator/cache/replies.py), when the store is a cache."""
        self.routes[TARGET_PREFIX + b"DescribeEndpoints"] = ("DescribeEndpoints", LOCAL_SHAPES["DescribeEndpoints"],
                                                            self._describe_endpoints)

    async def _describe_endpoints(self, name: str, request: dict[str, Any]) -> dict[str, Any]:
        return {"Endpoints": [{"Address": self.address, "CachePeriodInMinutes": _ENDPOINT_CACHE_MINUTES}]}

    def error_reply(self, exc: DynamoError) -> Reply:
        return exc.status, _JSON, b"", orjson.dumps(exc.to_wire())

    async def handle(self, target: bytes, body: bytes) -> Reply:
        started = time.perf_counter()
        replies = self.replies
        if target == _GET_ITEM and replies is not None:
            enforcer = self.enforcer
            cached = replies.get(body) if enforcer is None else replies.get(body, enforcer.allowed_get_item)
            if cached is not None:  # this very body was a hit and its cache entry still is the live one
                self.metrics.observe("GetItem", "hit", time.perf_counter() - started)
                return 200, _JSON, _CACHE_HEADERS[HIT], cached
        route = self.routes.get(target)
        if route is None:
            self.metrics.error("Unknown", "UnknownOperationException")
            return self.error_reply(UnknownOperationException(""))
        name, shape, call = route
        CACHE_STATUS.set(NONE)
        try:
            request = _parse_body(body)
            check_binary(name, body, request)
            names_for_table_arns(request)
            validate(shape, request)
            enforcer = self.enforcer
            if enforcer is not None:
                pending = enforcer.authorize(name, request)  # synchronous unless a key schema must be learned
                if pending is not None:
                    await pending
                if name in _SCHEMA_CHANGES:
                    enforcer.forget(request.get("TableName"))
            response = await call(name, request)
            if enforcer is not None and name in _SCHEMA_CHANGES:
                enforcer.forget(request.get("TableName"))
            reply_body = orjson.dumps(response) if name not in _EMPTY_REPLIES else b""
            status = CACHE_STATUS.get()
            if status == HIT and replies is not None and target == _GET_ITEM:
                replies.remember(body, reply_body, request.get("TableName"))
            reply = (200, _JSON, _CACHE_HEADERS[status], reply_body)
        except DynamoError as exc:
            self.metrics.error(name, exc.type_name)
            reply = self.error_reply(exc)
        except Exception:  # a bug below: answered 500 like DynamoDB's own failures, and counted as one
            log.exception("unhandled error in %s", name)
            self.metrics.error(name, "InternalServerError")
            reply = self.error_reply(InternalServerError("Internal server error"))
        self.metrics.observe(name, _CACHE_LABELS[CACHE_STATUS.get()], time.perf_counter() - started)
        return reply
