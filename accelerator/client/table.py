"""The high-level table API on plain Python values, like boto3's resource ``Table``.

Values are converted once per call: Item, Key, ExclusiveStartKey and ExpressionAttributeValues on the way in;
Item, Items, Attributes and LastEvaluatedKey on the way out. Expressions may be strings or conditions
(``accelerator.client.conditions``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

import orjson

from .conditions import Condition, build_expression
from .retry import RetryPolicy
from .types import deserialize_item, serialize_item

__all__ = ["AsyncBatchWriter", "AsyncTable", "BatchWriter", "Table"]

_EXPRESSIONS = ("KeyConditionExpression", "FilterExpression", "ConditionExpression")
_IN_MAPS = ("Item", "Key", "ExclusiveStartKey", "ExpressionAttributeValues")
_OUT_MAPS = ("Item", "Attributes", "LastEvaluatedKey")
_UNPROCESSED_BACKOFF = RetryPolicy(base=0.05, cap=1.0)


def prepare(table_name: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The low-level request for a table call with plain values."""
    params = dict(kwargs)
    params["TableName"] = table_name
    if any(isinstance(params.get(key), Condition) for key in _EXPRESSIONS):
        names = dict(params.get("ExpressionAttributeNames") or {})
        values = dict(params.get("ExpressionAttributeValues") or {})
        for key in _EXPRESSIONS:
            cond = params.get(key)
            if isinstance(cond, Condition):
                params[key] = build_expression(cond, names, values)
        if names:
            params["ExpressionAttributeNames"] = names
        if values:
            params["ExpressionAttributeValues"] = values
    for key in _IN_MAPS:
        value = params.get(key)
        if value is not None:
            params[key] = serialize_item(value)
    return params


def result(resp: dict[str, Any]) -> dict[str, Any]:
    """A low-level answer with its items turned into plain values, in place."""
    for key in _OUT_MAPS:
        value = resp.get(key)
        if value is not None:
            resp[key] = deserialize_item(value)
    items = resp.get("Items")
    if items is not None:
        resp["Items"] = [deserialize_item(item) for item in items]
    return resp


