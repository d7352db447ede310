"""Query and Scan: key ranges, pagination (Limit, 1 MB pages, start keys), filters, projection, Select."""

from __future__ import annotations

from typing import Any

import orjson

from accelerator.core.errors import ValidationException
from accelerator.core.keys import partition_hash, segment_bounds
from accelerator.core.protocols import Bound, KeyRef, Request, Response
from accelerator.core.tables import TableDef
from accelerator.core.values import Item, item_size
from accelerator.engine import capacity
from accelerator.engine.handler import Engine
from accelerator.engine.indexes import IndexDef, entry_range, indexes_of
from accelerator.expressions import plan

__all__ = ["query", "scan"]

_PAGE_BYTES = 1024 * 1024
_CHUNK = 256


def _select(req: Request, projection: Any, index: IndexDef | None) -> str:
    select = req.get("Select")
    if select is None:
        if projection is not None:
            return "SPECIFIC_ATTRIBUTES"
        return "ALL_PROJECTED_ATTRIBUTES" if index is not None else "ALL_ATTRIBUTES"
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
    if select == "ALL_PROJECTED_ATTRIBUTES" and index is None:
        raise ValidationException("ALL_PROJECTED_ATTRIBUTES can be used only when Querying using an IndexName")
    if select == "ALL_ATTRIBUTES" and index is not None and index.projection != "ALL" and index.is_global:
        raise ValidationException(
            "One or more parameter values were invalid: Select type ALL_ATTRIBUTES is not supported for global "
            f"secondary index {index.name} because its projection type is not ALL")
    return str(select)


def _check_projected(index: IndexDef | None, projection: Any) -> None:
    """A global index cannot fetch from its table: asking it for attributes it does not project is an error."""
    if index is None or not index.is_global or index.projection == "ALL" or projection is None:
        return
    kept = {*index.key.names, *index.table_key.names, *index.non_key}
    missing = [name for name in plan.projected_names(projection) if name not in kept]
    if missing:
        raise ValidationException(f"One or more parameter values were invalid: Global secondary index {index.name} "
                                  f"does not project [{', '.join(missing)}]")


def _fetches_table(index: IndexDef | None, select: str, filt: Any) -> bool:
    """Whether index entries are completed from the table: ALL_ATTRIBUTES, or a local index asked for
    attributes (projection, filter) it may not hold, which DynamoDB fetches from the table."""
    if select == "ALL_ATTRIBUTES":
        return True
    return index is not None and not index.is_global and (select == "SPECIFIC_ATTRIBUTES" or filt is not None)


class _Source:
    """Where a Query or Scan reads: the table itself, or one of its indexes."""

    __slots__ = ("table", "index", "storage_name", "key", "fetch_table")

    def __init__(self, table: TableDef, req: Request) -> None:
        self.table = table
        self.fetch_table = False  # a local index with a partial projection asked for ALL_ATTRIBUTES
        self.index: IndexDef | None = None
        name = req.get("IndexName")
        if name is not None:
            for index in indexes_of(table):
                if index.name == name:
                    self.index = index
            if self.index is None:
                raise ValidationException(f"The table does not have the specified index: {name}")
            if self.index.status != "ACTIVE":
                raise ValidationException(f"Cannot read from backfilling global secondary index: {name}")
            if self.index.is_global and req.get("ConsistentRead"):
                raise ValidationException("Consistent reads are not supported on global secondary indexes")
        self.storage_name = self.index.storage_name if self.index is not None else table.name
        self.key = self.index.key if self.index is not None else table.key

    def start(self, req: Request) -> tuple[bytes, bytes] | None:
        start = req.get("ExclusiveStartKey")
        if start is None:
            return None
        if self.index is not None:
            return self.index.start_key(start)
        if set(start) != set(self.table.key.names):
            raise ValidationException(
                "The provided starting key is invalid: The provided key element does not match the schema")
        return self.table.key.key_of_request(start)

    def bounds(self, cond: Any) -> tuple[Bound | None, Bound | None]:
        if self.index is not None:
            if cond.op is None:  # no sort-key condition: the whole partition
                return None, None
            return entry_range(cond.prefix, cond.lower, cond.lower_inclusive, cond.upper, cond.upper_inclusive)
        lo = None if cond.lower is None else Bound(cond.lower, cond.lower_inclusive)
        hi = None if cond.upper is None else Bound(cond.upper, cond.upper_inclusive)
        return lo, hi

    def last_key(self, item: Item) -> Item:
        if self.index is not None:
            return self.index.last_key(item)
        return self.table.key.key_item(item)


class _Page:
    """Accumulates one response page: counts, the 1 MB budget, filter and projection."""

    __slots__ = ("items", "count", "scanned", "size", "last", "limit", "filter", "projection", "count_only",
                 "consistent", "single")

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
        self.consistent = bool(req.get("ConsistentRead"))
        self.single = False  # at most one item can match: never a LastEvaluatedKey

    def full(self) -> bool:
        return self.scanned >= self.limit or self.size >= _PAGE_BYTES

    def add(self, item: Item) -> None:
        self.scanned += 1
        self.size += item_size(item)
        self.last = item
        if self.filter is not None and not self.filter(item):
            return
        self.count += 1
        if not self.count_only:
            self.items.append(self.projection(item) if self.projection is not None else item)

    def response(self, source: _Source, more: bool) -> Response:
        if capacity.metering():
            units = capacity.read_units(self.size, self.consistent)
            if source.index is None:
                capacity.charge(source.table.name, units)
            else:  # reported under the index that was read
                capacity.charge(source.table.name, units, source.index.name, source.index.is_global)
        out: Response = {"Count": self.count, "ScannedCount": self.scanned}
        if not self.count_only:
            out["Items"] = self.items
        if more and self.last is not None and not self.single:
            out["LastEvaluatedKey"] = source.last_key(self.last)
        return out


