"""Key encoding (order preservation, round trips, scan segments) and value validation of the core package."""

from __future__ import annotations

import base64
from decimal import Decimal
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accelerator.core.errors import SerializationException, ValidationException
from accelerator.core.keys import (
    HASH_SPACE,
    KeySchema,
    decode_key_value,
    decode_number,
    encode_key_value,
    encode_number,
    partition_hash,
    prefix_successor,
    segment_bounds,
)
from accelerator.core.values import MAX_ITEM_BYTES, item_size, normalize_number, validate_item, validate_value

# ----- numbers: strategies over DynamoDB's whole range (38 digits, magnitudes 1e-130 .. 9.99e125)


@st.composite
def dynamo_numbers(draw: st.DrawFn) -> str:
    """Number text DynamoDB accepts, in plain, scientific or padded spelling."""
    if draw(st.integers(0, 15)) == 0:
        return draw(st.sampled_from(["0", "-0", "0.000", "0e7", "+0"]))
    count = draw(st.integers(1, 38))
    digits = [draw(st.integers(1, 9))] + draw(
        st.lists(st.integers(0, 9), min_size=count - 1, max_size=count - 1)
    )
    adjusted = draw(st.one_of(st.integers(-130, 125), st.sampled_from([-130, -129, 0, 124, 125])))
    value = Decimal((draw(st.booleans()), tuple(digits), adjusted - (count - 1)))
    spelling = draw(st.sampled_from(["str", "plain", "sci", "padded"]))
    if spelling == "plain":
        return format(value, "f")
    if spelling == "sci":
        return format(value, "e")
    if spelling == "padded":
        return format(value, "f").replace("-", "-00") if value < 0 else "00" + format(value, "f")
    return str(value)


@st.composite
def number_pairs(draw: st.DrawFn) -> tuple[str, str]:
    """Two numbers, often near each other: one a digit prefix of the other, a last digit apart, or negated."""
    a = draw(dynamo_numbers())
    how = draw(st.sampled_from(["independent", "extend", "truncate", "bump", "negate"]))
    value = Decimal(normalize_number(a))
    negative, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    while digits and digits[-1] == 0:  # canonical text may end in zeros that are not significant
        digits, exponent = digits[:-1], exponent + 1
    if how == "independent" or not digits or value == 0:
        return a, draw(dynamo_numbers())
    if how == "negate":
        return a, str(-value)
    if how == "extend" and len(digits) < 38:
        more = draw(st.lists(st.integers(0, 9), min_size=1, max_size=38 - len(digits)))
        return a, str(Decimal((negative, digits + tuple(more), exponent - len(more))))
    if how == "truncate" and len(digits) > 1:
        cut = draw(st.integers(1, len(digits) - 1))
        return a, str(Decimal((negative, digits[:cut], exponent + len(digits) - cut)))
    last = min(9, max(0, digits[-1] + draw(st.sampled_from([-1, 1]))))
    return a, str(Decimal((negative, digits[:-1] + (last,), exponent)))


def sign(x: Any) -> int:
    return (x > 0) - (x < 0)


def compare(a: Any, b: Any) -> int:
    return sign((a > b) - (a < b))


@settings(max_examples=400)
@given(number_pairs())
def test_number_encoding_preserves_decimal_order(pair: tuple[str, str]) -> None:
    a, b = pair
    ea, eb = encode_number(normalize_number(a)), encode_number(normalize_number(b))
    assert compare(ea, eb) == compare(Decimal(a), Decimal(b))


@settings(max_examples=400)
@given(dynamo_numbers())
def test_number_round_trip_gives_canonical_text(text: str) -> None:
    canonical = normalize_number(text)
    assert decode_number(encode_number(canonical)) == canonical
    assert Decimal(canonical) == Decimal(text)
    assert normalize_number(canonical) == canonical


