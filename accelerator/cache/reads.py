"""Reads through the cache: GetItem and BatchGetItem on the item cache, Query and Scan on the query cache.

Every read sets ``CACHE_STATUS``: HIT when answered from memory, MISS when the store was asked (or a
concurrent identical read was joined), BYPASS when the cache does not apply (ConsistentRead, a table
with caching off, a request the cache cannot key; the store then answers, errors included).
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from accelerator.cache import projection
from accelerator.cache.items import ItemKey
from accelerator.cache.queries import partition_of, query_key
from accelerator.cache.tables import TableState
from accelerator.core.context import BYPASS, CACHE_STATUS, HIT, MISS
from accelerator.core.protocols import Request, Response
from accelerator.core.values import Item

if TYPE_CHECKING:
    from accelerator.cache.store import CachedStore

__all__ = ["get_item", "batch_get_item", "query", "bypass"]

_EXPRESSIONS = projection.EXPRESSION_MEMBERS
_EMPTY: Response = {}


async def bypass(cs: CachedStore, operation: str, req: Request) -> Response:
    CACHE_STATUS.set(BYPASS)
    cs.stats.bypasses += 1
    return await cs.store.call(operation, req)


async def _state(cs: CachedStore, name: Any) -> TableState | None:
    state = cs.tables.get(name)
    return state if state is not None else await cs.tables.resolve(cs.store, name)


def _projector(req: Request) -> tuple[bool, projection.Projector | None]:
    """(servable, projection) for a read's expression members."""
    for member in _EXPRESSIONS:
        if member in req:
            try:
                return True, projection.projector(req)
            except Exception:  # noqa: BLE001 - not servable from the cache: the store decides
                return False, None
    return True, None


def _fill_item(cs: CachedStore, state: TableState, key: ItemKey, item: Item | None) -> None:
    if state.alive:
        cs.items.put(key, item, state.item_ttl if item is not None else state.negative_ttl)


async def _fetch_item(cs: CachedStore, name: str, wire_key: Any) -> Item | None:
    response = await cs.store.call("GetItem", {"TableName": name, "Key": wire_key})
    return response.get("Item")


async def get_item(cs: CachedStore, req: Request) -> Response:
    if req.get("ConsistentRead"):
        return await bypass(cs, "GetItem", req)
    name = req.get("TableName")
    state = cs.tables.get(name) or await _state(cs, name)
    if state is None or not state.item_enabled:
        return await bypass(cs, "GetItem", req)
    servable, project = _projector(req)
    if not servable:
        return await bypass(cs, "GetItem", req)
    try:
        pk, sk = state.schema.key_of_request(req["Key"])
    except Exception:  # noqa: BLE001 - a bad key: the store reports it
        return await bypass(cs, "GetItem", req)
    key = (state.incarnation, pk, sk)
    entry = cs.items.get(key)
    if entry is not None:
        cs.stats.item_hits += 1
        CACHE_STATUS.set(HIT)
        item = entry[0]
    else:
        cs.stats.item_misses += 1
        CACHE_STATUS.set(MISS)
        item = await cs.item_flights.run(key, key, partial(_fetch_item, cs, state.name, req["Key"]),
                                         partial(_fill_item, cs, state, key))
    if item is None:
        return _EMPTY
    return {"Item": project(item) if project is not None else item}


class _TablePart:
    """One table of a BatchGetItem: its keys, projection, and the keys the cache could not answer."""

    __slots__ = ("name", "spec", "state", "project", "out", "missing")

    def __init__(self, name: str, spec: dict[str, Any], state: TableState, project: Any) -> None:
        self.name = name
        self.spec = spec
        self.state = state
        self.project = project
        self.out: list[Item] = []
        self.missing: list[tuple[Any, ItemKey]] = []  # (wire key, cache key)

    def add(self, item: Item) -> None:
        self.out.append(self.project(item) if self.project is not None else item)


async def _batch_parts(cs: CachedStore, req: Request) -> list[_TablePart] | None:
    """Each table's part, with cache hits answered; None if the request must bypass the cache."""
    parts = []
    total = 0
    for name, spec in (req.get("RequestItems") or {}).items():
        keys = spec.get("Keys") if isinstance(spec, dict) else None
        if not keys or not isinstance(keys, list) or spec.get("ConsistentRead"):
            return None
        state = await _state(cs, name)
        if state is None or not state.item_enabled:
            return None
        servable, project = _projector(spec)
        if not servable:
            return None
        part = _TablePart(name, spec, state, project)
        try:
            cache_keys = [(state.incarnation, *state.schema.key_of_request(k)) for k in keys]
        except Exception:  # noqa: BLE001
            return None
        if len(set(cache_keys)) != len(cache_keys):
            return None  # duplicates: the store's error
        for wire, key in zip(keys, cache_keys, strict=True):
            entry = cs.items.get(key)
            if entry is None:
                part.missing.append((wire, key))
            elif entry[0] is not None:
                part.add(entry[0])
        total += len(keys)
        parts.append(part)
    return parts if 0 < total <= 100 else None


