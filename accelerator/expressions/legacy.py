"""The legacy (pre-expression) parameters, converted into the same trees the expressions parse into.

Expected, QueryFilter and ScanFilter become a ``Condition``; AttributesToGet a ``Projection``;
AttributeUpdates an ``Update``. Their values travel as ``Literal`` nodes (these trees are built per
request and never cached), and one binder/evaluator then serves both worlds. Where the legacy API differs
from the expression language it is spelled out in the tree: NOT_CONTAINS is false on a missing attribute
(``attribute_exists(a) AND NOT contains(a, v)``), and AttributeUpdates' ADD also appends lists and
reports "Type mismatch for attribute to update".

``check_parameter_mix`` rejects requests that mix both styles, with DynamoDB's message.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from accelerator.core.errors import ValidationException
from accelerator.core.values import check_attribute_name, validate_value
from accelerator.expressions.tree import (
    AddAction,
    And,
    Between,
    Call,
    Compare,
    Condition,
    DeleteAction,
    In,
    Literal,
    Node,
    Not,
    Or,
    Path,
    Projection,
    RemoveAction,
    SetAction,
    Update,
)
from accelerator.expressions.wire import sort_key, tag_of

__all__ = [
    "legacy_condition",
    "legacy_filter",
    "legacy_projection",
    "legacy_update",
    "check_parameter_mix",
    "check_operator",
    "OPERATION_PARAMETERS",
]

AV = dict[str, Any]

_INVALID = "One or more parameter values were invalid: "
_OPERATORS = ("EQ", "NE", "IN", "LE", "LT", "GE", "GT", "BETWEEN", "NOT_NULL", "NULL", "CONTAINS", "NOT_CONTAINS",
              "BEGINS_WITH")
_COUNTS = {"EQ": 1, "NE": 1, "LE": 1, "LT": 1, "GE": 1, "GT": 1, "CONTAINS": 1, "NOT_CONTAINS": 1, "BEGINS_WITH": 1,
           "BETWEEN": 2, "NULL": 0, "NOT_NULL": 0}
_SCALARS = ("S", "N", "B")
# The AttributeValue types each operator accepts (DynamoDB's Condition reference); None: any type.
_TYPES: dict[str, tuple[str, ...] | None] = {
    "EQ": None, "NE": None, "LE": _SCALARS, "LT": _SCALARS, "GE": _SCALARS, "GT": _SCALARS, "CONTAINS": _SCALARS,
    "NOT_CONTAINS": _SCALARS, "BEGINS_WITH": ("S", "B"), "IN": _SCALARS, "BETWEEN": _SCALARS,
}
_COMPARE = {"EQ": "=", "NE": "<>", "LE": "<=", "LT": "<", "GE": ">=", "GT": ">"}

# Per operation: (expression parameters, legacy parameters), in the order DynamoDB lists them.
OPERATION_PARAMETERS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "GetItem": (("ProjectionExpression",), ("AttributesToGet",)),
    "BatchGetItem": (("ProjectionExpression",), ("AttributesToGet",)),
    "PutItem": (("ConditionExpression",), ("Expected", "ConditionalOperator")),
    "DeleteItem": (("ConditionExpression",), ("Expected", "ConditionalOperator")),
    "UpdateItem": (("UpdateExpression", "ConditionExpression"), ("AttributeUpdates", "Expected", "ConditionalOperator")),
    "Query": (
        ("KeyConditionExpression", "FilterExpression", "ProjectionExpression"),
        ("KeyConditions", "QueryFilter", "AttributesToGet", "ConditionalOperator"),
    ),
    "Scan": (("FilterExpression", "ProjectionExpression"), ("ScanFilter", "AttributesToGet", "ConditionalOperator")),
}


def _path(name: str) -> Path:
    if not name:  # an item could never be written back with it (PutItem refuses empty names)
        raise ValidationException(_INVALID + "An AttributeName cannot be empty")
    check_attribute_name(name)
    return Path((name,))


def _checked_values(name: str, operator: str, values: list[AV]) -> list[AV]:
    """Validate an AttributeValueList for one operator: count, shared type, allowed types, BETWEEN order."""
    for value in values:
        validate_value(value)
    count = _COUNTS.get(operator)
    if (not values) if operator == "IN" else len(values) != count:
        raise ValidationException(_INVALID + f"Invalid number of argument(s) for the {operator} ComparisonOperator")
    if values:
        first = tag_of(values[0])
        if any(tag_of(v) != first for v in values):
            raise ValidationException(_INVALID + "AttributeValues inside AttributeValueList must be of same type")
        allowed = _TYPES.get(operator)
        if allowed is not None and first not in allowed:
            raise ValidationException(_INVALID + f"ComparisonOperator {operator} is not valid for {first} AttributeValue type")
    if operator == "BETWEEN":
        low, high = sort_key(values[0]), sort_key(values[1])
        if low is not None and high is not None and low[1] > high[1]:
            raise ValidationException(
                "The BETWEEN condition was provided a range where the lower bound is greater than the upper bound"
            )
    return values


def check_operator(operator: Any, where: str = "comparisonOperator") -> None:
    """ComparisonOperator must be one of DynamoDB's enum (case-sensitive); ``where`` is the member path."""
    if operator not in _OPERATORS:
        raise ValidationException(
            f"1 validation error detected: Value '{operator}' at '{where}' failed to satisfy constraint: "
            f"Member must satisfy enum value set: [{', '.join(_OPERATORS)}]"
        )


