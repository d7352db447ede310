"""What each write operation does to the cache: the keys it touches and, where known, their new items.

Write-through choices (the client's ReturnValues is always honoured exactly):

- PutItem: the new item is the request's Item (numbers normalised as the store stores them).
- DeleteItem: a negative entry.
- UpdateItem: the store is asked for ``ReturnValues=ALL_NEW`` when the client asked for NONE (or
  nothing) or ALL_NEW, which is transparent: the full new item is cached and ``Attributes`` is
  removed again from a response the client did not ask it in. For ALL_OLD / UPDATED_OLD /
  UPDATED_NEW the key is invalidated instead (the next read misses).
- BatchWriteItem: puts and deletes as above; keys returned in UnprocessedItems are invalidated.
- TransactWriteItems: Put and Delete as above, Update invalidates, ConditionCheck touches nothing.
  With a ClientRequestToken every key is invalidated: a replayed token is a no-op in the store,
  so the request's items may not be the current ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from accelerator.cache.bypasses import UNKNOWN_TABLE, Bypasses
from accelerator.cache.items import ItemKey
from accelerator.cache.tables import TableState
from accelerator.core.protocols import Request, Response
from accelerator.core.values import validate_item

if TYPE_CHECKING:
    from accelerator.cache.store import CachedStore

__all__ = ["UNKNOWN", "UNSTAMPED", "Touch", "WritePlan", "plan_write", "settle", "table_names"]


class _Unknown:
    __slots__ = ()

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Any = _Unknown()
"""The new value of a touched key is not known: invalidate it."""

UNSTAMPED: Any = (0, -1, 0, -1)
"""A stamp no counter matches: another worker wrote the key while this write was out (invalidate it)."""

_TRANSPARENT = (None, "NONE", "ALL_NEW")


@dataclass(slots=True)
class Touch:
    """One key a write touches, and its new item if known (None: deleted; UNKNOWN)."""

    state: TableState
    key: ItemKey
    new: Any
    mine: int = 0  # the key's generation right after this write's first bump
    size: int | None = None  # the new item's DynamoDB size, once known
    slots: tuple[int, ...] = ()  # shared generations the write bumps (workers only)
    shared_mine: int = 0  # the item's shared generation right after this write's first bump
    epoch: tuple[int, int] = (0, 0)  # the table's epoch (slot, value) when the write began
    stamp: Any = None  # the stamp of the written-through entry (workers only)


@dataclass(slots=True)
class WritePlan:
    touches: list[Touch]
    inner: Request  # what is sent to the store
    strip_attributes: bool = False  # remove Attributes the client did not ask for


def table_names(operation: str, req: Request) -> list[str]:
    """Tables a write names (for a whole-table flush when its keys cannot be worked out)."""
    if operation == "BatchWriteItem":
        return [n for n in req.get("RequestItems") or () if isinstance(n, str)]
    if operation == "TransactWriteItems":
        names = set()
        for entry in req.get("TransactItems") or ():
            for body in entry.values() if isinstance(entry, dict) else ():
                if isinstance(body, dict) and isinstance(body.get("TableName"), str):
                    names.add(body["TableName"])
        return sorted(names)
    name = req.get("TableName")
    return [name] if isinstance(name, str) else []


async def _state(cs: CachedStore, name: Any) -> TableState:
    state = cs.tables.get(name) or await cs.tables.resolve(cs.store, name)
    if state is None:
        raise LookupError(name)
    return state


def _touch(state: TableState, pk_sk: tuple[bytes, bytes], new: Any) -> Touch:
    return Touch(state, (state.incarnation, pk_sk[0], pk_sk[1]), new)


async def plan_write(cs: CachedStore, operation: str, req: Request) -> WritePlan:
    """The touches of a write; raises (anything) when they cannot be worked out."""
    if operation == "PutItem":
        state = await _state(cs, req["TableName"])
        item = req["Item"]
        return WritePlan([_touch(state, state.schema.key_of_item(item), item)], req)
    if operation == "DeleteItem":
        state = await _state(cs, req["TableName"])
        return WritePlan([_touch(state, state.schema.key_of_request(req["Key"]), None)], req)
    if operation == "UpdateItem":
        state = await _state(cs, req["TableName"])
        touch = _touch(state, state.schema.key_of_request(req["Key"]), UNKNOWN)
        wanted = req.get("ReturnValues")
        if wanted not in _TRANSPARENT:
            return WritePlan([touch], req)
        return WritePlan([touch], {**req, "ReturnValues": "ALL_NEW"}, strip_attributes=wanted != "ALL_NEW")
    if operation == "BatchWriteItem":
        touches: list[Touch] = []
        for name, requests in req["RequestItems"].items():
            state = await _state(cs, name)
            touches.extend(_batch_touch(state, r) for r in requests)
        return WritePlan(touches, req)
    if operation == "TransactWriteItems":
        return WritePlan(await _transact_touches(cs, req), req)
    raise ValueError(operation)


def _batch_touch(state: TableState, request: dict[str, Any]) -> Touch:
    ((kind, body),) = request.items()
    if kind == "PutRequest":
        return _touch(state, state.schema.key_of_item(body["Item"]), body["Item"])
    if kind == "DeleteRequest":
        return _touch(state, state.schema.key_of_request(body["Key"]), None)
    raise ValueError(kind)


async def _transact_touches(cs: CachedStore, req: Request) -> list[Touch]:
    replayable = req.get("ClientRequestToken") is not None
    touches: list[Touch] = []
    for entry in req["TransactItems"]:
        ((kind, body),) = entry.items()
        if kind == "ConditionCheck":
            continue
        state = await _state(cs, body["TableName"])
        if kind == "Put":
            pk_sk, new = state.schema.key_of_item(body["Item"]), body["Item"]
        elif kind in ("Delete", "Update"):
            pk_sk, new = state.schema.key_of_request(body["Key"]), None if kind == "Delete" else UNKNOWN
        else:
            raise ValueError(kind)
        touches.append(_touch(state, pk_sk, UNKNOWN if replayable else new))
    return touches


def settle(operation: str, plan: WritePlan, response: Response, bypasses: Bypasses | None = None,
           trusted: bool = False) -> Response:
    """After the store acknowledged: fill in what the response tells; return the client's response.

    ``trusted``: the store validated and normalised every written item in place (the local engine), so the
    items are kept as they are and their size is worked out when a hit first needs it. An upstream's are
    validated here: its numbers must be in the canonical form reads would return."""
    bypasses = bypasses or Bypasses()
    if operation == "UpdateItem":
        touch = plan.touches[0]
        if plan.inner.get("ReturnValues") == "ALL_NEW":
            touch.new = response.get("Attributes", UNKNOWN)
        if plan.strip_attributes and "Attributes" in response:
            response = {k: v for k, v in response.items() if k != "Attributes"}
    elif operation == "BatchWriteItem":
        _unprocessed(plan, response.get("UnprocessedItems") or {}, bypasses)
    if trusted:
        return response
    for touch in plan.touches:
        if type(touch.new) is dict:
            try:
                touch.size = validate_item(touch.new)  # numbers in canonical form, as the store keeps them
            except Exception as exc:  # noqa: BLE001 - the store accepted it; do not trust our copy then
                bypasses.note(touch.state.name, "written item not understood", exc)
                touch.new = UNKNOWN
    return response


def _unprocessed(plan: WritePlan, unprocessed: dict[str, Any], bypasses: Bypasses) -> None:
    if not unprocessed:
        return
    by_table = {t.state.name: t.state for t in plan.touches}
    skipped = set()
    for name, requests in unprocessed.items():
        state = by_table.get(name)
        for request in requests:
            try:
                skipped.add(_batch_touch(state, request).key)  # type: ignore[arg-type]
            except Exception as exc:  # noqa: BLE001 - cannot tell which key: forget them all
                bypasses.note(name if state is not None else UNKNOWN_TABLE, "unprocessed key not understood", exc)
                skipped.update(t.key for t in plan.touches)
    for touch in plan.touches:
        if touch.key in skipped:
            touch.new = UNKNOWN
