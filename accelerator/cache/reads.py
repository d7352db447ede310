"""Reads through the cache: GetItem and BatchGetItem on the item cache, Query and Scan on the query cache.

Every read sets ``CACHE_STATUS``: HIT when answered from memory, MISS when the store was asked (or a
concurrent identical read was joined), BYPASS when the cache does not apply (ConsistentRead,
ReturnConsumedCapacity, a table with caching off, a request the cache cannot key; the store then
answers, errors included).
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from accelerator.cache import projection
from accelerator.cache.items import ItemKey, item_bytes
from accelerator.cache.queries import partition_of, query_key
from accelerator.cache.tables import TableState
from accelerator.core.context import BYPASS, CACHE_STATUS, HIT, MISS
from accelerator.core.protocols import Request, Response
from accelerator.core.values import Item, item_size

if TYPE_CHECKING:
    from accelerator.cache.store import CachedStore

__all__ = ["get_item", "batch_get_item", "query", "bypass"]

_EXPRESSIONS = projection.EXPRESSION_MEMBERS
_EMPTY: Response = {}


def _metered(req: Request) -> bool:
    """Whether the read asks for ConsumedCapacity: the store computes it as DynamoDB bills, so it answers."""
    return req["ReturnConsumedCapacity"] in ("TOTAL", "INDEXES")


async def bypass(cs: CachedStore, operation: str, req: Request) -> Response:
    CACHE_STATUS.set(BYPASS)
    cs.stats.bypasses += 1
    return await cs.store.call(operation, req)


async def _state(cs: CachedStore, name: Any) -> TableState | None:
    state = cs.tables.get(name)
    return state if state is not None else await cs.tables.resolve(cs.store, name)


def _projector(cs: CachedStore, table: str, req: Request,
               operation: str) -> tuple[bool, projection.Projector | None]:
    """(servable, projection) for a read's expression members."""
    for member in _EXPRESSIONS:
        if member in req:
            try:
                return True, projection.projector(req, operation)
            except Exception as exc:  # noqa: BLE001 - not servable from the cache: the store decides
                cs.bypasses.note(table, "projection not understood", exc)
                return False, None
    return True, None


def _fill_item(cs: CachedStore, state: TableState, key: ItemKey, item: Item | None, size: int | None = None,
               stamp: Any = None) -> None:
    if state.alive:
        cs.items.put(key, item, state.item_ttl if item is not None else state.negative_ttl, size, stamp)


def _item_stamp(cs: CachedStore, state: TableState, key: ItemKey) -> Any:
    """The shared-generation stamp a read of ``key`` notes before it asks the store (None: one process)."""
    shared = cs.shared
    if shared is None:
        return None
    return shared.stamp(shared.item_slot(state.name, key[1], key[2]), shared.epoch_slot(state.name))


def _live(cs: CachedStore, entry: Any) -> bool:
    """Whether no other worker wrote the entry's key (or dropped its table) since it was read."""
    stamp = entry[4]
    return stamp is None or cs.shared is None or cs.shared.fresh(stamp)


async def _fetch_item(cs: CachedStore, name: str, wire_key: Any) -> Item | None:
    response = await cs.store.call("GetItem", {"TableName": name, "Key": wire_key})
    return response.get("Item")


async def get_item(cs: CachedStore, req: Request) -> Response:
    if req.get("ConsistentRead") or ("ReturnConsumedCapacity" in req and _metered(req)):
        return await bypass(cs, "GetItem", req)
    name = req.get("TableName")
    state = cs.tables.get(name) or await _state(cs, name)
    if state is None or not state.item_enabled:
        return await bypass(cs, "GetItem", req)
    servable, project = _projector(cs, state.name, req, "GetItem")
    if not servable:
        return await bypass(cs, "GetItem", req)
    try:
        pk, sk = state.schema.key_of_request(req["Key"])
    except Exception as exc:  # noqa: BLE001 - a bad key: the store reports it
        cs.bypasses.note(state.name, "key not understood", exc)
        return await bypass(cs, "GetItem", req)
    key = (state.incarnation, pk, sk)
    entry = cs.items.get(key)
    stamp = None if entry is None else entry[4]
    if stamp is not None:  # a worker among several: the check of _live, inlined on the hottest path
        counters = cs.shared.counters  # type: ignore[union-attr]  # a stamp is only made with shared generations
        if counters[stamp[0]] != stamp[1] or counters[stamp[2]] != stamp[3]:
            entry = None
    if entry is not None:
        cs.stats.item_hits += 1
        CACHE_STATUS.set(HIT)
        cs.replies.last_hit = key, entry  # the router may keep this answer's bytes (cache/replies.py)
        item = entry[0]
    else:
        cs.stats.item_misses += 1
        CACHE_STATUS.set(MISS)
        stamp = _item_stamp(cs, state, key)
        item = await cs.item_flights.run(key, key, partial(_fetch_item, cs, state.name, req["Key"]),
                                         partial(_fill_item, cs, state, key, stamp=stamp), stamp)
    if item is None:
        return _EMPTY
    return {"Item": project(item) if project is not None else item}


