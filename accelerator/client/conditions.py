"""A small condition builder like ``boto3.dynamodb.conditions``: ``Key("pk").eq(1) & Attr("n").gt(2)``.

The table API turns a condition into expression text with ``#n0`` / ``:v0`` placeholders, merged into the
request's ExpressionAttributeNames / ExpressionAttributeValues (values stay plain Python values there).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

__all__ = ["Attr", "Condition", "Key", "build_expression"]

_PATH_PART = re.compile(r"([^.\[\]]+)((?:\[\d+\])*)")


class _Operand:
    """Something with a path: an attribute, a key, or ``size(path)``."""

    def __init__(self, name: str) -> None:
        self.name = name

    def _cond(self, op: str, *values: Any) -> Condition:
        return Condition(op, (self, *values))

    def eq(self, value: Any) -> Condition:
        return self._cond("=", value)

    def lt(self, value: Any) -> Condition:
        return self._cond("<", value)

    def lte(self, value: Any) -> Condition:
        return self._cond("<=", value)

    def gt(self, value: Any) -> Condition:
        return self._cond(">", value)

    def gte(self, value: Any) -> Condition:
        return self._cond(">=", value)

    def between(self, low: Any, high: Any) -> Condition:
        return self._cond("BETWEEN", low, high)

    def begins_with(self, prefix: Any) -> Condition:
        return self._cond("begins_with", prefix)


class Key(_Operand):
    """A key attribute, for KeyConditionExpression."""


class Size(_Operand):
    """``size(path)``, compared like a number."""

    def ne(self, value: Any) -> Condition:
        return self._cond("<>", value)


class Attr(_Operand):
    """Any attribute, for ConditionExpression and FilterExpression."""

    def ne(self, value: Any) -> Condition:
        return self._cond("<>", value)

    def is_in(self, values: list[Any]) -> Condition:
        return self._cond("IN", *values)

    def exists(self) -> Condition:
        return self._cond("attribute_exists")

    def not_exists(self) -> Condition:
        return self._cond("attribute_not_exists")

    def contains(self, value: Any) -> Condition:
        return self._cond("contains", value)

    def attribute_type(self, type_name: str) -> Condition:
        return self._cond("attribute_type", type_name)

    def size(self) -> Size:
        return Size(self.name)


@dataclass(frozen=True)
class Condition:
    """A comparison, a function, or AND / OR / NOT of other conditions."""

    op: str
    operands: tuple[Any, ...]

    def __and__(self, other: Condition) -> Condition:
        return Condition("AND", (self, other))

    def __or__(self, other: Condition) -> Condition:
        return Condition("OR", (self, other))

    def __invert__(self) -> Condition:
        return Condition("NOT", (self,))


class _Builder:
    def __init__(self, names: dict[str, str], values: dict[str, Any]) -> None:
        self.names = names
        self.values = values
        self._by_name = {v: k for k, v in names.items()}

    def path(self, name: str) -> str:
        parts = []
        for segment in name.split("."):
            match = _PATH_PART.fullmatch(segment)
            if match is None:
                raise ValueError(f"bad attribute path {name!r}")
            attr, index = match.groups()
            placeholder = self._by_name.get(attr)
            if placeholder is None:
                placeholder = f"#n{len(self.names)}"
                while placeholder in self.names:
                    placeholder += "_"
                self.names[placeholder] = attr
                self._by_name[attr] = placeholder
            parts.append(placeholder + index)
        return ".".join(parts)

    def operand(self, value: Any) -> str:
        if isinstance(value, Size):
            return f"size({self.path(value.name)})"
        if isinstance(value, _Operand):
            return self.path(value.name)
        placeholder = f":v{len(self.values)}"
        while placeholder in self.values:
            placeholder += "_"
        self.values[placeholder] = value
        return placeholder

    def build(self, cond: Condition) -> str:
        op, args = cond.op, cond.operands
        if op in ("AND", "OR"):
            return f"({self.build(args[0])} {op} {self.build(args[1])})"
        if op == "NOT":
            return f"(NOT {self.build(args[0])})"
        parts = [self.operand(a) for a in args]
        if op == "BETWEEN":
            return f"{parts[0]} BETWEEN {parts[1]} AND {parts[2]}"
        if op == "IN":
            return f"{parts[0]} IN ({', '.join(parts[1:])})"
        if op[0].isalpha():
            return f"{op}({', '.join(parts)})"
        return f"{parts[0]} {op} {parts[1]}"


def build_expression(cond: Condition, names: dict[str, str], values: dict[str, Any]) -> str:
    """The expression text for ``cond``; adds its placeholders to ``names`` and ``values`` (plain values)."""
    if not isinstance(cond, Condition):
        raise TypeError(f"expected a Condition, got {type(cond).__name__}")
    return _Builder(names, values).build(cond)
