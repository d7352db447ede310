"""Binary values are checked when the request is read, as DynamoDB deserializes them: before anything else.

DynamoDB turns base64 text into bytes while it deserializes the body, so a B or BS value that is not
canonical base64 is a SerializationException whatever else is wrong with the request (a table that does not
exist, a bad expression). The engine decodes binary values where it uses them, after such checks; this pass
finds every attribute value the operation's input can hold and decodes its binary members first. It only
runs when the body holds a ``"B"`` or ``"BS"`` key at all, so requests without binary values pay one bytes
search.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from accelerator.core.values import decode_binary

__all__ = ["check_binary"]


def _value(av: Any) -> None:
    """Decode the binary members of one attribute value, nested ones included."""
    if not isinstance(av, dict) or len(av) != 1:
        return  # not an attribute value's shape: the engine words that
    ((tag, inner),) = av.items()
    if tag == "B":
        if inner is not None:  # a null member is an empty value: the engine's ValidationException
            decode_binary(inner)
    elif tag == "BS" and isinstance(inner, list):
        for element in inner:
            if element is not None:  # a null member is the engine's ValidationException
                decode_binary(element)
    elif tag == "M" and isinstance(inner, dict):
        _values(inner.values())
    elif tag == "L" and isinstance(inner, list):
        _values(inner)


def _values(avs: Iterable[Any]) -> None:
    for av in avs:
        _value(av)


def _map(item: Any) -> None:
    """An Item, Key or ExclusiveStartKey: attribute name -> value."""
    if isinstance(item, dict):
        _values(item.values())


def _conditions(conditions: Any) -> None:
    """Expected, KeyConditions, QueryFilter, ScanFilter: name -> {Value, AttributeValueList}."""
    if not isinstance(conditions, dict):
        return
    for condition in conditions.values():
        if isinstance(condition, dict):
            _value(condition.get("Value"))
            listed = condition.get("AttributeValueList")
            if isinstance(listed, list):
                _values(listed)


def _updates(updates: Any) -> None:
    """AttributeUpdates: name -> {Action, Value}."""
    if isinstance(updates, dict):
        for update in updates.values():
            if isinstance(update, dict):
                _value(update.get("Value"))


def _single(req: dict[str, Any]) -> None:
    """The members of one item operation (also a transaction's action, a batch's table)."""
    for member in ("Item", "Key", "ExclusiveStartKey"):
        _map(req.get(member))
    _map(req.get("ExpressionAttributeValues"))
    for member in ("Expected", "KeyConditions", "QueryFilter", "ScanFilter"):
        _conditions(req.get(member))
    _updates(req.get("AttributeUpdates"))


def _batch_get(req: dict[str, Any]) -> None:
    items = req.get("RequestItems")
    if isinstance(items, dict):
        for spec in items.values():
            if isinstance(spec, dict) and isinstance(spec.get("Keys"), list):
                for key in spec["Keys"]:
                    _map(key)


def _batch_write(req: dict[str, Any]) -> None:
    items = req.get("RequestItems")
    if isinstance(items, dict):
        for requests in items.values():
            for request in requests if isinstance(requests, list) else ():
                if isinstance(request, dict):
                    for body in request.values():
                        if isinstance(body, dict):
                            _single(body)


def _transaction(req: dict[str, Any]) -> None:
    actions = req.get("TransactItems")
    for action in actions if isinstance(actions, list) else ():
        if isinstance(action, dict):
            for body in action.values():
                if isinstance(body, dict):
                    _single(body)


_BY_OPERATION: dict[str, Callable[[dict[str, Any]], None]] = {
    "BatchGetItem": _batch_get, "BatchWriteItem": _batch_write,
    "TransactGetItems": _transaction, "TransactWriteItems": _transaction,
}
_SINGLE = frozenset(("GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan"))


def check_binary(operation: str, body: bytes, request: dict[str, Any]) -> None:
    """Raise DynamoDB's SerializationException for a binary value that is not canonical base64."""
    if b'"B"' not in body and b'"BS"' not in body:
        return
    if operation in _SINGLE:
        _single(request)
    else:
        walk = _BY_OPERATION.get(operation)
        if walk is not None:
            walk(request)