@pytest.mark.parametrize(("text", "canonical"), [
    ("5", "5"), ("-5", "-5"), ("0", "0"), ("-0", "0"), ("007", "7"), ("-007", "-7"), ("100", "100"),
    ("1" * 38, "1" * 38), ("-" + "9" * 38, "-" + "9" * 38), ("+5", "5"), ("1e2", "100"), ("1.50", "1.5"),
])
def test_integer_fast_path_agrees_with_the_decimal_path(text: str, canonical: str) -> None:
    assert normalize_number(text) == canonical


@pytest.mark.parametrize("text", ["", "-", "--5", "5-", " 5", "5 ", "1" * 39, "١٢", "²", "５", "0x10", "1_000"])
def test_numbers_dynamodb_refuses(text: str) -> None:
    """ASCII digits only (Python's ``\\d`` and ``isdigit`` also take other scripts' digits), at most 38."""
    with pytest.raises(ValidationException):
        normalize_number(text)


@given(st.lists(dynamo_numbers(), max_size=30))
def test_sorting_by_encoding_sorts_numerically(texts: list[str]) -> None:
    by_bytes = sorted(texts, key=lambda t: encode_number(normalize_number(t)))
    assert [Decimal(t) for t in by_bytes] == sorted(Decimal(t) for t in texts)


def test_number_encoding_landmarks_are_strictly_increasing() -> None:
    ladder = [
        "-" + "9" * 38 + "e88",  # the most negative: -9.99...9e125
        "-1e125",
        "-10",
        "-2",
        "-1.5",
        "-1.05",
        "-1",
        "-0.5",
        "-1e-130",
        "0",
        "1e-130",
        "0.5",
        "1",
        "1.05",
        "1.5",
        "2",
        "10",
        "1e125",
        "9" * 38 + "e88",
    ]
    encoded = [encode_number(normalize_number(t)) for t in ladder]
    assert all(a < b for a, b in pairwise(encoded))
    assert normalize_number(ladder[0]) == "-" + "9" * 38 + "0" * 88


# ----- strings and binaries


@given(st.text(), st.text())
def test_string_keys_sort_by_utf8_bytes(a: str, b: str) -> None:
    ea, eb = encode_key_value("S", a), encode_key_value("S", b)
    assert compare(ea, eb) == compare(a.encode(), b.encode()) == compare(a, b)
    assert decode_key_value("S", ea) == {"S": a}


@given(st.binary(), st.binary())
def test_binary_keys_sort_by_raw_bytes(a: bytes, b: bytes) -> None:
    ea = encode_key_value("B", base64.b64encode(a).decode())
    eb = encode_key_value("B", base64.b64encode(b).decode())
    assert (ea, eb) == (a, b)
    assert decode_key_value("B", ea) == {"B": base64.b64encode(a).decode()}


@given(dynamo_numbers())
def test_number_key_value_round_trip(text: str) -> None:
    canonical = normalize_number(text)
    assert decode_key_value("N", encode_key_value("N", canonical)) == {"N": canonical}


# ----- prefix_successor, partition_hash, segment_bounds


@given(st.binary(max_size=6), st.binary(max_size=8))
def test_prefix_successor_bounds_exactly_the_prefixed_strings(prefix: bytes, other: bytes) -> None:
    successor = prefix_successor(prefix)
    for s in (other, prefix + other, prefix + b"\xff" * 3):
        in_range = prefix <= s and (successor is None or s < successor)
        assert in_range == s.startswith(prefix)


def test_prefix_successor_examples() -> None:
    assert prefix_successor(b"ab") == b"ac"
    assert prefix_successor(b"a\xff\xff") == b"b"
    assert prefix_successor(b"\xff\xff") is None
    assert prefix_successor(b"") is None


def test_partition_hash_is_stable() -> None:
    # Stored on disk (SQLite's h column): changing the hash function would need a data migration.
    assert partition_hash(b"abc") == 891568578
    assert 0 <= partition_hash(b"\xff" * 2048) < HASH_SPACE


