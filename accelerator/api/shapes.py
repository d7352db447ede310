"""Declarative request shapes: field types, required members and constraints, checked in one pass.

A wrong JSON type is a SerializationException (the body does not deserialize into the operation's
input, as AWS reports it); a value outside a constraint is a ValidationException in AWS's
"N validation errors detected: Value ... at 'member' failed to satisfy constraint: ..." form.
Members the shape does not declare are ignored, as AWS ignores them.

Each shape is also compiled once into a predicate that only answers "valid or not" with no message
building; ``validate`` runs it first and walks the shape for AWS's messages only when it says no.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from accelerator.core.errors import SerializationException, ValidationException

__all__ = ["Field", "Shape", "validate", "STR", "BOOL", "INT", "MAP", "LIST", "ANY", "table_name", "enum"]

STR, BOOL, INT, MAP, LIST, ANY = "string", "boolean", "integer", "map", "list", "any"
_PY = {STR: str, BOOL: bool, MAP: dict, LIST: list}
_TABLE_NAME = re.compile(r"[a-zA-Z0-9_.-]+\Z")


@dataclass(frozen=True, slots=True)
class Field:
    """One member: its JSON type and constraints."""

    kind: str
    required: bool = False
    min_len: int | None = None
    max_len: int | None = None
    choices: tuple[str, ...] | None = None
    pattern: re.Pattern[str] | None = None
    minimum: int | None = None
    maximum: int | None = None
    shape: Shape | None = None
    items: Field | None = None
    values: Field | None = None
    element_len: tuple[int, int] | None = None
    """(min, max) length of every string in a list, reported on the list as AWS words a member constraint."""


@dataclass(frozen=True, slots=True)
class Shape:
    """A structure: members by wire name, plus an optional custom check run after them."""

    members: Mapping[str, Field]
    check: Callable[[dict[str, Any]], None] | None = field(default=None)
    valid: Callable[[dict[str, Any]], bool] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "valid", _compile_shape(self))


def table_name(required: bool = True) -> Field:
    return Field(STR, required=required, min_len=3, max_len=255, pattern=_TABLE_NAME)


def enum(*choices: str, required: bool = False) -> Field:
    return Field(STR, required=required, choices=choices)


def _member(path: str, name: str) -> str:
    label = name[:1].lower() + name[1:]
    return f"{path}.{label}" if path else label


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else str(value)
    return text if len(text) <= 100 else text[:100] + "..."


def _check(spec: Field, value: Any, path: str, errors: list[str]) -> None:
    kind = spec.kind
    if kind == INT:
        if isinstance(value, bool) or not isinstance(value, int):
            raise SerializationException(f"NUMBER_VALUE cannot be converted to an integer at '{path}'")
    elif kind != ANY and not isinstance(value, _PY[kind]):
        raise SerializationException(f"Unexpected value type in payload at '{path}': expected {kind}")
    if spec.choices is not None and value not in spec.choices:
        errors.append(f"Value '{_short(value)}' at '{path}' failed to satisfy constraint: Member must satisfy "
                      f"enum value set: [{', '.join(spec.choices)}]")
    if spec.min_len is not None and len(value) < spec.min_len:
        errors.append(f"Value '{_short(value)}' at '{path}' failed to satisfy constraint: Member must have "
                      f"length greater than or equal to {spec.min_len}")
    if spec.max_len is not None and len(value) > spec.max_len:
        errors.append(f"Value '{_short(value)}' at '{path}' failed to satisfy constraint: Member must have "
                      f"length less than or equal to {spec.max_len}")
    if spec.pattern is not None and not spec.pattern.match(value):
        errors.append(f"Value '{_short(value)}' at '{path}' failed to satisfy constraint: Member must satisfy "
                      f"regular expression pattern: {spec.pattern.pattern.rstrip('Z').rstrip(chr(92))}")
    if spec.minimum is not None and value < spec.minimum:
        errors.append(f"Value '{value}' at '{path}' failed to satisfy constraint: Member must have value "
                      f"greater than or equal to {spec.minimum}")
    if spec.maximum is not None and value > spec.maximum:
        errors.append(f"Value '{value}' at '{path}' failed to satisfy constraint: Member must have value "
                      f"less than or equal to {spec.maximum}")
    if spec.shape is not None:
        _walk(spec.shape, value, path, errors)
    if spec.element_len is not None and not _elements_fit(value, spec.element_len):
        shortest, longest = spec.element_len
        errors.append(f"Value '[{_short(', '.join(map(str, value)))}]' at '{path}' failed to satisfy constraint: "
                      f"Member must satisfy constraint: [Member must have length less than or equal to {longest}, "
                      f"Member must have length greater than or equal to {shortest}]")
    if spec.items is not None:
        for i, item in enumerate(value):
            _check(spec.items, item, f"{path}.{i + 1}.member", errors)
    if spec.values is not None:
        for key, item in value.items():
            if item is not None or spec.values.required:  # a null entry of a map is an absent one, unless required
                _check(spec.values, item, f"{path}.{key}.member", errors)


def _elements_fit(value: list[Any], bounds: tuple[int, int]) -> bool:
    return all(not isinstance(v, str) or bounds[0] <= len(v) <= bounds[1] for v in value)


def _walk(shape: Shape, body: dict[str, Any], path: str, errors: list[str]) -> None:
    for name, spec in shape.members.items():
        value = body.get(name)
        where = _member(path, name)
        if value is None:
            if name in body:  # a null member is an absent one: the operations never see None for it
                del body[name]
            if spec.required:
                errors.append(f"Value null at '{where}' failed to satisfy constraint: Member must not be null")
            continue
        _check(spec, value, where, errors)


def _compile_field(spec: Field) -> Callable[[Any], bool]:
    """A predicate true exactly when ``_check`` would report nothing for the value (None never passes)."""
    kind, choices, lo, hi = spec.kind, spec.choices, spec.min_len, spec.max_len
    pattern = spec.pattern.match if spec.pattern is not None else None
    minimum, maximum = spec.minimum, spec.maximum
    nested = spec.shape.valid if spec.shape is not None else None
    items = _compile_field(spec.items) if spec.items is not None else None
    values = _compile_field(spec.values) if spec.values is not None else None
    values_required = spec.values is not None and spec.values.required
    element_len = spec.element_len
    py = _PY.get(kind)

    def ok(value: Any) -> bool:
        if value is None:  # a null member: the walk removes it (or reports it), so it decides
            return False
        if kind == INT:
            if type(value) is bool or not isinstance(value, int):
                return False
        elif py is not None and not isinstance(value, py):
            return False
        if choices is not None and value not in choices:
            return False
        if (lo is not None and len(value) < lo) or (hi is not None and len(value) > hi):
            return False
        if pattern is not None and not pattern(value):
            return False
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            return False
        if nested is not None and not nested(value):
            return False
        if items is not None and not all(items(v) for v in value):
            return False
        if element_len is not None and not _elements_fit(value, element_len):
            return False
        if values is not None:
            for v in value.values():
                if v is None:
                    if values_required:
                        return False
                elif not values(v):
                    return False
        return True

    return ok


def _compile_shape(shape: Shape) -> Callable[[dict[str, Any]], bool]:
    """A predicate true when walking ``shape`` over a body would change nothing and report nothing."""
    checks = {name: _compile_field(spec) for name, spec in shape.members.items()}
    required = frozenset(name for name, spec in shape.members.items() if spec.required)

    def valid(body: dict[str, Any]) -> bool:
        for name, value in body.items():
            check = checks.get(name)
            if check is not None and not check(value):  # a null member too: the walk removes it
                return False
        return body.keys() >= required

    return valid


def validate(shape: Shape, body: dict[str, Any]) -> None:
    """Check ``body`` against ``shape``; raise the first-layer error AWS would."""
    if shape.valid(body):
        if shape.check is not None:
            shape.check(body)
        return
    errors: list[str] = []
    _walk(shape, body, "", errors)
    if errors:
        count = len(errors)
        noun = "error" if count == 1 else "errors"
        raise ValidationException(f"{count} validation {noun} detected: " + "; ".join(errors))
    if shape.check is not None:
        shape.check(body)