_PENDING: Any = object()  # a key the cache could not answer (yet)
_UNPROCESSED: Any = object()  # a key the store left unprocessed
BATCH_GET_BYTES = 16 * 1024 * 1024
"""BatchGetItem's response cap: once the items returned reach it, the remaining keys are unprocessed."""


class _TablePart:
    """One table of a BatchGetItem: per key (in request order) the cached or fetched item and its size."""

    __slots__ = ("name", "spec", "state", "project", "wires", "keys", "found", "sizes")

    def __init__(self, name: str, spec: dict[str, Any], state: TableState, project: Any,
                 keys: list[ItemKey]) -> None:
        self.name = name
        self.spec = spec
        self.state = state
        self.project = project
        self.wires: list[Any] = spec["Keys"]
        self.keys = keys
        self.found: list[Any] = [_PENDING] * len(keys)  # item, None (not found), _PENDING, _UNPROCESSED
        self.sizes = [0] * len(keys)

    def pending(self) -> list[int]:
        return [i for i, v in enumerate(self.found) if v is _PENDING]


async def _batch_parts(cs: CachedStore, req: Request) -> list[_TablePart] | None:
    """Each table's part with cache hits filled in; None if the request must bypass the cache."""
    parts = []
    total = 0
    for name, spec in (req.get("RequestItems") or {}).items():
        keys = spec.get("Keys") if isinstance(spec, dict) else None
        if not keys or not isinstance(keys, list) or spec.get("ConsistentRead"):
            return None
        state = await _state(cs, name)
        if state is None or not state.item_enabled:
            return None
        servable, project = _projector(cs, state.name, spec, "BatchGetItem")
        if not servable:
            return None
        try:
            cache_keys = [(state.incarnation, *state.schema.key_of_request(k)) for k in keys]
        except Exception as exc:  # noqa: BLE001 - a bad key: the store reports it
            cs.bypasses.note(state.name, "key not understood", exc)
            return None
        if len(set(cache_keys)) != len(cache_keys):
            return None  # duplicates: the store's error
        part = _TablePart(name, spec, state, project, cache_keys)
        for i, key in enumerate(part.keys):
            entry = cs.items.get(key)
            if entry is not None and _live(cs, entry):
                part.found[i], part.sizes[i] = entry[0], item_bytes(entry)
        total += len(keys)
        parts.append(part)
    return parts if 0 < total <= 100 else None


async def batch_get_item(cs: CachedStore, req: Request) -> Response:
    parts = None if "ReturnConsumedCapacity" in req and _metered(req) else await _batch_parts(cs, req)
    if parts is None:
        return await bypass(cs, "BatchGetItem", req)
    pending = [(p, p.pending()) for p in parts]
    missing = sum(len(idx) for _, idx in pending)
    cs.stats.item_misses += missing
    cs.stats.item_hits += sum(len(p.keys) for p in parts) - missing
    inner: Response = {}
    if missing:
        CACHE_STATUS.set(MISS)
        held = [(p.keys[i], cs.gens.hold(p.keys[i])) for p, idx in pending for i in idx]
        stamps = {p.keys[i]: _item_stamp(cs, p.state, p.keys[i]) for p, idx in pending for i in idx}
        try:
            inner = await cs.store.call("BatchGetItem", _inner_batch(req, pending))
            _merge_batch(cs, parts, inner, dict(held), stamps)
        finally:
            for key, _ in held:
                cs.gens.release(key)
    else:
        CACHE_STATUS.set(HIT)
    response = _assemble(parts)
    if "ConsumedCapacity" in inner:
        response["ConsumedCapacity"] = inner["ConsumedCapacity"]
    return response


def _inner_batch(req: Request, pending: list[tuple[_TablePart, list[int]]]) -> Request:
    """One BatchGetItem for every missing key, asking for whole items so they can be cached."""
    items = {}
    for p, idx in pending:
        if idx:
            spec = {k: v for k, v in p.spec.items() if k not in _EXPRESSIONS}
            spec["Keys"] = [p.wires[i] for i in idx]
            items[p.name] = spec
    inner: Request = {"RequestItems": items}
    if "ReturnConsumedCapacity" in req:
        inner["ReturnConsumedCapacity"] = req["ReturnConsumedCapacity"]
    return inner


