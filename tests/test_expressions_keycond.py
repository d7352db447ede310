"""Key conditions: KeyConditionExpression and legacy KeyConditions to a partition value and sort-key range."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from accelerator.core.errors import ValidationException
from accelerator.core.keys import KeySchema, encode_key_value
from accelerator.expressions import (
    ExpressionContext,
    KeyCondition,
    analyze_key_condition,
    analyze_key_conditions,
    parse_key_condition,
)

NUM = KeySchema("p", "S", "c", "N")
STR = KeySchema("p", "S", "c", "S")
BIN = KeySchema("p", "S", "c", "B")
HASH = KeySchema("p", "S")


def analyze(text: str, schema: KeySchema, values: dict[str, Any], names: dict[str, str] | None = None) -> KeyCondition:
    ctx = ExpressionContext(names, values)
    result = analyze_key_condition(parse_key_condition(text), schema, ctx)
    ctx.check_unused()
    return result


def error(text: str, schema: KeySchema, values: dict[str, Any] | None = None, names: dict[str, str] | None = None) -> str:
    with pytest.raises(ValidationException) as info:
        analyze(text, schema, values or {":p": {"S": "x"}}, names)
    return info.value.message


def sk(schema: KeySchema, value: str) -> bytes:
    assert schema.range_type is not None
    return encode_key_value(schema.range_type, value)


def test_partition_only():
    result = analyze("p = :p", NUM, {":p": {"S": "x"}})
    assert (result.hash_name, result.hash_value, result.hash_key) == ("p", {"S": "x"}, b"x")
    assert result.op is None and result.lower is None and result.upper is None
    assert result.matches(sk(NUM, "5"))
    assert analyze(" p  =   :p ", HASH, {":p": {"S": "y"}}).hash_key == b"y"


@pytest.mark.parametrize(
    ("text", "op", "inside", "outside"),
    [
        ("p = :p AND c = :c", "=", ["5"], ["4", "6"]),
        ("p = :p AND c < :c", "<", ["4", "-10"], ["5", "6"]),
        ("p = :p AND c <= :c", "<=", ["5", "4.99"], ["5.01"]),
        ("p = :p AND c > :c", ">", ["6", "100"], ["5", "-5"]),
        ("p = :p AND c >= :c", ">=", ["5", "5.5"], ["4"]),
        (":p = p AND :c < c", ">", ["6"], ["5"]),
        ("c >= :c AND p = :p", ">=", ["5"], ["4"]),
        ("((c=:c) AND (p=:p))", "=", ["5"], ["4"]),
    ],
)
def test_numeric_sort_key_ranges(text, op, inside, outside):
    result = analyze(text, NUM, {":p": {"S": "x"}, ":c": {"N": "5"}})
    assert result.op == op and result.values == ({"N": "5"},)
    for value in inside:
        assert result.matches(sk(NUM, value)), value
    for value in outside:
        assert not result.matches(sk(NUM, value)), value


def test_between_and_case_insensitive_keywords():
    result = analyze("p=:p AnD c BeTwEeN :a aNd :b", NUM, {":p": {"S": "x"}, ":a": {"N": "4"}, ":b": {"N": "7"}})
    assert result.op == "BETWEEN" and result.lower_inclusive and result.upper_inclusive
    assert [v for v in ("3", "4", "5.5", "7", "8") if result.matches(sk(NUM, v))] == ["4", "5.5", "7"]


def test_begins_with_on_strings_and_binary():
    result = analyze("p = :p AND begins_with(c, :c)", STR, {":p": {"S": "x"}, ":c": {"S": "00"}})
    assert result.lower == b"00" and result.upper == b"01" and not result.upper_inclusive
    assert [v for v in ("0", "00", "001", "009", "01", "1") if result.matches(sk(STR, v))] == ["00", "001", "009"]
    prefix = base64.b64encode(b"\x01\xff").decode()
    result = analyze("p = :p AND begins_with(c, :c)", BIN, {":p": {"S": "x"}, ":c": {"B": prefix}})
    assert result.lower == b"\x01\xff" and result.upper == b"\x02"


def test_binary_bounds_are_unsigned():
    value = base64.b64encode(bytes([127])).decode()
    result = analyze("p = :p AND c > :c", BIN, {":p": {"S": "x"}, ":c": {"B": value}})
    assert result.matches(bytes([128])) and not result.matches(bytes([126]))


def test_names_through_placeholders():
    result = analyze("#a = :p AND #b = :c", NUM, {":p": {"S": "x"}, ":c": {"N": "3"}}, {"#a": "p", "#b": "c"})
    assert result.op == "=" and result.range_name == "c"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("p = :p AND p = :p", "KeyConditionExpressions must only contain one condition per key"),
        ("p < :p", "Query key condition not supported"),
        ("c = :c", "Query condition missed key schema element: p"),
        ("p = :p AND a < :c", "Query condition missed key schema element: c"),
        ("p = :p AND c < :c AND a < :c", "Conditions can be of length 1 or 2 only"),
        ("p = :p AND c <> :c", "Invalid operator used in KeyConditionExpression: <>"),
        ("p = :p AND c IN (:c)", "Invalid operator used in KeyConditionExpression: IN"),
        ("c = :c OR p = :p", "Invalid operator used in KeyConditionExpression: OR"),
        ("NOT c = :c AND p = :p", "Invalid operator used in KeyConditionExpression: NOT"),
        ("p = :p AND attribute_exists(c)", "Invalid operator used in KeyConditionExpression: attribute_exists"),
        ("p = :p AND contains(c, :c)", "Invalid operator used in KeyConditionExpression: contains"),
        ("p = :p AND size(c) = :c", "KeyConditionExpressions cannot contain nested operations"),
        ("p = :p AND a.b < :c", "KeyConditionExpressions cannot have conditions on nested attributes"),
        ("p = c", "Invalid condition in KeyConditionExpression: Multiple attribute names used in one condition"),
        (":p = :c", "Invalid condition in KeyConditionExpression: No key attribute specified"),
        ("p = :p AND :c BETWEEN c AND :c",
         "Invalid condition in KeyConditionExpression: BETWEEN operator must have the key attribute as its first operand"),
        ("p = :p AND begins_with(:c, c)",
         "Invalid condition in KeyConditionExpression: begins_with operator must have the key attribute as its first operand"),
    ],
)
def test_key_condition_errors(text, message):
    values = {":p": {"S": "x"}}
    if ":c" in text:
        values[":c"] = {"S": "3"} if "begins_with" in text else {"N": "3"}
    assert error(text, NUM, values) == message


def test_type_checks_against_schema():
    mismatch = "One or more parameter values were invalid: Condition parameter type does not match schema type"
    assert error("p = :n", NUM, {":n": {"N": "3"}}) == mismatch
    assert error("p = :p AND c = :s", NUM, {":p": {"S": "x"}, ":s": {"S": "hello"}}) == mismatch
    assert error("p = :p AND begins_with(c, :s)", NUM, {":p": {"S": "x"}, ":s": {"S": "1"}}) == mismatch
    assert error("p = :p AND begins_with(c, :n)", NUM, {":p": {"S": "x"}, ":n": {"N": "1"}}) == (
        "Invalid KeyConditionExpression: Incorrect operand type for operator or function; operator or function: "
        "begins_with, operand type: N"
    )
    assert "empty string value" in error("p = :e", NUM, {":e": {"S": ""}})


def test_expression_level_errors_come_first():
    assert error("p = :zz", NUM, {":p": {"S": "x"}}).startswith(
        "Invalid KeyConditionExpression: An expression attribute value used in expression is not defined"
    )
    assert "upper bound to be greater" in error(
        "p = :p AND c BETWEEN :a AND :b", NUM, {":p": {"S": "x"}, ":a": {"N": "7"}, ":b": {"N": "4"}}
    )
    with pytest.raises(ValidationException, match="^Invalid KeyConditionExpression: Syntax error"):
        parse_key_condition("p=:p AND c!=:c")
    with pytest.raises(ValidationException, match="^Invalid KeyConditionExpression: The expression can not be empty;$"):
        parse_key_condition("")
    with pytest.raises(ValidationException, match="Invalid function name; function: BEGINS_WITH"):
        parse_key_condition("p=:p AND BEGINS_WITH(c,:c)")


def test_hash_only_table_with_a_sort_condition():
    assert error("p = :p AND c = :c", HASH, {":p": {"S": "x"}, ":c": {"N": "3"}}) == "Query key condition not supported"


# -- legacy KeyConditions -----------------------------------------------------------------------------


def test_legacy_key_conditions():
    result = analyze_key_conditions(
        {"p": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "x"}]},
         "c": {"ComparisonOperator": "BETWEEN", "AttributeValueList": [{"N": "1"}, {"N": "3"}]}},
        NUM,
    )
    assert result.hash_key == b"x" and result.op == "BETWEEN"
    assert result.matches(sk(NUM, "2")) and not result.matches(sk(NUM, "4"))
    result = analyze_key_conditions(
        {"p": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "x"}]},
         "c": {"ComparisonOperator": "BEGINS_WITH", "AttributeValueList": [{"S": "ab"}]}},
        STR,
    )
    assert result.op == "begins_with" and result.matches(b"abc") and not result.matches(b"b")


@pytest.mark.parametrize(
    ("conditions", "message"),
    [
        ({"p": {"ComparisonOperator": "EQ", "AttributeValueList": []}},
         "One or more parameter values were invalid: Invalid number of argument(s) for the EQ ComparisonOperator"),
        ({"p": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "x"}]},
          "c": {"ComparisonOperator": "NE", "AttributeValueList": [{"N": "1"}]}},
         "Attempted conditional constraint is not an indexable operation"),
        ({"p": {"ComparisonOperator": "GT", "AttributeValueList": [{"S": "x"}]}}, "Query key condition not supported"),
        ({"c": {"ComparisonOperator": "EQ", "AttributeValueList": [{"N": "1"}]}},
         "Query condition missed key schema element: p"),
        ({"p": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "x"}]},
          "c": {"ComparisonOperator": "BETWEEN", "AttributeValueList": [{"N": "4"}, {"N": "3"}]}},
         "The BETWEEN condition was provided a range where the lower bound is greater than the upper bound"),
        ({}, "Conditions must not be null"),
    ],
)
def test_legacy_key_condition_errors(conditions, message):
    with pytest.raises(ValidationException) as info:
        analyze_key_conditions(conditions, NUM)
    assert info.value.message == message
