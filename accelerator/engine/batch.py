"""BatchGetItem and BatchWriteItem: many independent single-item reads or writes in one call."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from accelerator.core.errors import DynamoError, ValidationException
from accelerator.core.guard import quietly
from accelerator.core.protocols import Blind, KeyRef, Request, Response
from accelerator.core.values import item_size, validate_item
from accelerator.engine import capacity
from accelerator.engine.handler import Engine
from accelerator.engine.indexes import indexes_of
from accelerator.expressions import plan

__all__ = ["batch_get_item", "batch_write_item", "MAX_GET_KEYS", "MAX_WRITES"]

MAX_GET_KEYS = 100
MAX_WRITES = 25
_GET_BYTES = 16 * 1024 * 1024
_DUPLICATES = "Provided list of item keys contains duplicates"


async def batch_get_item(engine: Engine, req: Request) -> Response:
    request_items: dict[str, Any] = req["RequestItems"]
    for name, spec in request_items.items():  # the member constraint on one table's keys comes first
        if len(spec.get("Keys") or ()) > MAX_GET_KEYS:
            raise ValidationException(
                f"1 validation error detected: Value at 'requestItems.{name}.member.keys' failed to satisfy "
                f"constraint: Member must have length less than or equal to {MAX_GET_KEYS}")
    total = sum(len(spec.get("Keys") or ()) for spec in request_items.values())
    if total > MAX_GET_KEYS:
        raise ValidationException("Too many items requested for the BatchGetItem call")
    plans = []
    for name, spec in request_items.items():
        keys = spec.get("Keys")
        if not isinstance(keys, list) or not keys:
            raise ValidationException(
                f"1 validation error detected: Value '{keys}' at 'requestItems.{name}.member.keys' failed to "
                "satisfy constraint: Member must have length greater than or equal to 1")
        table = await engine.tables.active(name)
        ctx = plan.Context(spec, "BatchGetItem")
        projection = plan.projection(spec, ctx)
        ctx.finish()
        refs = [KeyRef(table.name, *table.key.key_of_request(key)) for key in keys]
        if len(set(refs)) != len(refs):
            raise ValidationException(_DUPLICATES)
        plans.append((name, keys, refs, projection))
    responses: dict[str, list[Any]] = {}
    unprocessed: dict[str, Any] = {}
    size = 0
    for name, keys, refs, projection in plans:
        out = responses.setdefault(name, [])
        values = await engine.storage.get_many(refs)
        for i, data in enumerate(values):
            if size >= _GET_BYTES:
                spec = dict(request_items[name])
                spec["Keys"] = keys[i:]
                unprocessed[name] = spec
                break
            if data is None:  # an absent item is still a read, as GetItem's: the table has its entry
                if capacity.metering():
                    capacity.charge(name, capacity.read_units(0, bool(request_items[name].get("ConsistentRead"))))
                continue
            item = orjson.loads(data)
            item_bytes = item_size(item)
            size += item_bytes
            if capacity.metering():
                capacity.charge(name, capacity.read_units(item_bytes, bool(request_items[name].get("ConsistentRead"))))
            out.append(projection(item) if projection is not None else item)
    return {"Responses": responses, "UnprocessedKeys": unprocessed}


def _parse_write(table: Any, request: Any) -> tuple[KeyRef, bytes | None]:
    if not isinstance(request, dict) or len(request) != 1:
        raise ValidationException(
            "Invalid BatchWriteItem request: a WriteRequest must have exactly one of PutRequest or DeleteRequest"
            if isinstance(request, dict) and len(request) > 1 else
            "1 validation error detected: Value null at 'requestItems.member.writeRequest' failed to satisfy "
            "constraint: Member must not be null")
    (kind, body), = request.items()
    if kind == "PutRequest" and isinstance(body, dict) and isinstance(body.get("Item"), dict):
        item = body["Item"]
        validate_item(item)
        pk, sk = table.key.key_of_item(item)
        for index in indexes_of(table):  # a bad index key rejects the whole batch before anything is written
            index.composite(item)
        return KeyRef(table.name, pk, sk), orjson.dumps(item)
    if kind == "DeleteRequest" and isinstance(body, dict) and isinstance(body.get("Key"), dict):
        pk, sk = table.key.key_of_request(body["Key"])
        return KeyRef(table.name, pk, sk), None
    raise ValidationException("Invalid BatchWriteItem request: each request must be a PutRequest with an Item "
                              "or a DeleteRequest with a Key")


async def batch_write_item(engine: Engine, req: Request) -> Response:
    request_items: dict[str, list[Any]] = req["RequestItems"]
    total = sum(len(v) for v in request_items.values())
    if total > MAX_WRITES:
        raise ValidationException(
            f"1 validation error detected: Value '{{{', '.join(request_items)}}}' at 'requestItems' failed to "
            f"satisfy constraint: Map value must satisfy constraint: [Member must have length less than or equal "
            f"to {MAX_WRITES}, Member must have length greater than or equal to 1]")
    writes: list[tuple[str, Any, KeyRef, bytes | None]] = []
    tables: dict[str, Any] = {}
    for name, requests in request_items.items():
        if not requests:
            raise ValidationException(
                f"1 validation error detected: Value '[]' at 'requestItems.{name}.member' failed to satisfy "
                "constraint: Member must have length greater than or equal to 1")
        table = tables[name] = await engine.tables.active(name)
        for request in requests:
            ref, data = _parse_write(table, request)
            writes.append((name, request, ref, data))
    if len({w[2] for w in writes}) != len(writes):
        raise ValidationException(_DUPLICATES)

    async def one(name: str, ref: KeyRef, data: bytes | None) -> None:
        olds = await engine.storage.transact([ref], Blind((data,)))
        if capacity.metering():  # after the commit: a failure here must not fail the request
            quietly("batch write capacity", _charge, tables[name], data, olds[0])

    results = await asyncio.gather(*(one(name, ref, data) for name, _, ref, data in writes), return_exceptions=True)
    failures = [(w, r) for w, r in zip(writes, results, strict=True) if isinstance(r, BaseException)]
    if failures and len(failures) == len(writes):
        raise failures[0][1]
    unprocessed: dict[str, list[Any]] = {}
    for (name, request, _, _), exc in failures:
        if not isinstance(exc, DynamoError) or not exc.retryable:
            raise exc  # only a retryable failure leaves the request for the client to send again
        unprocessed.setdefault(name, []).append(request)
    return {"UnprocessedItems": unprocessed}


def _charge(table: Any, new: bytes | None, old: bytes | None) -> None:
    capacity.charge(table.name, capacity.write_units(max(capacity.stored_size(new), capacity.stored_size(old))))
    old_item = orjson.loads(old) if old is not None else None
    new_item = orjson.loads(new) if new is not None else None
    capacity.charge_indexes(table.name, indexes_of(table), old_item, new_item)
