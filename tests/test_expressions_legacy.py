"""Legacy parameters converted to expression trees: Expected, filters, AttributesToGet, AttributeUpdates."""

from __future__ import annotations

from typing import Any

import pytest

from accelerator.core.errors import ValidationException
from accelerator.expressions import (
    ExpressionContext,
    apply_update,
    bind,
    check_parameter_mix,
    evaluate,
    legacy_condition,
    legacy_filter,
    legacy_projection,
    legacy_update,
    project,
)

ITEM: dict[str, Any] = {"a": {"S": "hello"}, "b": {"NS": ["2", "4", "7"]}, "c": {"L": [{"N": "2"}, {"N": "4"}]},
                        "d": {"B": "aGkgdGhlcmU="}, "n": {"N": "3"}, "t": {"BOOL": True}}


def expected(spec: dict[str, Any], operator: str | None = None, item: dict[str, Any] | None = ITEM) -> bool:
    condition = legacy_condition(spec, operator)
    assert condition is not None
    return evaluate(condition, item)


def message(fn: Any, *args: Any) -> str:
    with pytest.raises(ValidationException) as info:
        fn(*args)
    return info.value.message


# -- Expected -------------------------------------------------------------------------------------------


def test_expected_value_and_exists():
    assert expected({"a": {"Value": {"S": "hello"}}})
    assert expected({"a": {"Value": {"S": "hello"}, "Exists": True}})
    assert not expected({"a": {"Value": {"S": "bye"}}})
    assert not expected({"zz": {"Value": {"S": "hello"}}})
    assert expected({"zz": {"Exists": False}})
    assert not expected({"a": {"Exists": False}})
    assert expected({"zz": {"Exists": False}}, item=None)


