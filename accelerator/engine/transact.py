"""TransactGetItems and TransactWriteItems: all-or-nothing over up to 100 items.

A write transaction is ONE call to the storage's atomic unit over every key it touches: ``apply``
evaluates every action's condition against the same snapshot, and either returns all new values or
raises with the cancellation reasons, so nothing is written. Atomicity therefore holds across several
accelerator processes sharing one backend.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Any

import orjson

from accelerator.core.errors import (
    ConditionFailed,
    IdempotentParameterMismatchException,
    TransactionCanceledException,
    ValidationException,
)
from accelerator.core.guard import quietly
from accelerator.core.protocols import KEEP, KeyRef, Request, Response
from accelerator.core.values import item_size, validate_item
from accelerator.engine import capacity
from accelerator.engine.handler import Engine
from accelerator.engine.indexes import indexes_of
from accelerator.engine.items import load, updated_item
from accelerator.engine.meta import META_TABLE, TOKEN_PREFIX, TOKEN_SECONDS
from accelerator.expressions import plan

__all__ = ["transact_get_items", "transact_write_items", "token_ref"]

_MAX_BYTES = 4 * 1024 * 1024

_MULTIPLE = "Transaction request cannot include multiple operations on one item"


async def transact_get_items(engine: Engine, req: Request) -> Response:
    refs: list[KeyRef] = []
    projections = []
    for entry in req["TransactItems"]:
        get = entry.get("Get") if isinstance(entry, dict) else None
        if not isinstance(get, dict) or len(entry) != 1:
            raise ValidationException("1 validation error detected: Value null at 'transactItems.1.member.get' "
                                      "failed to satisfy constraint: Member must not be null")
        table = await engine.tables.active(get.get("TableName"))
        if not isinstance(get.get("Key"), dict):
            raise ValidationException("The provided key element does not match the schema")
        refs.append(KeyRef(table.name, *table.key.key_of_request(get["Key"])))
        ctx = plan.Context(get)
        projections.append(plan.projection(get, ctx))
        ctx.finish()
    if len(set(refs)) != len(refs):
        raise ValidationException(_MULTIPLE)
    values = await engine.storage.get_many(refs)
    responses: list[Response] = []
    if capacity.metering():
        for ref, data in zip(refs, values, strict=True):
            capacity.charge(ref.table, 2 * capacity.read_units(capacity.stored_size(data), True))
    for data, projection in zip(values, projections, strict=True):
        if data is None:
            responses.append({})
            continue
        item = orjson.loads(data)
        responses.append({"Item": projection(item) if projection is not None else item})
    return {"Responses": responses}


@dataclass(slots=True)
class _Action:
    kind: str
    table: Any
    ref: KeyRef | None  # None: the item or key is invalid (see ``invalid``)
    key: dict[str, Any]
    condition: Any
    on_fail_old: bool
    item: dict[str, Any] | None = None
    update: Any = None
    invalid: str | None = None


def _target(kind: str, body: dict[str, Any], table: Any) -> tuple[KeyRef, dict[str, Any]]:
    """The action's item reference and key; a ValidationException if the item or key is not valid."""
    if kind == "Put":
        item = body.get("Item")
        validate_item(item)
        return KeyRef(table.name, *table.key.key_of_item(item)), table.key.key_item(item)
    key: dict[str, Any] = body["Key"]  # the request shape requires it
    return KeyRef(table.name, *table.key.key_of_request(key)), key


def _parse_action(engine: Engine, entry: Any, table: Any) -> _Action:
    (kind, body), = entry.items()
    ctx = plan.Context(body)
    cond = plan.condition(body, ctx)
    on_fail_old = body.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD"
    # An invalid item or key (a key of the wrong type, an item too large) is this action's ValidationError
    # cancellation reason; expression errors below fail the whole request instead, as in DynamoDB.
    ref: KeyRef | None = None
    key: dict[str, Any] = {}
    invalid = None
    try:
        ref, key = _target(kind, body, table)
    except ValidationException as exc:
        invalid = exc.message
    if kind == "ConditionCheck" and body.get("ConditionExpression") is None:
        raise ValidationException("1 validation error detected: Value null at 'transactItems.1.member."
                                  "conditionCheck.conditionExpression' failed to satisfy constraint: "
                                  "Member must not be null")
    update = plan.update(body, ctx, table.key.names) if kind == "Update" else None
    if kind == "Update" and body.get("UpdateExpression") is None:
        raise ValidationException("1 validation error detected: Value null at 'transactItems.1.member."
                                  "update.updateExpression' failed to satisfy constraint: Member must not be null")
    ctx.finish()
    item = body.get("Item") if kind == "Put" and invalid is None else None
    return _Action(kind, table, ref, key, cond, on_fail_old, item, update, invalid)