@given(st.integers(1, 1_000_000), st.integers(0, HASH_SPACE - 1))
def test_segments_partition_the_hash_space(total: int, h: int) -> None:
    segment = h * total // HASH_SPACE
    lo, hi = segment_bounds(segment, total)
    assert lo <= h < hi
    assert segment_bounds(0, total)[0] == 0 and segment_bounds(total - 1, total)[1] == HASH_SPACE
    if segment + 1 < total:
        assert segment_bounds(segment + 1, total)[0] == hi
    assert lo < hi


@pytest.mark.parametrize("total", [1, 2, 3, 7, 1000])
def test_segments_are_contiguous(total: int) -> None:
    bounds = [segment_bounds(s, total) for s in range(total)]
    assert bounds[0][0] == 0 and bounds[-1][1] == HASH_SPACE
    assert all(a[1] == b[0] and a[0] < a[1] for a, b in pairwise(bounds))


# ----- KeySchema


def test_key_schema_encodes_and_decodes() -> None:
    schema = KeySchema("user", "S", "n", "N")
    item = {"user": {"S": "ann"}, "n": {"N": "01.50"}, "other": {"S": "x"}}
    pk, sk = schema.key_of_item(item)
    assert pk == b"ann" and sk == encode_number("1.5")
    assert item["n"] == {"N": "1.5"}  # normalised in place
    assert schema.decode(pk, sk) == {"user": {"S": "ann"}, "n": {"N": "1.5"}}
    assert schema.key_item(item) == {"user": {"S": "ann"}, "n": {"N": "1.5"}}
    assert KeySchema("id", "B").key_of_request({"id": {"B": "AAE="}}) == (b"\x00\x01", b"")


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ({"user": {"S": "a"}}, "The provided key element does not match the schema"),
        ({"user": {"S": "a"}, "n": {"N": "1"}, "x": {"S": "y"}}, "does not match the schema"),
        ({"user": {"N": "1"}, "n": {"N": "1"}}, "Type mismatch for key user expected: S actual: N"),
        ({"user": {"S": ""}, "n": {"N": "1"}}, "cannot contain an empty string value. Key: user"),
        ({"user": {"S": "a" * 2049}, "n": {"N": "1"}}, "Size of hashkey has exceeded"),
        ({"user": {"S": "a"}, "n": {"N": "x"}}, "cannot be converted to a numeric value"),
    ],
)
def test_key_schema_rejects_bad_keys(key: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationException, match=message.replace("(", r"\(")):
        KeySchema("user", "S", "n", "N").key_of_request(key)


def test_key_schema_limits_sort_key_size() -> None:
    schema = KeySchema("p", "S", "s", "B")
    schema.key_of_item({"p": {"S": "a"}, "s": {"B": base64.b64encode(b"x" * 1024).decode()}})
    with pytest.raises(ValidationException, match="range keys has exceeded"):
        schema.key_of_item({"p": {"S": "a"}, "s": {"B": base64.b64encode(b"x" * 1025).decode()}})
    with pytest.raises(ValidationException, match="Missing the key s"):
        schema.key_of_item({"p": {"S": "a"}})


# ----- normalize_number


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("1.0", "1"),
        ("0.10", "0.1"),
        ("-0", "0"),
        ("+5", "5"),
        (".5", "0.5"),
        ("5.", "5"),
        ("00012.3400", "12.34"),
        ("1e2", "100"),
        ("1E-3", "0.001"),
        ("-1.5e1", "-15"),
        ("123456789012345678901234567890123456.78", "123456789012345678901234567890123456.78"),
        ("1" + "0" * 60, "1" + "0" * 60),  # trailing zeros are not significant digits
        ("1e125", "1" + "0" * 125),
        ("1e-130", "0." + "0" * 129 + "1"),
        ("-9.9e-5", "-0.000099"),
    ],
)
def test_normalize_number(text: str, canonical: str) -> None:
    assert normalize_number(text) == canonical


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1" * 39, "more than 38 significant digits"),
        ("1.00000000000000000000000000000000000001", "more than 38 significant digits"),
        ("1e126", "Number overflow"),
        ("-1e126", "Number overflow"),
        ("1e999999999999999999", "Number overflow"),
        ("1e-131", "Number underflow"),
        ("abc", "cannot be converted to a numeric value"),
        ("", "cannot be converted to a numeric value"),
        ("1e", "cannot be converted to a numeric value"),
        ("NaN", "cannot be converted to a numeric value"),
        ("Infinity", "cannot be converted to a numeric value"),
        (" 1", "cannot be converted to a numeric value"),
        ("1 ", "cannot be converted to a numeric value"),
        ("0x10", "cannot be converted to a numeric value"),
        ("1_000", "cannot be converted to a numeric value"),
        ("--1", "cannot be converted to a numeric value"),
    ],
)
def test_normalize_number_rejects(text: Any, message: str) -> None:
    with pytest.raises(ValidationException, match=message):
        normalize_number(text)