def _comparison(name: str, operator: Any, values: list[AV]) -> Node:
    """One legacy ComparisonOperator on one attribute, as a condition tree."""
    check_operator(operator)
    values = _checked_values(name, operator, values)
    path = _path(name)
    literals = [Literal(v) for v in values]
    if operator in _COMPARE:
        return Compare(_COMPARE[operator], path, literals[0])
    if operator == "NOT_NULL":
        return Call("attribute_exists", (path,))
    if operator == "NULL":
        return Call("attribute_not_exists", (path,))
    if operator == "CONTAINS":
        return Call("contains", (path, literals[0]))
    if operator == "NOT_CONTAINS":
        # Unlike NOT contains(), legacy NOT_CONTAINS is false when the attribute is missing.
        return And(Call("attribute_exists", (path,)), Not(Call("contains", (path, literals[0]))))
    if operator == "BEGINS_WITH":
        return Call("begins_with", (path, literals[0]))
    if operator == "IN":
        return In(path, tuple(literals))
    return Between(path, literals[0], literals[1])


def _combine(nodes: list[Node], conditional_operator: str | None) -> Node:
    if conditional_operator not in (None, "AND", "OR"):
        raise ValidationException(
            f"1 validation error detected: Value '{conditional_operator}' at 'conditionalOperator' failed to satisfy "
            "constraint: Member must satisfy enum value set: [AND, OR]"
        )
    joined = nodes[0]
    for node in nodes[1:]:
        joined = Or(joined, node) if conditional_operator == "OR" else And(joined, node)
    return joined


def _expected_entry(name: str, spec: Mapping[str, Any]) -> Node:
    has_list, has_value = "AttributeValueList" in spec, "Value" in spec
    if has_list and has_value:
        raise ValidationException(_INVALID + f"Value and AttributeValueList cannot be used together for Attribute: {name}")
    if "ComparisonOperator" in spec:
        operator = spec["ComparisonOperator"]
        check_operator(operator)
        if "Exists" in spec:
            raise ValidationException(_INVALID + f"Exists and ComparisonOperator cannot be used together for Attribute: {name}")
        if operator not in ("NULL", "NOT_NULL") and not has_list and not has_value:
            raise ValidationException(
                _INVALID + f"Value or AttributeValueList must be used with ComparisonOperator: {operator} for Attribute: {name}"
            )
        values = list(spec.get("AttributeValueList") or ([spec["Value"]] if has_value else []))
        return _comparison(name, operator, values)
    if has_list:
        raise ValidationException(_INVALID + f"AttributeValueList can only be used with a ComparisonOperator for Attribute: {name}")
    exists = spec.get("Exists")
    if exists is None or exists:
        if not has_value:
            shown = "null" if exists is None else "true"
            raise ValidationException(_INVALID + f"Value must be provided when Exists is {shown} for Attribute: {name}")
        validate_value(spec["Value"])
        return Compare("=", _path(name), Literal(spec["Value"]))
    if has_value:
        raise ValidationException(_INVALID + f"Value cannot be used when Exists is false for Attribute: {name}")
    return Call("attribute_not_exists", (_path(name),))


def legacy_condition(expected: Mapping[str, Any], conditional_operator: str | None = None) -> Condition | None:
    """Expected (+ ConditionalOperator) as a condition tree; None when Expected is empty."""
    nodes = [_expected_entry(name, spec or {}) for name, spec in expected.items()]
    if not nodes:
        return None
    return Condition(_combine(nodes, conditional_operator))