@pytest.mark.parametrize(
    ("spec", "result"),
    [
        ({"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "hello"}]}, True),
        ({"ComparisonOperator": "NE", "AttributeValueList": [{"S": "hello"}]}, False),
        ({"ComparisonOperator": "LT", "AttributeValueList": [{"S": "help"}]}, True),
        ({"ComparisonOperator": "GE", "AttributeValueList": [{"S": "hello"}]}, True),
        ({"ComparisonOperator": "BEGINS_WITH", "AttributeValueList": [{"S": "hell"}]}, True),
        ({"ComparisonOperator": "CONTAINS", "AttributeValueList": [{"S": "ell"}]}, True),
        ({"ComparisonOperator": "NOT_CONTAINS", "AttributeValueList": [{"S": "dog"}]}, True),
        ({"ComparisonOperator": "NOT_CONTAINS", "AttributeValueList": [{"S": "ell"}]}, False),
        ({"ComparisonOperator": "IN", "AttributeValueList": [{"S": "x"}, {"S": "hello"}]}, True),
        ({"ComparisonOperator": "BETWEEN", "AttributeValueList": [{"S": "a"}, {"S": "i"}]}, True),
        ({"ComparisonOperator": "NOT_NULL"}, True),
        ({"ComparisonOperator": "NULL"}, False),
        ({"ComparisonOperator": "EQ", "Value": {"S": "hello"}}, True),
    ],
)
def test_expected_comparison_operators(spec, result):
    assert expected({"a": spec}) is result


def test_contains_and_not_contains_on_sets_lists_and_binary():
    assert expected({"b": {"ComparisonOperator": "CONTAINS", "AttributeValueList": [{"N": "4"}]}})
    assert expected({"c": {"ComparisonOperator": "CONTAINS", "AttributeValueList": [{"N": "4"}]}})
    assert expected({"b": {"ComparisonOperator": "NOT_CONTAINS", "AttributeValueList": [{"N": "1"}]}})
    assert expected({"d": {"ComparisonOperator": "NOT_CONTAINS", "AttributeValueList": [{"B": "ZG9n"}]}})
    # Unlike NOT contains(), NOT_CONTAINS is false on a missing attribute; NE is true there.
    assert not expected({"q": {"ComparisonOperator": "NOT_CONTAINS", "AttributeValueList": [{"N": "1"}]}})
    assert expected({"q": {"ComparisonOperator": "NE", "AttributeValueList": [{"N": "1"}]}})


def test_in_checks_membership_of_the_attribute_value():
    assert expected({"n": {"ComparisonOperator": "IN", "AttributeValueList": [{"N": "2"}, {"N": "3"}]}})
    assert not expected({"b": {"ComparisonOperator": "IN", "AttributeValueList": [{"N": "2"}]}})


def test_conditional_operator():
    spec = {"a": {"Value": {"S": "hello"}}, "zz": {"Value": {"S": "x"}}}
    assert not expected(spec)
    assert not expected(spec, "AND")
    assert expected(spec, "OR")
    assert "enum value set: [AND, OR]" in message(legacy_condition, spec, "XOR")
    assert legacy_condition({}) is None


@pytest.mark.parametrize(
    ("spec", "text"),
    [
        ({"Value": {"S": "a"}, "AttributeValueList": [{"S": "a"}]}, "Value and AttributeValueList cannot be used together for Attribute: a"),
        ({"ComparisonOperator": "NULL", "Exists": True}, "Exists and ComparisonOperator cannot be used together for Attribute: a"),
        ({"ComparisonOperator": "EQ"}, "Value or AttributeValueList must be used with ComparisonOperator: EQ for Attribute: a"),
        ({"AttributeValueList": [{"S": "a"}]}, "AttributeValueList can only be used with a ComparisonOperator for Attribute: a"),
        ({"Exists": True}, "Value must be provided when Exists is true for Attribute: a"),
        ({}, "Value must be provided when Exists is null for Attribute: a"),
        ({"Exists": False, "Value": {"S": "a"}}, "Value cannot be used when Exists is false for Attribute: a"),
        ({"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "a"}, {"S": "b"}]}, "Invalid number of argument(s) for the EQ ComparisonOperator"),
        ({"ComparisonOperator": "IN", "AttributeValueList": []}, "Invalid number of argument(s) for the IN ComparisonOperator"),
        ({"ComparisonOperator": "NULL", "AttributeValueList": [{"S": "a"}]}, "Invalid number of argument(s) for the NULL ComparisonOperator"),
        ({"ComparisonOperator": "IN", "AttributeValueList": [{"N": "3"}, {"S": "dog"}]}, "AttributeValues inside AttributeValueList must be of same type"),
        ({"ComparisonOperator": "BEGINS_WITH", "AttributeValueList": [{"N": "3"}]}, "ComparisonOperator BEGINS_WITH is not valid for N AttributeValue type"),
        ({"ComparisonOperator": "CONTAINS", "AttributeValueList": [{"L": []}]}, "ComparisonOperator CONTAINS is not valid for L AttributeValue type"),
        ({"ComparisonOperator": "IN", "AttributeValueList": [{"L": []}]}, "ComparisonOperator IN is not valid for L AttributeValue type"),
        ({"ComparisonOperator": "BETWEEN", "AttributeValueList": [{"SS": ["1"]}, {"SS": ["2"]}]}, "ComparisonOperator BETWEEN is not valid for SS AttributeValue type"),
    ],
)
def test_expected_validation(spec, text):
    assert message(legacy_condition, {"a": spec}) == "One or more parameter values were invalid: " + text


def test_between_order_and_unknown_operator():
    assert message(legacy_condition, {"a": {"ComparisonOperator": "BETWEEN", "AttributeValueList": [{"N": "4"}, {"N": "3"}]}}) == (
        "The BETWEEN condition was provided a range where the lower bound is greater than the upper bound"
    )
    assert "Member must satisfy enum value set" in message(legacy_condition, {"a": {"ComparisonOperator": "LIKE"}})


# -- QueryFilter / ScanFilter ---------------------------------------------------------------------------


def test_filters():
    scan = legacy_filter({"n": {"ComparisonOperator": "GT", "AttributeValueList": [{"N": "2"}]},
                          "a": {"ComparisonOperator": "BEGINS_WITH", "AttributeValueList": [{"S": "x"}]}}, "OR", parameter="ScanFilter")
    assert scan is not None and evaluate(scan, ITEM)
    assert legacy_filter({}) is None
    assert message(legacy_filter, {"p": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "x"}]}}, None, ("p",)) == (
        "QueryFilter can only contain non-primary key attributes: Primary key attribute: p"
    )
    assert "Member must not be null" in message(legacy_filter, {"a": {"AttributeValueList": [{"S": "x"}]}})


# -- AttributesToGet --------------------------------------------------------------------------------------


def test_attributes_to_get():
    assert project(legacy_projection(["a", "n", "zz"]), ITEM) == {"a": ITEM["a"], "n": ITEM["n"]}
    # Names are literal: a dot is part of the name, not a path.
    assert project(legacy_projection(["x.y"]), {"x.y": {"S": "v"}, "x": {"M": {"y": {"S": "w"}}}}) == {"x.y": {"S": "v"}}
    assert message(legacy_projection, ["a", "a"]) == "One or more parameter values were invalid: Duplicate value in attribute name: a"
    assert "Member must have length greater than or equal to 1" in message(legacy_projection, [])


# -- AttributeUpdates ---------------------------------------------------------------------------------------


def updated(updates: dict[str, Any], item: dict[str, Any] | None = ITEM) -> dict[str, Any]:
    return apply_update(legacy_update(updates), item, key={"p": {"S": "k"}})[0]


def test_attribute_updates_put_delete_add():
    new = updated({"a": {"Value": {"S": "bye"}}, "t": {"Action": "DELETE"}, "n": {"Action": "ADD", "Value": {"N": "2"}},
                   "b": {"Action": "DELETE", "Value": {"NS": ["4"]}}, "c": {"Action": "ADD", "Value": {"L": [{"S": "x"}]}},
                   "new": {"Action": "ADD", "Value": {"SS": ["s"]}}})
    assert new["a"] == {"S": "bye"} and "t" not in new and new["n"] == {"N": "5"}
    assert new["b"] == {"NS": ["2", "7"]} and new["c"]["L"][-1] == {"S": "x"} and new["new"] == {"SS": ["s"]}
    assert updated({}, None) == {"p": {"S": "k"}}
    assert "b" not in updated({"b": {"Action": "DELETE", "Value": {"NS": ["2", "4", "7"]}}})


@pytest.mark.parametrize(
    "updates",
    [{"b": {"Action": "DELETE", "Value": {"SS": ["1"]}}}, {"n": {"Action": "DELETE", "Value": {"NS": ["1"]}}},
     {"b": {"Action": "ADD", "Value": {"SS": ["1"]}}}, {"b": {"Action": "ADD", "Value": {"N": "1"}}},
     {"a": {"Action": "ADD", "Value": {"L": []}}}],
)
def test_attribute_updates_type_mismatch(updates):
    assert message(updated, updates) == "Type mismatch for attribute to update"


@pytest.mark.parametrize(
    ("updates", "text"),
    [
        ({"a": {"Action": "PUT"}}, "Only DELETE action is allowed when no attribute value is specified"),
        ({"a": {"Action": "ADD"}}, "Only DELETE action is allowed when no attribute value is specified"),
        ({"a": {"Action": "DELETE", "Value": {"S": "x"}}}, "DELETE action with value is not supported for the type S"),
        ({"a": {"Action": "ADD", "Value": {"S": "x"}}}, "ADD action is not supported for the type S"),
        ({"a": {"Action": "ADD", "Value": {"M": {}}}}, "ADD action is not supported for the type M"),
    ],
)
def test_attribute_updates_validation(updates, text):
    assert message(legacy_update, updates) == "One or more parameter values were invalid: " + text


def test_legacy_update_paths_for_return_values():
    bound = bind(legacy_update({"a": {"Value": {"S": "x"}}, "z": {"Action": "DELETE"}}), ExpressionContext())
    assert bound.paths == (("a",), ("z",)) and bound.names == frozenset({"a", "z"})


# -- mixing both styles -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operation", "params", "text"),
    [
        ("PutItem", {"Expected": {}, "ConditionExpression": "a = :a"},
         "Can not use both expression and non-expression parameters in the same request: "
         "Non-expression parameters: {Expected} Expression parameters: {ConditionExpression}"),
        ("UpdateItem", {"AttributeUpdates": {}, "Expected": {}, "UpdateExpression": "SET a = :a", "ConditionExpression": "x"},
         "Can not use both expression and non-expression parameters in the same request: "
         "Non-expression parameters: {AttributeUpdates, Expected} Expression parameters: {UpdateExpression, ConditionExpression}"),
        ("Query", {"KeyConditionExpression": "p = :p", "KeyConditions": {}},
         "Can not use both expression and non-expression parameters in the same request: "
         "Non-expression parameters: {KeyConditions} Expression parameters: {KeyConditionExpression}"),
        ("Scan", {"ScanFilter": {}, "ProjectionExpression": "a"},
         "Can not use both expression and non-expression parameters in the same request: "
         "Non-expression parameters: {ScanFilter} Expression parameters: {ProjectionExpression}"),
        ("GetItem", {"ExpressionAttributeNames": {"#a": "a"}}, "ExpressionAttributeNames can only be specified when using expressions"),
        ("UpdateItem", {"ExpressionAttributeValues": {":a": {"S": "x"}}},
         "ExpressionAttributeValues can only be specified when using expressions: UpdateExpression and ConditionExpression are null"),
        ("PutItem", {"ExpressionAttributeValues": {":a": {"S": "x"}}},
         "ExpressionAttributeValues can only be specified when using expressions: ConditionExpression is null"),
    ],
)
def test_parameter_mix_errors(operation, params, text):
    assert message(check_parameter_mix, operation, params) == text


def test_parameter_mix_allowed():
    check_parameter_mix("Query", {"KeyConditions": {}, "FilterExpression": "a = :a", "ExpressionAttributeValues": {}})
    check_parameter_mix("PutItem", {"Expected": {}})
    check_parameter_mix("GetItem", {"ProjectionExpression": "a", "ExpressionAttributeNames": {"#a": "a"}})