def test_normalize_number_wrong_json_type() -> None:
    with pytest.raises(SerializationException, match="NUMBER_VALUE cannot be converted to String"):
        normalize_number(1)


# ----- validate_item


def nested(levels: int, container: str) -> dict[str, Any]:
    value: dict[str, Any] = {"S": "leaf"}
    for _ in range(levels):
        value = {"L": [value]} if container == "L" else {"M": {"k": value}}
    return value


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"SS": []}, "An string set  may not be empty"),
        ({"NS": []}, "An number set  may not be empty"),
        ({"BS": []}, "Binary sets should not be empty"),
        ({"SS": ["a", "a"]}, "contains duplicates"),
        ({"NS": ["1", "1.0"]}, "contains duplicates"),  # equal after normalisation
        ({"BS": ["AA==", "AA=="]}, "contains duplicates"),
        ({"NULL": False}, "Null attribute value types must have the value of true"),
        ({"S": "a", "N": "1"}, "more than one datatypes"),
        ({}, "Supplied AttributeValue is empty"),
        ({"X": "a"}, "Supplied AttributeValue is empty"),
        (nested(40, "L"), "Nesting Levels have exceeded supported limits"),
        (nested(40, "M"), "Nesting Levels have exceeded supported limits"),
    ],
)
def test_validate_item_rejects(value: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationException, match=message):
        validate_item({"id": {"S": "x"}, "attr": value})


@pytest.mark.parametrize("value", [{"BOOL": "true"}, {"S": 5}, {"N": 5}, {"M": []}, {"L": {}}, {"B": "not base64!"},
                                   {"BS": ["YR=="]}, {"B": 5}])
def test_validate_item_wrong_json_type(value: dict[str, Any]) -> None:
    with pytest.raises(SerializationException, match="can ?not be converted to"):
        validate_item({"id": {"S": "x"}, "attr": value})


def test_validate_item_accepts_and_normalises() -> None:
    item = {
        "id": {"S": "x"},
        "n": {"N": "010.0"},
        "ns": {"NS": ["1.50", "2"]},
        "deep": nested(31, "L"),
        "map": {"M": {"inner": {"N": "-0.0"}}},
    }
    validate_item(item)
    assert item["n"] == {"N": "10"}
    assert item["ns"] == {"NS": ["1.5", "2"]}
    assert item["map"] == {"M": {"inner": {"N": "0"}}}
    with pytest.raises(ValidationException, match="AttributeName cannot be empty"):
        validate_item({"": {"S": "x"}})
    with pytest.raises(ValidationException):
        validate_item([{"S": "x"}])
    validate_value({"L": []})
    validate_value({"M": {}})


def test_validate_item_size_limit() -> None:
    # Size counts attribute names plus values: "a" + (MAX - 1) bytes is exactly the limit.
    exact = {"a": {"S": "x" * (MAX_ITEM_BYTES - 1)}}
    assert validate_item(exact) == MAX_ITEM_BYTES == 400 * 1024
    with pytest.raises(ValidationException, match="Item size has exceeded the maximum allowed size"):
        validate_item({"a": {"S": "x" * MAX_ITEM_BYTES}})
    assert item_size({"ab": {"S": "é"}, "b": {"BOOL": True}, "c": {"NULL": True}}) == 2 + 2 + 1 + 1 + 1 + 1
