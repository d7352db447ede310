"""Property tests: evaluate() against a direct model of DynamoDB's comparison rules on random N/S/B values."""

from __future__ import annotations

import base64
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accelerator.core.errors import ValidationException
from accelerator.core.values import normalize_number
from accelerator.expressions import ExpressionContext, evaluate, parse_condition

AV = dict[str, Any]

# Numbers of DynamoDB's range: up to 38 significant digits, exponents well inside -130..125.
_numbers = st.builds(
    lambda digits, exponent, negative: normalize_number(f"{'-' if negative else ''}{digits}E{exponent}"),
    st.integers(min_value=0, max_value=10**38 - 1), st.integers(min_value=-60, max_value=60), st.booleans(),
)
# Small pools make equal and prefix-related values likely enough to exercise every branch.
_texts = st.one_of(st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=6),
                   st.sampled_from(["", "a", "ab", "abc", "b", "é", "\uffff", "\U00010000", "\U0001d11e"]))
_bytes = st.one_of(st.binary(max_size=6), st.sampled_from([b"", b"\x00", b"\x00\x01", b"\x7f", b"\x80", b"\xff"]))
values = st.one_of(
    _numbers.map(lambda n: {"N": n}),
    # Stored and request numbers are canonical (the core normalizes them), so the model sees canonical text too.
    st.sampled_from(["0", "1", "-1", "10", "1.5", "-0.25", "1E+100"]).map(lambda n: {"N": normalize_number(n)}),
    _texts.map(lambda s: {"S": s}),
    _bytes.map(lambda b: {"B": base64.b64encode(b).decode()}),
)


def key(value: AV) -> tuple[str, Any]:
    """The model's view of a value: its type and a Python value ordered the way DynamoDB orders it."""
    ((tag, inner),) = value.items()
    if tag == "N":
        return tag, Decimal(inner)
    if tag == "S":
        return tag, inner.encode("utf-8")  # DynamoDB orders strings by UTF-8 bytes
    return tag, base64.b64decode(inner)


def model_compare(op: str, a: AV, b: AV) -> bool:
    (ta, va), (tb, vb) = key(a), key(b)
    if op == "=":
        return ta == tb and va == vb
    if op == "<>":
        return not (ta == tb and va == vb)
    if ta != tb:
        return False
    return {"<": va < vb, "<=": va <= vb, ">": va > vb, ">=": va >= vb}[op]


def run(text: str, item: dict[str, AV], vals: dict[str, AV]) -> bool:
    return evaluate(parse_condition(text), item, ExpressionContext(None, vals or None))


@settings(max_examples=400, deadline=None)
@given(a=values, b=values, op=st.sampled_from(["=", "<>", "<", "<=", ">", ">="]))
def test_comparisons_match_model(a, b, op):
    expected = model_compare(op, a, b)
    assert run(f"x {op} :v", {"x": a}, {":v": b}) is expected
    assert run(f":v {op} x", {"x": b}, {":v": a}) is expected
    assert run(f"x {op} y", {"x": a, "y": b}, {}) is expected


@settings(max_examples=400, deadline=None)
@given(x=values, low=values, high=values)
def test_between_matches_model(x, low, high):
    (tx, vx), (tl, vl), (th, vh) = key(x), key(low), key(high)
    item = {"x": x, "lo": low, "hi": high}
    with_paths = run("x BETWEEN lo AND hi", item, {})
    assert with_paths is (tx == tl == th and vl <= vx <= vh)
    if tl != th or vl > vh:
        with pytest.raises(ValidationException):
            run("x BETWEEN :lo AND :hi", {"x": x}, {":lo": low, ":hi": high})
    else:
        assert run("x BETWEEN :lo AND :hi", {"x": x}, {":lo": low, ":hi": high}) is with_paths


@settings(max_examples=300, deadline=None)
@given(x=values, options=st.lists(values, min_size=1, max_size=6))
def test_in_matches_model(x, options):
    expected = any(model_compare("=", x, option) for option in options)
    refs = {f":o{i}": option for i, option in enumerate(options)}
    assert run(f"x IN ({', '.join(refs)})", {"x": x}, refs) is expected


@settings(max_examples=400, deadline=None)
@given(x=values, prefix=values)
def test_begins_with_matches_model(x, prefix):
    (tx, vx), (tp, vp) = key(x), key(prefix)
    if tp not in ("S", "B"):
        with pytest.raises(ValidationException):
            run("begins_with(x, :p)", {"x": x}, {":p": prefix})
        return
    expected = tx == tp and vx.startswith(vp)
    assert run("begins_with(x, :p)", {"x": x}, {":p": prefix}) is expected


@settings(max_examples=200, deadline=None)
@given(a=values, b=values)
def test_not_negates_and_missing_attribute_is_never_comparable(a, b):
    assert run("NOT x = :v", {"x": a}, {":v": b}) is not model_compare("=", a, b)
    for op in ("=", "<", "<=", ">", ">="):
        assert run(f"absent {op} :v", {"x": a}, {":v": b}) is False
    assert run("absent <> :v", {"x": a}, {":v": b}) is True