def _merge_batch(cs: CachedStore, parts: list[_TablePart], inner: Response, gens: dict[ItemKey, int],
                 stamps: dict[ItemKey, Any]) -> None:
    by_name = {p.name: p for p in parts}
    for name, spec in (inner.get("UnprocessedKeys") or {}).items():
        part = by_name[name]
        index = {k: i for i, k in enumerate(part.keys)}
        for wire in spec.get("Keys", ()):
            i = index.get(_cache_key(part.state, wire))  # type: ignore[arg-type]
            if i is not None:
                part.found[i] = _UNPROCESSED
    for name, items in (inner.get("Responses") or {}).items():
        part = by_name[name]
        index = {k: i for i, k in enumerate(part.keys)}
        for item in items:
            i = index.get(_cache_key(part.state, item, whole=True))  # type: ignore[arg-type]
            if i is not None and part.found[i] is _PENDING:
                part.found[i], part.sizes[i] = item, item_size(item)
    for part in parts:
        for i, key in enumerate(part.keys):
            if key not in gens or part.found[i] is _UNPROCESSED:
                continue
            if part.found[i] is _PENDING:
                part.found[i] = None  # asked for and not returned: it does not exist
            if cs.gens.current(key) == gens[key]:
                _fill_item(cs, part.state, key, part.found[i], part.sizes[i], stamps[key])
            else:
                cs.item_flights.stale_fills += 1


def _assemble(parts: list[_TablePart]) -> Response:
    """The client's response, in request order, cut at the 16 MB cap as the engine cuts it."""
    responses: dict[str, list[Item]] = {}
    unprocessed: dict[str, Any] = {}
    size = 0
    for part in parts:
        out = responses[part.name] = []
        left: list[Any] = []
        for i, value in enumerate(part.found):
            if size >= BATCH_GET_BYTES or value is _UNPROCESSED:
                left.append(part.wires[i])
            elif value is not None:
                out.append(part.project(value) if part.project is not None else value)
                size += part.sizes[i]
        if left:
            unprocessed[part.name] = {**part.spec, "Keys": left}
    return {"Responses": responses, "UnprocessedKeys": unprocessed}


def _cache_key(state: TableState, value: Any, whole: bool = False) -> ItemKey | None:
    try:
        schema = state.schema
        pk, sk = schema.key_of_item(value) if whole else schema.key_of_request(dict(value))
    except Exception:  # noqa: BLE001
        return None
    return (state.incarnation, pk, sk)


def _fill_page(cs: CachedStore, state: TableState, key: tuple[int, bytes], scope: Any, stamp: Any,
               response: Response) -> None:
    if state.alive:
        page = response if "ConsumedCapacity" not in response else {
            k: v for k, v in response.items() if k != "ConsumedCapacity"}
        cs.queries.put(key, scope, page, state.query_ttl, stamp)


async def query(cs: CachedStore, operation: str, req: Request) -> Response:
    """Query or Scan: one cached page per normalized request."""
    if req.get("ConsistentRead") or ("ReturnConsumedCapacity" in req and _metered(req)):
        return await bypass(cs, operation, req)
    state = await _state(cs, req.get("TableName"))
    if state is None or not state.query_enabled:
        return await bypass(cs, operation, req)
    try:
        key = (state.incarnation, query_key(operation, req))
    except Exception as exc:  # noqa: BLE001 - a request the store will judge
        cs.bypasses.note(state.name, "request not understood", exc)
        return await bypass(cs, operation, req)
    scan = operation == "Scan"
    page = cs.queries.get_page(key)
    if page is not None and _live(cs, page):
        if scan:
            cs.stats.scan_hits += 1
        else:
            cs.stats.query_hits += 1
        CACHE_STATUS.set(HIT)
        return page[0]
    if scan:
        cs.stats.scan_misses += 1
    else:
        cs.stats.query_misses += 1
    CACHE_STATUS.set(MISS)
    pk = None if scan else partition_of(req, state.schema)
    scope: Any = state.incarnation if pk is None else (state.incarnation, pk)
    shared, stamp = cs.shared, None
    if shared is not None:
        slot = shared.table_slot(state.name) if pk is None else shared.partition_slot(state.name, pk)
        stamp = shared.stamp(slot, shared.epoch_slot(state.name))
    return await cs.query_flights.run(key, scope, partial(cs.store.call, operation, req),
                                      partial(_fill_page, cs, state, key, scope, stamp), stamp)
