"""Plain Python values <-> DynamoDB attribute values, like ``boto3.dynamodb.types`` but exact and faster.

    str -> S        int / float / Decimal -> N (read back as Decimal)     bytes / bytearray -> B (read back as bytes)
    bool -> BOOL    None -> NULL     dict -> M     list / tuple -> L     set of str / numbers / bytes -> SS / NS / BS

Floats are accepted (boto3 refuses them) and sent by their shortest repr, so 0.1 is stored as 0.1.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Callable, Mapping, Set
from decimal import Decimal
from typing import Any

__all__ = [
    "TypeDeserializer",
    "TypeSerializer",
    "deserialize",
    "deserialize_item",
    "serialize",
    "serialize_item",
]

Number = int | float | Decimal


def _number(value: Any) -> str:
    if isinstance(value, bool):
        raise TypeError("a bool is not a number here")
    if isinstance(value, int):
        return str(int(value))  # int(): an IntEnum's str() may be its name
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"DynamoDB cannot store {value!r}")
        return repr(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"DynamoDB cannot store {value!r}")
        return str(value)
    raise TypeError(f"{type(value).__name__} is not a number")


def _set(value: Set[Any]) -> dict[str, Any]:
    if not value:
        raise ValueError("DynamoDB cannot store an empty set")
    if all(isinstance(x, str) for x in value):
        return {"SS": list(value)}
    if all(isinstance(x, bytes | bytearray) for x in value):
        return {"BS": [bytes(x) for x in value]}
    if all(isinstance(x, int | float | Decimal) and not isinstance(x, bool) for x in value):
        return {"NS": [_number(x) for x in value]}
    raise TypeError("a set must hold only strings, only numbers or only bytes")


def _map(value: Mapping[str, Any]) -> dict[str, Any]:
    return {"M": {k: serialize(v) for k, v in value.items()}}


def _list(value: Any) -> dict[str, Any]:
    return {"L": [serialize(v) for v in value]}


_SERIALIZERS: dict[type, Callable[[Any], dict[str, Any]]] = {
    str: lambda v: {"S": v},
    int: lambda v: {"N": str(v)},
    bool: lambda v: {"BOOL": v},
    type(None): lambda v: {"NULL": True},
    float: lambda v: {"N": _number(v)},
    Decimal: lambda v: {"N": _number(v)},
    bytes: lambda v: {"B": v},
    bytearray: lambda v: {"B": bytes(v)},
    dict: _map,
    list: _list,
    tuple: _list,
    set: _set,
    frozenset: _set,
}


def serialize(value: Any) -> dict[str, Any]:
    """One plain value as a DynamoDB attribute value."""
    fn = _SERIALIZERS.get(type(value))
    if fn is not None:
        return fn(value)
    # subclasses (IntEnum, OrderedDict, ...) take the slow path
    if isinstance(value, bool):
        return {"BOOL": bool(value)}
    if isinstance(value, str):
        return {"S": str(value)}
    if isinstance(value, int | float | Decimal):
        return {"N": _number(value)}
    if isinstance(value, bytes | bytearray | memoryview):
        return {"B": bytes(value)}
    if isinstance(value, Mapping):
        return _map(value)
    if isinstance(value, Set):
        return _set(value)
    if isinstance(value, list | tuple):
        return _list(value)
    raise TypeError(f"cannot store a {type(value).__name__} in DynamoDB")


def serialize_item(item: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """A mapping of plain values (an item, a key, ExpressionAttributeValues) as attribute values."""
    return {k: serialize(v) for k, v in item.items()}


def _bytes(value: Any) -> bytes:
    return value if isinstance(value, bytes) else base64.b64decode(value)


_DESERIALIZERS: dict[str, Callable[[Any], Any]] = {
    "S": lambda v: v,
    "N": Decimal,
    "BOOL": lambda v: v,
    "NULL": lambda v: None,
    "B": _bytes,
    "M": lambda v: {k: deserialize(x) for k, x in v.items()},
    "L": lambda v: [deserialize(x) for x in v],
    "SS": set,
    "NS": lambda v: {Decimal(x) for x in v},
    "BS": lambda v: {_bytes(x) for x in v},
}


def deserialize(value: Mapping[str, Any]) -> Any:
    """One DynamoDB attribute value as a plain value (numbers as Decimal, binary as bytes)."""
    for tag, inner in value.items():
        fn = _DESERIALIZERS.get(tag)
        if fn is None:
            raise TypeError(f"unknown attribute value type {tag!r}")
        return fn(inner)
    raise TypeError("empty attribute value")


def deserialize_item(item: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """A mapping of attribute values as plain values."""
    return {k: deserialize(v) for k, v in item.items()}


class TypeSerializer:
    """boto3's ``TypeSerializer`` interface."""

    def serialize(self, value: Any) -> dict[str, Any]:
        return serialize(value)


class TypeDeserializer:
    """boto3's ``TypeDeserializer`` interface."""

    def deserialize(self, value: Mapping[str, Any]) -> Any:
        return deserialize(value)