async def _full_items(engine: Engine, source: _Source, rows: list[bytes]) -> list[Item]:
    """Index entries as items; a local index with a partial projection reads the table for ALL_ATTRIBUTES."""
    entries = [orjson.loads(data) for data in rows]
    if source.index is None or source.index.projection == "ALL" or not source.fetch_table:
        return entries
    table = source.table
    refs = [KeyRef(table.name, *table.key.key_of_item(e)) for e in entries]
    values = await engine.storage.get_many(refs)
    return [orjson.loads(v) if v is not None else e for v, e in zip(values, entries, strict=True)]


async def _run(engine: Engine, source: _Source, page: _Page, fetch: Any) -> Response:
    while True:
        want = min(_CHUNK, page.limit - page.scanned)
        rows, cursor_of = await fetch(want)
        items = await _full_items(engine, source, rows)
        for item in items:
            page.add(item)
            if page.full():
                return page.response(source, True)
        if len(rows) < want:
            return page.response(source, False)
        cursor_of()


def _within(key: bytes, lo: Bound | None, hi: Bound | None) -> bool:
    if lo is not None and (key < lo.key or (key == lo.key and not lo.inclusive)):
        return False
    return hi is None or key < hi.key or (key == hi.key and hi.inclusive)


def _check_start(source: _Source, cond: Any, start: tuple[bytes, bytes], pk: bytes, lo: Bound | None,
                 hi: Bound | None) -> None:
    """DynamoDB's checks of a Query's ExclusiveStartKey against its key condition, in its order and words."""
    if source.index is None and source.table.key.range_name is None:
        raise ValidationException("The query can return at most one row and cannot be restarted")
    if cond.op is not None:
        if not _within(start[1], lo, hi):
            raise ValidationException("The provided starting key does not match the range key predicate")
        if start[0] != pk:  # sic: DynamoDB's words for a start key in another partition under a sort-key condition
            raise ValidationException("The query can return at most one row and cannot be restarted")
    elif start[0] != pk:
        raise ValidationException("The provided starting key is outside query boundaries based on provided conditions")


async def query(engine: Engine, req: Request) -> Response:
    table = await engine.tables.active(req["TableName"])
    source = _Source(table, req)
    ctx = plan.Context(req, "Query")
    cond = plan.key_condition(req, ctx, source.key)
    filt = plan.filter(req, ctx, "QueryFilter", source.key.names)
    projection = plan.projection(req, ctx)
    ctx.finish()
    select = _select(req, projection, source.index)
    _check_projected(source.index, projection)
    source.fetch_table = _fetches_table(source.index, select, filt)
    if source.fetch_table and select == "ALL_PROJECTED_ATTRIBUTES" and source.index is not None:
        projection = source.index.project  # fetched for the filter; return only what the index holds
    pk = cond.hash_key
    lo, hi = source.bounds(cond)
    start = source.start(req)
    if start is not None:
        _check_start(source, cond, start, pk, lo, hi)
    forward = req.get("ScanIndexForward", True)
    page = _Page(req, filt, projection, select == "COUNT")
    if source.index is None and table.key.range_name is None:
        page.single = True  # the key condition names a whole primary key: there is no next page
    cursor: list[bytes | None] = [start[1] if start is not None else None]

    async def fetch(want: int) -> tuple[list[bytes], Any]:
        rows = await engine.storage.query(source.storage_name, pk, lo=lo, hi=hi, forward=forward, start=cursor[0],
                                          limit=want)
        return [v for _, v in rows], lambda: cursor.__setitem__(0, rows[-1][0])

    return await _run(engine, source, page, fetch)


async def scan(engine: Engine, req: Request) -> Response:
    table = await engine.tables.active(req["TableName"])
    source = _Source(table, req)
    ctx = plan.Context(req, "Scan")
    filt = plan.filter(req, ctx, "ScanFilter")
    projection = plan.projection(req, ctx)
    ctx.finish()
    select = _select(req, projection, source.index)
    _check_projected(source.index, projection)
    source.fetch_table = _fetches_table(source.index, select, filt)
    if source.fetch_table and select == "ALL_PROJECTED_ATTRIBUTES" and source.index is not None:
        projection = source.index.project  # fetched for the filter; return only what the index holds
    segment, total = req.get("Segment", 0), req.get("TotalSegments", 1)
    cursor: list[tuple[bytes, bytes] | None] = [source.start(req)]
    if cursor[0] is not None and total > 1:
        lo, hi = segment_bounds(segment, total)
        if not lo <= partition_hash(cursor[0][0]) < hi:
            raise ValidationException("The provided Exclusive start key does not map to the provided Segment and "
                                      "TotalSegments values.")
    page = _Page(req, filt, projection, select == "COUNT")

    async def fetch(want: int) -> tuple[list[bytes], Any]:
        rows = await engine.storage.scan(source.storage_name, segment=segment, total_segments=total,
                                         start=cursor[0], limit=want)
        return [v for _, _, v in rows], lambda: cursor.__setitem__(0, (rows[-1][0], rows[-1][1]))

    return await _run(engine, source, page, fetch)