async def _parse(engine: Engine, req: Request) -> list[_Action]:
    actions = []
    for entry in req["TransactItems"]:
        if not isinstance(entry, dict) or len(entry) != 1 or next(iter(entry)) not in (
                "Put", "Update", "Delete", "ConditionCheck"):
            raise ValidationException("TransactItems can only contain one of Check, Put, Update or Delete")
        body = next(iter(entry.values()))
        if not isinstance(body, dict):
            raise ValidationException("TransactItems can only contain one of Check, Put, Update or Delete")
        table = await engine.tables.active(body.get("TableName"))
        actions.append(_parse_action(engine, entry, table))
    first_invalid = next((i for i, a in enumerate(actions) if a.invalid is not None), None)
    if first_invalid is not None:  # only the first invalid action is reported, the rest say None
        raise TransactionCanceledException([
            {"Code": "ValidationError", "Message": a.invalid} if i == first_invalid else {"Code": "None"}
            for i, a in enumerate(actions)])
    if len({a.ref for a in actions}) != len(actions):
        raise ValidationException(_MULTIPLE)
    if sum(item_size(a.item) for a in actions if a.item is not None) > _MAX_BYTES:
        raise ValidationException("Transaction request payload size cannot exceed the limit of 4 MB")
    return actions


def _apply(actions: list[_Action], olds: list[bytes | None]) -> list[Any]:
    reasons: list[dict[str, Any]] = []
    news: list[Any] = []
    failed = False
    for action, data in zip(actions, olds, strict=True):
        old = load(data)
        if action.condition is not None and not action.condition(old):
            reason: dict[str, Any] = {"Code": "ConditionalCheckFailed", "Message": "The conditional request failed"}
            if action.on_fail_old and old is not None:
                reason["Item"] = old
            reasons.append(reason)
            failed = True
            news.append(KEEP)
            continue
        try:
            if action.kind == "Put":
                news.append(orjson.dumps(action.item))
            elif action.kind == "Delete":
                news.append(None)
            elif action.kind == "Update":
                new = updated_item(action.update, action.key, old)
                news.append(KEEP if new is None else orjson.dumps(new))
            else:
                news.append(KEEP)
        except ValidationException as exc:
            reasons.append({"Code": "ValidationError", "Message": exc.message})
            failed = True
            news.append(KEEP)
            continue
        reasons.append({"Code": "None"})
    if failed:
        raise ConditionFailed(reasons)
    return news


class _Replayed(Exception):
    """The token's transaction was already applied within the window: answer success, change nothing."""

    def __init__(self, olds: list[bytes | None]) -> None:
        super().__init__()
        self.olds = olds
        """The items the actions name, as they are now (a replay reports reading them)."""


_MISMATCH = ("Specified idempotency token was used with different request parameters within the 10 minute "
             "window.")


def token_ref(token: str) -> KeyRef:
    """Where a ClientRequestToken's record lives: in the meta table, written in the transaction's own unit."""
    return KeyRef(META_TABLE, TOKEN_PREFIX + token.encode(), b"")


def _with_token(actions: list[_Action], token: str, digest: str, now: float) -> Any:
    def apply(olds: list[bytes | None]) -> list[Any]:
        record = olds[-1]
        if record is not None:
            seen = orjson.loads(record)
            if now - seen["at"] < TOKEN_SECONDS:
                if seen["digest"] == digest:
                    raise _Replayed(olds[:-1])
                raise IdempotentParameterMismatchException(_MISMATCH)
        news = _apply(actions, olds[:-1])
        return [*news, orjson.dumps({"digest": digest, "at": now})]
    return apply


async def transact_write_items(engine: Engine, req: Request) -> Response:
    """All actions in one atomic unit; a ClientRequestToken's record is part of that unit, so a retry
    within 10 minutes has no second effect on any accelerator process sharing the backend."""
    actions = await _parse(engine, req)
    refs = [a.ref for a in actions if a.ref is not None]  # all of them: _parse rejected invalid actions
    token = req.get("ClientRequestToken")
    if token is None:
        apply: Any = lambda olds: _apply(actions, olds)  # noqa: E731
    else:
        body = {k: v for k, v in req.items() if k not in ("ClientRequestToken", "ReturnConsumedCapacity")}
        digest = hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()
        apply = _with_token(actions, token, digest, time.time())
        refs.append(token_ref(token))
    try:
        olds = await engine.storage.transact(refs, apply)
    except ConditionFailed as exc:
        raise TransactionCanceledException(exc.payload) from None
    except _Replayed as replay:
        if capacity.metering():
            quietly("transaction capacity", _charge_replay, actions, replay.olds)
        return {}
    if capacity.metering():  # committed: nothing below may fail the request
        quietly("transaction capacity", _charge, actions, olds[:len(actions)])  # past them: the token's record
    return {}


def _charge_replay(actions: list[_Action], olds: list[bytes | None]) -> None:
    """DynamoDB answers a replay with the read units of reading the items (a transactional read each, as
    TransactGetItems charges), not the write units of the first call, and no index units."""
    for action, old in zip(actions, olds, strict=True):
        capacity.charge(action.table.name, 2 * capacity.read_units(capacity.stored_size(old), True))


def _charge(actions: list[_Action], olds: list[bytes | None]) -> None:
    for action, old in zip(actions, olds, strict=True):
        size = max(capacity.stored_size(old), item_size(action.item) if action.item is not None else 0)
        capacity.charge(action.table.name, 2 * capacity.write_units(size))
        if action.kind not in ("Put", "Delete", "Update"):
            continue
        old_item = load(old)
        if action.kind == "Update":  # the committed item again: the update is a pure function of the old one
            new_item = updated_item(action.update, action.key, old_item)
            if new_item is None:  # nothing changed
                continue
        else:
            new_item = action.item if action.kind == "Put" else None
        capacity.charge_indexes(action.table.name, indexes_of(action.table), old_item, new_item, factor=2)
