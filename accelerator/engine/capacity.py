"""ConsumedCapacity, computed as DynamoDB bills it, returned when ReturnConsumedCapacity asks for it.

A read costs one unit per 4 KB of item (rounded up; half for an eventually consistent read; a Query or
Scan rounds the page's total size once); a write costs one unit per 1 KB of the larger of the old and
new item; a transaction costs twice as much.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from contextvars import ContextVar
from typing import Any

import orjson

from accelerator.core.guard import quietly
from accelerator.core.values import Item, item_size

__all__ = ["stored_size", "read_units", "write_units", "consumed", "merge", "metering", "charge", "charge_indexes",
           "metered", "Usage"]

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


Usage = dict[str, float]
"""One table's charges: ``""`` the table itself, ``"G<name>"`` / ``"L<name>"`` a global / local index."""

_MEMBERS = {"G": "GlobalSecondaryIndexes", "L": "LocalSecondaryIndexes"}


def consumed(req: dict[str, Any], table: str, usage: Usage) -> dict[str, Any] | None:
    """The ConsumedCapacity member for one table, or None when the request did not ask for it.

    CapacityUnits is the total of the table and its indexes; INDEXES also breaks it down.
    """
    mode = req.get("ReturnConsumedCapacity")
    if mode not in ("TOTAL", "INDEXES"):
        return None
    out: dict[str, Any] = {"TableName": table, "CapacityUnits": sum(usage.values())}
    if mode == "INDEXES":
        out["Table"] = {"CapacityUnits": usage.get("", 0.0)}
        for key, units in usage.items():
            if key:
                out.setdefault(_MEMBERS[key[0]], {})[key[1:]] = {"CapacityUnits": units}
    return out


def merge(req: dict[str, Any], per_table: dict[str, Usage]) -> list[dict[str, Any]] | None:
    """ConsumedCapacity list for a multi-table operation (batches, transactions)."""
    if req.get("ReturnConsumedCapacity") not in ("TOTAL", "INDEXES"):
        return None
    return [c for table, usage in per_table.items() if (c := consumed(req, table, usage)) is not None]


_USAGE: ContextVar[dict[str, Usage] | None] = ContextVar("capacity_usage", default=None)


def metering() -> bool:
    """Whether the running request asked for ConsumedCapacity (only then are sizes computed)."""
    return _USAGE.get() is not None


def charge(table: str, units: float, index: str | None = None, is_global: bool = True) -> None:
    """Add units to the table's own charge, or to one of its indexes'."""
    usage = _USAGE.get()
    if usage is not None:
        parts = usage.setdefault(table, {})
        key = "" if index is None else ("G" if is_global else "L") + index
        parts[key] = parts.get(key, 0.0) + units


def charge_indexes(table: str, indexes: Iterable[Any], old: Item | None, new: Item | None, factor: int = 1) -> None:
    """Charge a write's index upkeep as DynamoDB does: an entry added or removed is one write of its projected
    size, a moved entry (its index key changed) two, a changed projection one, an unchanged entry none."""
    for index in indexes:
        before = index.composite(old) if old else None
        after = index.composite(new) if new else None
        if before is None and after is None:
            continue
        old_entry = index.project(old) if before is not None and old else None
        new_entry = index.project(new) if after is not None and new else None
        if before == after and old_entry == new_entry:
            continue
        units = 0.0
        if old_entry is not None and (new_entry is None or before != after):
            units += write_units(item_size(old_entry))
        if new_entry is not None:
            units += write_units(item_size(new_entry))
        charge(table, factor * units, index.name, index.is_global)


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


def _attach(operation: str, req: dict[str, Any], usage: dict[str, Usage], response: dict[str, Any]) -> None:
    if operation in _MULTI:
        response["ConsumedCapacity"] = merge(req, usage) or []
    else:
        table = req.get("TableName", "")
        response["ConsumedCapacity"] = consumed(req, table, usage.get(table, {}))