def legacy_filter(
    conditions: Mapping[str, Any], conditional_operator: str | None = None, key_names: tuple[str, ...] = (),
    parameter: str = "QueryFilter",
) -> Condition | None:
    """QueryFilter / ScanFilter (+ ConditionalOperator) as a condition tree; None when empty.

    ``key_names``: the key attributes a QueryFilter may not name (DynamoDB's rule for QueryFilter).
    """
    nodes: list[Node] = []
    for name, spec in conditions.items():
        if parameter == "QueryFilter" and name in key_names:
            raise ValidationException(
                f"QueryFilter can only contain non-primary key attributes: Primary key attribute: {name}"
            )
        spec = spec or {}
        if "ComparisonOperator" not in spec:
            raise ValidationException(
                f"1 validation error detected: Value null at '{parameter[0].lower()}{parameter[1:]}.{name}.member."
                "comparisonOperator' failed to satisfy constraint: Member must not be null"
            )
        nodes.append(_comparison(name, spec["ComparisonOperator"], list(spec.get("AttributeValueList") or [])))
    if not nodes:
        return None
    return Condition(_combine(nodes, conditional_operator))


def legacy_projection(attributes_to_get: list[str]) -> Projection:
    """AttributesToGet as a projection of top-level attributes."""
    if not attributes_to_get:
        raise ValidationException(
            "1 validation error detected: Value '[]' at 'attributesToGet' failed to satisfy constraint: "
            "Member must have length greater than or equal to 1"
        )
    seen: set[str] = set()
    for name in attributes_to_get:
        if name in seen:
            raise ValidationException(_INVALID + f"Duplicate value in attribute name: {name}")
        seen.add(name)
    return Projection(tuple(_path(name) for name in attributes_to_get))


def legacy_update(attribute_updates: Mapping[str, Any]) -> Update:
    """AttributeUpdates as an update tree (PUT is SET, DELETE without a value is REMOVE)."""
    actions: list[SetAction | RemoveAction | AddAction | DeleteAction] = []
    for name, spec in attribute_updates.items():
        spec = spec or {}
        action = spec.get("Action") or "PUT"
        value = spec.get("Value")
        if action not in ("PUT", "ADD", "DELETE"):
            raise ValidationException(
                f"1 validation error detected: Value '{action}' at 'attributeUpdates.{name}.member.action' failed to "
                "satisfy constraint: Member must satisfy enum value set: [ADD, PUT, DELETE]"
            )
        if value is None:
            if action != "DELETE":
                raise ValidationException(_INVALID + "Only DELETE action is allowed when no attribute value is specified")
            actions.append(RemoveAction(_path(name)))
            continue
        validate_value(value)
        tag = tag_of(value)
        if action == "PUT":
            actions.append(SetAction(_path(name), Literal(value)))
        elif action == "ADD":
            if tag not in ("N", "L", "SS", "NS", "BS"):
                raise ValidationException(_INVALID + f"ADD action is not supported for the type {tag}")
            actions.append(AddAction(_path(name), Literal(value), legacy=True))
        else:
            if tag not in ("SS", "NS", "BS"):
                raise ValidationException(_INVALID + f"DELETE action with value is not supported for the type {tag}")
            actions.append(DeleteAction(_path(name), Literal(value), legacy=True))
    return Update(tuple(actions))


def check_parameter_mix(operation: str, params: Mapping[str, Any]) -> None:
    """DynamoDB's rules on mixing expression and legacy parameters in one request of ``operation``."""
    expressions, legacy = OPERATION_PARAMETERS[operation]
    used = [p for p in expressions if params.get(p) is not None]
    if used:
        old = list(legacy)
        # KeyConditions may go with the other expressions as long as KeyConditionExpression is absent.
        if params.get("KeyConditions") is not None and params.get("KeyConditionExpression") is None:
            old.remove("KeyConditions")
        mixed = [p for p in old if params.get(p) is not None]
        if mixed:
            raise ValidationException(
                "Can not use both expression and non-expression parameters in the same request: "
                f"Non-expression parameters: {{{', '.join(mixed)}}} Expression parameters: {{{', '.join(used)}}}"
            )
    if params.get("ExpressionAttributeNames") is not None and not used:
        raise ValidationException("ExpressionAttributeNames can only be specified when using expressions")
    value_expressions = [p for p in expressions if p != "ProjectionExpression"]
    if (
        value_expressions
        and params.get("ExpressionAttributeValues") is not None
        and all(params.get(p) is None for p in value_expressions)
    ):
        verb = "are" if len(value_expressions) > 1 else "is"
        raise ValidationException(
            "ExpressionAttributeValues can only be specified when using expressions: "
            f"{' and '.join(value_expressions)} {verb} null"
        )
