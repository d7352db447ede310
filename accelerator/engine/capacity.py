"""ConsumedCapacity, computed as DynamoDB bills it, returned when ReturnConsumedCapacity asks for it.

A read costs one unit per 4 KB of item (rounded up; half for an eventually consistent read; a Query or
Scan rounds the page's total size once); a write costs one unit per 1 KB of the larger of the old and
new item; a transaction costs twice as much.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any

import orjson

from accelerator.core.guard import quietly
from accelerator.core.values import item_size

__all__ = ["stored_size", "read_units", "write_units", "consumed", "merge", "metering", "charge", "metered"]

_READ_BLOCK = 4096
_WRITE_BLOCK = 1024


def stored_size(data: bytes | None) -> int:
    """DynamoDB's size of a stored item (0 for none); only computed when a request is metered."""
    return 0 if data is None else item_size(orjson.loads(data))


def read_units(size: int, consistent: bool) -> float:
    units = max(1, -(-size // _READ_BLOCK))
    return float(units) if consistent else units / 2


def write_units(size: int) -> float:
    return float(max(1, -(-size // _WRITE_BLOCK)))


def consumed(req: dict[str, Any], table: str, units: float) -> dict[str, Any] | None:
    """The ConsumedCapacity member for one table, or None when the request did not ask for it."""
    mode = req.get("ReturnConsumedCapacity")
    if mode not in ("TOTAL", "INDEXES"):
        return None
    out: dict[str, Any] = {"TableName": table, "CapacityUnits": units}
    if mode == "INDEXES":
        out["Table"] = {"CapacityUnits": units}
    return out


def merge(req: dict[str, Any], per_table: dict[str, float]) -> list[dict[str, Any]] | None:
    """ConsumedCapacity list for a multi-table operation (batches, transactions)."""
    if req.get("ReturnConsumedCapacity") not in ("TOTAL", "INDEXES"):
        return None
    return [c for table, units in per_table.items() if (c := consumed(req, table, units)) is not None]


_USAGE: ContextVar[dict[str, float] | None] = ContextVar("capacity_usage", default=None)


def metering() -> bool:
    """Whether the running request asked for ConsumedCapacity (only then are sizes computed)."""
    return _USAGE.get() is not None


def charge(table: str, units: float) -> None:
    usage = _USAGE.get()
    if usage is not None:
        usage[table] = usage.get(table, 0.0) + units


_MULTI = frozenset(("BatchGetItem", "BatchWriteItem", "TransactGetItems", "TransactWriteItems"))


async def metered(operation: str, req: dict[str, Any], run: Callable[[], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
    """Run an operation, collecting charges, and attach ConsumedCapacity to its response."""
    token = _USAGE.set({})
    try:
        response = await run()
        usage = _USAGE.get() or {}
    finally:
        _USAGE.reset(token)
    # The operation has committed: a failure to describe its capacity must not turn it into an error.
    quietly("capacity report", _attach, operation, req, usage, response)
    return response


def _attach(operation: str, req: dict[str, Any], usage: dict[str, float], response: dict[str, Any]) -> None:
    if operation in _MULTI:
        response["ConsumedCapacity"] = merge(req, usage) or []
    else:
        table = req.get("TableName", "")
        response["ConsumedCapacity"] = consumed(req, table, usage.get(table, 0.0))