async def batch_get_item(cs: CachedStore, req: Request) -> Response:
    parts = await _batch_parts(cs, req)
    if parts is None:
        return await bypass(cs, "BatchGetItem", req)
    stats = cs.stats
    missing = sum(len(p.missing) for p in parts)
    stats.item_misses += missing
    stats.item_hits += sum(len(p.spec["Keys"]) for p in parts) - missing
    response: Response = {"Responses": {p.name: p.out for p in parts}, "UnprocessedKeys": {}}
    if not missing:
        CACHE_STATUS.set(HIT)
        return response
    CACHE_STATUS.set(MISS)
    held = [(key, cs.gens.hold(key)) for p in parts for _, key in p.missing]
    try:
        inner = await cs.store.call("BatchGetItem", _inner_batch(req, parts))
        _merge_batch(cs, parts, inner, held, response)
    finally:
        for key, _ in held:
            cs.gens.release(key)
    if "ConsumedCapacity" in inner:
        response["ConsumedCapacity"] = inner["ConsumedCapacity"]
    return response


def _inner_batch(req: Request, parts: list[_TablePart]) -> Request:
    """One BatchGetItem for every missing key, asking for whole items so they can be cached."""
    items = {}
    for p in parts:
        if p.missing:
            spec = {k: v for k, v in p.spec.items() if k not in _EXPRESSIONS}
            spec["Keys"] = [wire for wire, _ in p.missing]
            items[p.name] = spec
    inner: Request = {"RequestItems": items}
    if "ReturnConsumedCapacity" in req:
        inner["ReturnConsumedCapacity"] = req["ReturnConsumedCapacity"]
    return inner


def _merge_batch(cs: CachedStore, parts: list[_TablePart], inner: Response, held: list[tuple[ItemKey, int]],
                 response: Response) -> None:
    gens = dict(held)
    by_name = {p.name: p for p in parts}
    unprocessed_in = inner.get("UnprocessedKeys") or {}
    skipped: set[Any] = set()
    for name, spec in unprocessed_in.items():
        part = by_name[name]
        skipped.update(_cache_key(part.state, k) for k in spec.get("Keys", ()))
        response["UnprocessedKeys"][name] = {**part.spec, "Keys": spec.get("Keys", [])}
    found: dict[Any, Item] = {}
    for name, items in (inner.get("Responses") or {}).items():
        part = by_name[name]
        for item in items:
            key = _cache_key(part.state, item, whole=True)
            if key is None:
                part.add(item)  # cannot tell its key (should not happen): answer, do not cache
            else:
                found[key] = item
    for part in parts:
        for _, key in part.missing:
            if key in skipped:
                continue
            item = found.pop(key, None)
            if cs.gens.current(key) == gens[key]:
                _fill_item(cs, part.state, key, item)
            else:
                cs.item_flights.stale_fills += 1
            if item is not None:
                part.add(item)


def _cache_key(state: TableState, value: Any, whole: bool = False) -> ItemKey | None:
    try:
        schema = state.schema
        pk, sk = schema.key_of_item(value) if whole else schema.key_of_request(dict(value))
    except Exception:  # noqa: BLE001
        return None
    return (state.incarnation, pk, sk)


def _fill_page(cs: CachedStore, state: TableState, key: tuple[int, bytes], scope: Any,
               response: Response) -> None:
    if state.alive:
        page = response if "ConsumedCapacity" not in response else {
            k: v for k, v in response.items() if k != "ConsumedCapacity"}
        cs.queries.put(key, scope, page, state.query_ttl)


async def query(cs: CachedStore, operation: str, req: Request) -> Response:
    """Query or Scan: one cached page per normalized request."""
    if req.get("ConsistentRead"):
        return await bypass(cs, operation, req)
    state = await _state(cs, req.get("TableName"))
    if state is None or not state.query_enabled:
        return await bypass(cs, operation, req)
    try:
        key = (state.incarnation, query_key(operation, req))
    except Exception:  # noqa: BLE001
        return await bypass(cs, operation, req)
    scan = operation == "Scan"
    page = cs.queries.get(key)
    if page is not None:
        if scan:
            cs.stats.scan_hits += 1
        else:
            cs.stats.query_hits += 1
        CACHE_STATUS.set(HIT)
        return page
    if scan:
        cs.stats.scan_misses += 1
    else:
        cs.stats.query_misses += 1
    CACHE_STATUS.set(MISS)
    pk = None if scan else partition_of(req, state.schema)
    scope: Any = state.incarnation if pk is None else (state.incarnation, pk)
    return await cs.query_flights.run(key, scope, partial(cs.store.call, operation, req),
                                      partial(_fill_page, cs, state, key, scope))
