"""Bridge from a request's expression members (or their legacy forms) to callables the operations run.

Expressions are parsed through the text-keyed parse cache and bound to the request's names and values
once, here, before any storage call; what this returns only evaluates, so it is safe inside a storage
backend's atomic unit (which may run it more than once, on another thread).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from accelerator.core.composite import CompositeKey
from accelerator.core.errors import ValidationException
from accelerator.core.keys import KeySchema
from accelerator.core.values import Item
from accelerator.expressions import (
    BoundUpdate,
    ExpressionContext,
    KeyCondition,
    analyze_key_condition,
    analyze_key_conditions,
    apply_update,
    check_key_not_updated,
    check_parameter_mix,
    legacy_condition,
    legacy_filter,
    legacy_projection,
    legacy_update,
    parse_condition,
    parse_filter,
    parse_key_condition,
    parse_projection,
    parse_update,
    updated_attributes,
)

__all__ = ["Context", "Condition", "Projector", "Update", "projection", "projected_names", "condition", "update",
           "filter", "key_condition"]

Condition = Callable[[Item | None], bool]
Projector = Callable[[Item], Item]


class Context:
    """One request's ExpressionAttributeNames / Values, shared by all its expressions."""

    __slots__ = ("expr",)

    def __init__(self, req: dict[str, Any], operation: str | None = None) -> None:
        if operation is not None:
            check_parameter_mix(operation, req)
        self.expr = ExpressionContext(req.get("ExpressionAttributeNames"), req.get("ExpressionAttributeValues"))

    def finish(self) -> None:
        """After every expression of the request is bound: reject unused names and values."""
        self.expr.check_unused()


class Update:
    """A bound update: ``apply(old, key)`` gives the new item (None: nothing to write)."""

    __slots__ = ("bound", "key_names")

    def __init__(self, bound: BoundUpdate | None, key_names: tuple[str, ...]) -> None:
        self.bound = bound
        self.key_names = key_names

    def apply(self, old: Item | None, key: Item) -> Item | None:
        if self.bound is None:
            return old if old is not None else dict(key)
        if old is None and not self.bound.writes:
            return None
        new, _ = apply_update(self.bound, old, key=key)
        return new

    def updated(self, source: Item) -> Item:
        """The attributes this update touched, read from ``source`` (for UPDATED_OLD / UPDATED_NEW)."""
        if self.bound is None:
            return {}
        return updated_attributes(self.bound, source)


def projection(req: dict[str, Any], ctx: Context) -> Projector | None:
    text = req.get("ProjectionExpression")
    if text is not None:
        bound = ctx.expr.bind_projection(parse_projection(text))
        return bound.apply
    names = req.get("AttributesToGet")
    if names is not None:
        return ctx.expr.bind_projection(legacy_projection(names), "AttributesToGet").apply
    return None


def projected_names(projector: Projector) -> tuple[str, ...]:
    """The top-level attributes a projector from ``projection`` keeps (a bound projection's ``apply``)."""
    return tuple(getattr(getattr(projector, "__self__", None), "names", ()))


def _tester(test: Callable[[Item], bool]) -> Condition:
    empty: Item = {}

    def run(item: Item | None) -> bool:
        return test(item if item is not None else empty)

    return run


def _check_conditional_operator(req: dict[str, Any], conditions: Any) -> None:
    """ConditionalOperator needs the Expected (or filter) map it joins, as in DynamoDB."""
    if "ConditionalOperator" not in req or conditions:
        return
    if conditions is None:
        raise ValidationException("ConditionalOperator cannot be used without Filter or Expected")
    raise ValidationException("ConditionalOperator can only be used when Filter or Expected has two or more elements")


def condition(req: dict[str, Any], ctx: Context) -> Condition | None:
    text = req.get("ConditionExpression")
    if text is not None:
        return _tester(ctx.expr.bind_condition(parse_condition(text)).test)
    expected = req.get("Expected")
    _check_conditional_operator(req, expected)
    if expected:
        tree = legacy_condition(expected, req.get("ConditionalOperator"))
        if tree is not None:
            return _tester(ctx.expr.bind_condition(tree, "Expected").test)
    return None


def update(req: dict[str, Any], ctx: Context, key_names: tuple[str, ...]) -> Update:
    text = req.get("UpdateExpression")
    if text is not None:
        bound = ctx.expr.bind_update(parse_update(text))
    elif req.get("AttributeUpdates"):
        bound = ctx.expr.bind_update(legacy_update(req["AttributeUpdates"]), "AttributeUpdates")
    else:
        return Update(None, key_names)
    check_key_not_updated(bound, key_names)
    return Update(bound, key_names)


def filter(req: dict[str, Any], ctx: Context, legacy: str, key_names: tuple[str, ...] = ()) -> Condition | None:
    text = req.get("FilterExpression")
    if text is not None:
        bound = ctx.expr.bind_condition(parse_filter(text), "FilterExpression")
        if legacy == "QueryFilter":
            for path in bound.paths:
                if path and path[0] in key_names:
                    raise ValidationException(
                        "Filter Expression can only contain non-primary key attributes: Primary key attribute: "
                        f"{path[0]}")
        return _tester(bound.test)
    conditions = req.get(legacy)
    _check_conditional_operator(req, conditions)
    if conditions:
        tree = legacy_filter(conditions, req.get("ConditionalOperator"),
                             key_names if legacy == "QueryFilter" else (), legacy)
        if tree is not None:
            return _tester(ctx.expr.bind_condition(tree, legacy).test)
    return None


def key_condition(req: dict[str, Any], ctx: Context, schema: KeySchema | CompositeKey) -> KeyCondition:
    text = req.get("KeyConditionExpression")
    if text is not None:
        return analyze_key_condition(parse_key_condition(text), schema, ctx.expr)
    legacy = req.get("KeyConditions")
    if legacy is not None:
        return analyze_key_conditions(legacy, schema)
    raise ValidationException("Either the KeyConditions or KeyConditionExpression parameter must be specified "
                              "in the request.")