class Table:
    """``client.Table(name)``: get/put/update/delete/query/scan on plain values, and a batch writer."""

    def __init__(self, client: Any, name: str) -> None:
        self._client = client
        self.name = self.table_name = name

    def __repr__(self) -> str:
        return f"Table({self.name!r})"

    def get_item(self, **kwargs: Any) -> dict[str, Any]:
        return result(self._client.get_item(**prepare(self.name, kwargs)))

    def put_item(self, **kwargs: Any) -> dict[str, Any]:
        return result(self._client.put_item(**prepare(self.name, kwargs)))

    def update_item(self, **kwargs: Any) -> dict[str, Any]:
        return result(self._client.update_item(**prepare(self.name, kwargs)))

    def delete_item(self, **kwargs: Any) -> dict[str, Any]:
        return result(self._client.delete_item(**prepare(self.name, kwargs)))

    def query(self, **kwargs: Any) -> dict[str, Any]:
        return result(self._client.query(**prepare(self.name, kwargs)))

    def scan(self, **kwargs: Any) -> dict[str, Any]:
        return result(self._client.scan(**prepare(self.name, kwargs)))

    def query_items(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        """Every item the query matches, over all pages."""
        for page in self._client.get_paginator("query").paginate(**prepare(self.name, kwargs)):
            for item in page.get("Items", ()):
                yield deserialize_item(item)

    def scan_items(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        """Every item the scan returns, over all pages."""
        for page in self._client.get_paginator("scan").paginate(**prepare(self.name, kwargs)):
            for item in page.get("Items", ()):
                yield deserialize_item(item)

    def batch_writer(
        self, overwrite_by_pkeys: Sequence[str] | None = None, flush_amount: int = 25
    ) -> BatchWriter:
        """A context manager that sends puts and deletes 25 at a time and resends what comes back unprocessed."""
        return BatchWriter(self._client, self.name, flush_amount, overwrite_by_pkeys)


class AsyncTable:
    """The asyncio twin of ``Table``: the same methods, awaited."""

    def __init__(self, client: Any, name: str) -> None:
        self._client = client
        self.name = self.table_name = name

    def __repr__(self) -> str:
        return f"AsyncTable({self.name!r})"

    async def get_item(self, **kwargs: Any) -> dict[str, Any]:
        return result(await self._client.get_item(**prepare(self.name, kwargs)))

    async def put_item(self, **kwargs: Any) -> dict[str, Any]:
        return result(await self._client.put_item(**prepare(self.name, kwargs)))

    async def update_item(self, **kwargs: Any) -> dict[str, Any]:
        return result(await self._client.update_item(**prepare(self.name, kwargs)))

    async def delete_item(self, **kwargs: Any) -> dict[str, Any]:
        return result(await self._client.delete_item(**prepare(self.name, kwargs)))

    async def query(self, **kwargs: Any) -> dict[str, Any]:
        return result(await self._client.query(**prepare(self.name, kwargs)))

    async def scan(self, **kwargs: Any) -> dict[str, Any]:
        return result(await self._client.scan(**prepare(self.name, kwargs)))

    async def query_items(self, **kwargs: Any) -> AsyncIterator[dict[str, Any]]:
        async for page in self._client.get_paginator("query").paginate(**prepare(self.name, kwargs)):
            for item in page.get("Items", ()):
                yield deserialize_item(item)

    async def scan_items(self, **kwargs: Any) -> AsyncIterator[dict[str, Any]]:
        async for page in self._client.get_paginator("scan").paginate(**prepare(self.name, kwargs)):
            for item in page.get("Items", ()):
                yield deserialize_item(item)

    def batch_writer(
        self, overwrite_by_pkeys: Sequence[str] | None = None, flush_amount: int = 25
    ) -> AsyncBatchWriter:
        return AsyncBatchWriter(self._client, self.name, flush_amount, overwrite_by_pkeys)


class _Buffer:
    """The pending requests of a batch writer, deduplicated by primary key if asked."""

    max_rounds = 30  # consecutive answers that left everything unprocessed before giving up

    def __init__(self, table_name: str, flush_amount: int, overwrite_by_pkeys: Sequence[str] | None) -> None:
        if not 1 <= flush_amount <= 25:
            raise ValueError("flush_amount must be between 1 and 25")
        self.table_name = table_name
        self.flush_amount = flush_amount
        self.pkeys = tuple(overwrite_by_pkeys or ())
        self.requests: list[dict[str, Any]] = []
        self.stalled = 0

    def add(self, request: dict[str, Any]) -> None:
        if self.pkeys:
            key = self._key(self._source(request))
            self.requests = [r for r in self.requests if self._key(self._source(r)) != key]
        self.requests.append(request)

    def _key(self, source: dict[str, Any]) -> bytes:
        try:
            return orjson.dumps([source[k] for k in self.pkeys], default=repr)
        except KeyError as exc:
            raise ValueError(f"item lacks the key attribute {exc.args[0]!r}") from None

    @staticmethod
    def _source(request: dict[str, Any]) -> dict[str, Any]:
        put = request.get("PutRequest")
        return put["Item"] if put is not None else request["DeleteRequest"]["Key"]

    def take(self) -> dict[str, Any]:
        batch, self.requests = self.requests[: self.flush_amount], self.requests[self.flush_amount :]
        return {"RequestItems": {self.table_name: batch}}

    def returned(self, resp: dict[str, Any], sent: int) -> float:
        """Put back what came back unprocessed; the seconds to wait before the next batch."""
        unprocessed = (resp.get("UnprocessedItems") or {}).get(self.table_name) or []
        self.requests.extend(unprocessed)
        if not unprocessed:
            self.stalled = 0
            return 0.0
        self.stalled = self.stalled + 1 if len(unprocessed) >= sent else 0
        if self.stalled > self.max_rounds:
            raise RuntimeError(f"batch writes to {self.table_name} made no progress in {self.max_rounds} tries")
        return _UNPROCESSED_BACKOFF.backoff(min(self.stalled, 8))


class BatchWriter:
    """``with table.batch_writer() as batch: batch.put_item(Item=...)``; flushes the rest on exit."""

    def __init__(
        self, client: Any, table_name: str, flush_amount: int = 25, overwrite_by_pkeys: Sequence[str] | None = None
    ) -> None:
        self._client = client
        self._buffer = _Buffer(table_name, flush_amount, overwrite_by_pkeys)

    def put_item(self, Item: dict[str, Any]) -> None:  # noqa: N803 - boto3's argument name
        self._buffer.add({"PutRequest": {"Item": serialize_item(Item)}})
        self._flush_full()

    def delete_item(self, Key: dict[str, Any]) -> None:  # noqa: N803
        self._buffer.add({"DeleteRequest": {"Key": serialize_item(Key)}})
        self._flush_full()

    def _flush_full(self) -> None:
        while len(self._buffer.requests) >= self._buffer.flush_amount:
            self._send()

    def _send(self) -> None:
        request = self._buffer.take()
        sent = len(request["RequestItems"][self._buffer.table_name])
        delay = self._buffer.returned(self._client.batch_write_item(**request), sent)
        if delay:
            time.sleep(delay)

    def flush(self) -> None:
        """Send everything buffered, resending unprocessed items until none are left."""
        while self._buffer.requests:
            self._send()

    def __enter__(self) -> BatchWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.flush()


class AsyncBatchWriter:
    """``async with table.batch_writer() as batch: await batch.put_item(Item=...)``."""

    def __init__(
        self, client: Any, table_name: str, flush_amount: int = 25, overwrite_by_pkeys: Sequence[str] | None = None
    ) -> None:
        self._client = client
        self._buffer = _Buffer(table_name, flush_amount, overwrite_by_pkeys)

    async def put_item(self, Item: dict[str, Any]) -> None:  # noqa: N803
        self._buffer.add({"PutRequest": {"Item": serialize_item(Item)}})
        await self._flush_full()

    async def delete_item(self, Key: dict[str, Any]) -> None:  # noqa: N803
        self._buffer.add({"DeleteRequest": {"Key": serialize_item(Key)}})
        await self._flush_full()

    async def _flush_full(self) -> None:
        while len(self._buffer.requests) >= self._buffer.flush_amount:
            await self._send()

    async def _send(self) -> None:
        request = self._buffer.take()
        sent = len(request["RequestItems"][self._buffer.table_name])
        delay = self._buffer.returned(await self._client.batch_write_item(**request), sent)
        if delay:
            await asyncio.sleep(delay)

    async def flush(self) -> None:
        while self._buffer.requests:
            await self._send()

    async def __aenter__(self) -> AsyncBatchWriter:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.flush()
