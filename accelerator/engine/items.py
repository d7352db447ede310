"""Single-item operations: GetItem, PutItem, DeleteItem, UpdateItem.

Every write is one call to the storage's atomic unit with a pure ``apply`` built here: it decodes the
old item, checks the condition, computes the new item and returns its bytes. The request's
expressions are parsed and bound before the unit starts, so ``apply`` only evaluates.
"""

from __future__ import annotations

from typing import Any

import orjson

from accelerator.core.errors import ConditionalCheckFailedException, ConditionFailed, ValidationException
from accelerator.core.guard import quietly
from accelerator.core.protocols import KEEP, Blind, KeyRef, Request, Response
from accelerator.core.tables import TableDef
from accelerator.core.values import MAX_ITEM_BYTES, Item, check_nesting, item_size, validate_item
from accelerator.engine import capacity
from accelerator.engine.handler import Engine
from accelerator.engine.indexes import indexes_of
from accelerator.expressions import plan

__all__ = ["get_item", "put_item", "delete_item", "update_item", "load", "check_condition", "return_values"]


def load(data: bytes | None) -> Item | None:
    return None if data is None else orjson.loads(data)


def check_condition(cond: plan.Condition | None, old: Item | None, on_fail_old: bool) -> None:
    """Raise ConditionFailed(old item or None) when ``cond`` does not hold for ``old``."""
    if cond is not None and not cond(old):
        raise ConditionFailed(old if on_fail_old else None)


def return_values(mode: str, old: Item | None, new: Item | None, updated: Any = None) -> Response:
    """The Attributes member for ReturnValues ``mode``."""
    if mode == "ALL_OLD":
        return {"Attributes": old} if old else {}
    if mode == "ALL_NEW":
        return {"Attributes": new} if new else {}
    if mode in ("UPDATED_OLD", "UPDATED_NEW"):
        source = old if mode == "UPDATED_OLD" else new
        if not source or updated is None:
            return {}
        attrs = updated(source)
        return {"Attributes": attrs} if attrs else {}
    return {}


async def get_item(engine: Engine, req: Request) -> Response:
    table = await engine.tables.active(req["TableName"])
    pk, sk = table.key.key_of_request(req["Key"])
    ctx = plan.Context(req, "GetItem")
    projection = plan.projection(req, ctx)
    ctx.finish()
    data = await engine.storage.get(table.name, pk, sk)
    if data is None:
        if capacity.metering():
            capacity.charge(table.name, capacity.read_units(0, bool(req.get("ConsistentRead"))))
        return {}
    item = orjson.loads(data)
    if capacity.metering():
        capacity.charge(table.name, capacity.read_units(item_size(item), bool(req.get("ConsistentRead"))))
    return {"Item": projection(item) if projection is not None else item}


def _charge_write(table: TableDef, old: Item | None, new: Item | None) -> None:
    if capacity.metering():  # after the commit: a failure here must not fail the request
        quietly("write capacity", _charge, table, old, new)


def _charge(table: TableDef, old: Item | None, new: Item | None) -> None:
    capacity.charge(table.name, capacity.write_units(max(item_size(old or {}), item_size(new or {}))))
    capacity.charge_indexes(table.name, indexes_of(table), old, new)


def _failed(exc: ConditionFailed) -> ConditionalCheckFailedException:
    return ConditionalCheckFailedException(item=exc.payload)


async def _replace(engine: Engine, req: Request, operation: str, key: tuple[bytes, bytes],
                   new: Item | None) -> Response:
    """PutItem (``new`` is the item) or DeleteItem (``new`` is None): conditional replace of one key."""
    table = await engine.tables.active(req["TableName"])
    ctx = plan.Context(req, operation)
    cond = plan.condition(req, ctx)
    ctx.finish()
    on_fail_old = req.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD"
    data = None if new is None else orjson.dumps(new)

    def apply(olds: list[bytes | None]) -> list[Any]:
        assert cond is not None
        check_condition(cond, load(olds[0]), on_fail_old)
        return [data]

    try:
        olds = await engine.storage.transact([KeyRef(table.name, *key)], apply if cond is not None else Blind((data,)))
    except ConditionFailed as exc:
        raise _failed(exc) from None
    old = load(olds[0])
    _charge_write(table, old, new)
    return return_values(req.get("ReturnValues", "NONE"), old, new)


async def put_item(engine: Engine, req: Request) -> Response:
    table = await engine.tables.active(req["TableName"])
    item = req["Item"]
    validate_item(item)
    return await _replace(engine, req, "PutItem", table.key.key_of_item(item), item)


async def delete_item(engine: Engine, req: Request) -> Response:
    table = await engine.tables.active(req["TableName"])
    return await _replace(engine, req, "DeleteItem", table.key.key_of_request(req["Key"]), None)


def updated_item(update: plan.Update, key: Item, old: Item | None) -> Item | None:
    """Apply an update to ``old`` (or to the bare key); None when there is nothing to write."""
    new = update.apply(old, key)
    if new is None:
        return None
    check_nesting(new)
    if item_size(new) > MAX_ITEM_BYTES:
        raise ValidationException("Item size to update has exceeded the maximum allowed size")
    return new


async def update_item(engine: Engine, req: Request) -> Response:
    table = await engine.tables.active(req["TableName"])
    key = req["Key"]
    pk, sk = table.key.key_of_request(key)
    ctx = plan.Context(req, "UpdateItem")
    cond = plan.condition(req, ctx)
    update = plan.update(req, ctx, table.key.names)
    ctx.finish()
    on_fail_old = req.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD"
    result: list[Item | None] = [None]

    def apply(olds: list[bytes | None]) -> list[Any]:
        old = load(olds[0])
        check_condition(cond, old, on_fail_old)
        new = updated_item(update, key, old)
        result[0] = new
        return [KEEP if new is None else orjson.dumps(new)]

    try:
        olds = await engine.storage.transact([KeyRef(table.name, pk, sk)], apply)
    except ConditionFailed as exc:
        raise _failed(exc) from None
    old = load(olds[0])
    _charge_write(table, old, result[0])
    return return_values(req.get("ReturnValues", "NONE"), old, result[0], update.updated)
