"""The compiled shape predicates agree with the walk: ``valid(body)`` only when the walk reports nothing.

Bodies are generated from each operation's own shape (seeded): members of the right type, of a wrong
type, null, out of their constraints, missing, unknown. ``validate`` must raise the same error (type and
message) and leave the same body as the reference walk for every one of them.
"""

from __future__ import annotations

import copy
import random
from typing import Any

import pytest

from accelerator.api import SHAPES
from accelerator.api.shapes import ANY, BOOL, INT, LIST, MAP, STR, Field, Shape, _walk, validate
from accelerator.core.errors import DynamoError, ValidationException


def _reference(shape: Shape, body: dict[str, Any]) -> tuple[str, str] | None:
    """What the walk alone decides (the code before compilation): None, or (error type, message)."""
    errors: list[str] = []
    try:
        _walk(shape, body, "", errors)
        if errors:
            noun = "error" if len(errors) == 1 else "errors"
            raise ValidationException(f"{len(errors)} validation {noun} detected: " + "; ".join(errors))
        if shape.check is not None:
            shape.check(body)
    except DynamoError as exc:
        return exc.type_name, exc.message
    return None


def _value(spec: Field, rng: random.Random, depth: int) -> Any:
    roll = rng.random()
    if roll < 0.04:
        return None
    if roll < 0.08:  # a wrong JSON type
        return rng.choice([7, "x", True, [], {}, 1.5])
    if spec.choices is not None:
        return rng.choice([*spec.choices, "NOPE"]) if rng.random() < 0.2 else rng.choice(spec.choices)
    kind = spec.kind
    if kind == STR:
        size = rng.choice([0, 1, 3, 8, 300]) if rng.random() < 0.2 else rng.randint(3, 12)
        return "".join(rng.choice("abcXYZ09_.-#$ ") if rng.random() < 0.1 else rng.choice("abc")
                       for _ in range(size))
    if kind == BOOL:
        return rng.random() < 0.5
    if kind == INT:
        lo = spec.minimum if spec.minimum is not None else -5
        hi = spec.maximum if spec.maximum is not None else 100
        return rng.randint(lo - 2, hi + 2)
    if kind == LIST:
        inner = spec.items or Field(ANY)
        return [_value(inner, rng, depth + 1) for _ in range(rng.choice([0, 1, 2, 3]))]
    if kind == MAP:
        if spec.shape is not None and depth < 4:
            return _body(spec.shape, rng, depth + 1)
        inner = spec.values or Field(ANY)
        return {f"k{i}": _value(inner, rng, depth + 1) for i in range(rng.choice([0, 1, 2]))}
    return rng.choice([{"S": "v"}, "x", 3, None, [1]])


def _body(shape: Shape, rng: random.Random, depth: int = 0) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for name, spec in shape.members.items():
        if spec.required and rng.random() < 0.95 or rng.random() < 0.3:
            body[name] = _value(spec, rng, depth)
    if rng.random() < 0.1:
        body["Unknown"] = 1
    return body


@pytest.mark.parametrize("operation", sorted(SHAPES))
def test_compiled_predicate_agrees_with_the_walk(operation: str) -> None:
    shape = SHAPES[operation]
    rng = random.Random(operation)
    passed = 0
    for _ in range(600):
        body = _body(shape, rng)
        expected_body = copy.deepcopy(body)
        expected = _reference(shape, expected_body)
        if shape.valid(copy.deepcopy(body)):
            passed += 1
            errors: list[str] = []
            walked = copy.deepcopy(body)
            _walk(shape, walked, "", errors)
            assert errors == [] and walked == body, (body, errors)
        try:
            validate(shape, body)
            got = None
        except DynamoError as exc:
            got = (exc.type_name, exc.message)
        assert got == expected, body
        assert body == expected_body
    assert passed > 0  # the fast path is exercised, not only the fallback


def test_a_null_member_is_removed_through_the_fallback() -> None:
    shape = SHAPES["GetItem"]
    body = {"TableName": "users", "Key": {"pk": {"S": "a"}}, "ProjectionExpression": None}
    assert not shape.valid(body)
    validate(shape, body)
    assert body == {"TableName": "users", "Key": {"pk": {"S": "a"}}}
