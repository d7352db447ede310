"""Query and Scan: key ranges, pagination (Limit, 1 MB pages, start keys), filters, projection, Select."""

from __future__ import annotations

from typing import Any

import orjson

from accelerator.core.errors import ValidationException
from accelerator.core.protocols import Bound, Request, Response
from accelerator.core.tables import TableDef
from accelerator.core.values import Item, item_size
from accelerator.engine import plan

__all__ = ["query", "scan"]

_PAGE_BYTES = 1024 * 1024
_CHUNK = 256


def _select(req: Request, projection: Any) -> str:
    select = req.get("Select")
    if select is None:
        return "SPECIFIC_ATTRIBUTES" if projection is not None else "ALL_ATTRIBUTES"
    if select == "SPECIFIC_ATTRIBUTES" and projection is None:
        raise ValidationException(
            "One or more parameter values were invalid: Select type SPECIFIC_ATTRIBUTES requires "
            "AttributesToGet or ProjectionExpression")
    if select != "SPECIFIC_ATTRIBUTES" and projection is not None:
        raise ValidationException(
            "One or more parameter values were invalid: Cannot specify the AttributesToGet or "
            "ProjectionExpression when choosing to get ALL_ATTRIBUTES or COUNT"
            if "AttributesToGet" in req else
            "Can only specify ProjectionExpression when Select is SPECIFIC_ATTRIBUTES")
    if select == "ALL_PROJECTED_ATTRIBUTES":
        raise ValidationException("ALL_PROJECTED_ATTRIBUTES can be used only when Querying using an IndexName")
    return str(select)


def _no_index(req: Request, table: TableDef) -> None:
    if "IndexName" in req:
        raise ValidationException(f"The table does not have the specified index: {req['IndexName']}")


def _start_key(req: Request, table: TableDef) -> tuple[bytes, bytes] | None:
    start = req.get("ExclusiveStartKey")
    if start is None:
        return None
    if set(start) != set(table.key.names):
        raise ValidationException("The provided starting key is invalid: The provided key element does not match the schema")
    return table.key.key_of_request(start)


class _Page:
    """Accumulates one response page: counts, the 1 MB budget, filter and projection."""

    __slots__ = ("items", "count", "scanned", "size", "last", "limit", "filter", "projection", "count_only")

    def __init__(self, req: Request, filt: Any, projection: Any, count_only: bool) -> None:
        self.items: list[Item] = []
        self.count = 0
        self.scanned = 0
        self.size = 0
        self.last: Item | None = None
        self.limit: int = req.get("Limit") or 1 << 62
        self.filter = filt
        self.projection = projection
        self.count_only = count_only

    def full(self) -> bool:
        return self.scanned >= self.limit or self.size >= _PAGE_BYTES

    def add(self, data: bytes) -> None:
        item = orjson.loads(data)
        self.scanned += 1
        self.size += item_size(item)
        self.last = item
        if self.filter is not None and not self.filter(item):
            return
        self.count += 1
        if not self.count_only:
            self.items.append(self.projection(item) if self.projection is not None else item)

    def response(self, table: TableDef, more: bool) -> Response:
        out: Response = {"Count": self.count, "ScannedCount": self.scanned}
        if not self.count_only:
            out["Items"] = self.items
        if more and self.last is not None:
            out["LastEvaluatedKey"] = table.key.key_item(self.last)
        return out


async def query(engine: Any, req: Request) -> Response:
    table = await engine.tables.get(req["TableName"])
    _no_index(req, table)
    ctx = plan.Context(req, "Query")
    cond = plan.key_condition(req, ctx, table.key)
    filt = plan.filter(req, ctx, "QueryFilter", table.key.names)
    projection = plan.projection(req, ctx)
    ctx.finish()
    select = _select(req, projection)
    pk = cond.hash_key
    lo = None if cond.lower is None else Bound(cond.lower, cond.lower_inclusive)
    hi = None if cond.upper is None else Bound(cond.upper, cond.upper_inclusive)
    start = _start_key(req, table)
    if start is not None and start[0] != pk:
        raise ValidationException("The provided starting key is outside query boundaries based on provided conditions")
    forward = req.get("ScanIndexForward", True)
    page = _Page(req, filt, projection, select == "COUNT")
    cursor = start[1] if start is not None else None
    while True:
        want = min(_CHUNK, page.limit - page.scanned)
        rows = await engine.storage.query(table.name, pk, lo=lo, hi=hi, forward=forward, start=cursor, limit=want)
        for _, data in rows:
            page.add(data)
            if page.full():
                return page.response(table, True)
        if len(rows) < want:
            return page.response(table, False)
        cursor = rows[-1][0]


async def scan(engine: Any, req: Request) -> Response:
    table = await engine.tables.get(req["TableName"])
    _no_index(req, table)
    ctx = plan.Context(req, "Scan")
    filt = plan.filter(req, ctx, "ScanFilter")
    projection = plan.projection(req, ctx)
    ctx.finish()
    select = _select(req, projection)
    segment, total = req.get("Segment", 0), req.get("TotalSegments", 1)
    cursor = _start_key(req, table)
    page = _Page(req, filt, projection, select == "COUNT")
    while True:
        want = min(_CHUNK, page.limit - page.scanned)
        rows = await engine.storage.scan(table.name, segment=segment, total_segments=total, start=cursor, limit=want)
        for _, _, data in rows:
            page.add(data)
            if page.full():
                return page.response(table, True)
        if len(rows) < want:
            return page.response(table, False)
        cursor = rows[-1][0], rows[-1][1]
