"""Bridge from a request's expression members to callables the operations run.

Parses (through the cached expression parser) and binds names and values once per request; what
it returns only evaluates.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from accelerator.core.errors import ValidationException
from accelerator.core.keys import KeySchema
from accelerator.core.values import Item

__all__ = ["Context", "Condition", "Update", "projection", "condition", "update", "filter", "key_condition"]

Condition = Callable[[Item | None], bool]


class Update:
    """A bound update program: ``apply(item) -> new item``; ``updated(item)`` -> the updated attributes."""

    def __init__(self, apply: Callable[[Item], Item], updated: Callable[[Item], Item] | None) -> None:
        self.apply = apply
        self.updated = updated


class Context:
    """Names and values of one request, with usage tracking."""

    def __init__(self, req: dict[str, Any]) -> None:
        self.names = req.get("ExpressionAttributeNames")
        self.values = req.get("ExpressionAttributeValues")

    def finish(self) -> None:
        if self.names or self.values:
            raise ValidationException("Expressions are not supported yet")


def projection(req: dict[str, Any], ctx: Context) -> Callable[[Item], Item] | None:
    if req.get("ProjectionExpression") or req.get("AttributesToGet"):
        raise ValidationException("ProjectionExpression is not supported yet")
    return None


def condition(req: dict[str, Any], ctx: Context) -> Condition | None:
    if req.get("ConditionExpression") or req.get("Expected"):
        raise ValidationException("ConditionExpression is not supported yet")
    return None


def update(req: dict[str, Any], ctx: Context) -> Update:
    if req.get("UpdateExpression") or req.get("AttributeUpdates"):
        raise ValidationException("UpdateExpression is not supported yet")
    return Update(dict, None)


def filter(req: dict[str, Any], ctx: Context, legacy: str) -> Condition | None:
    if req.get("FilterExpression") or req.get(legacy):
        raise ValidationException("FilterExpression is not supported yet")
    return None


def key_condition(req: dict[str, Any], ctx: Context, schema: KeySchema) -> tuple[Any, str | None, list[Any]]:
    raise ValidationException("Query is not supported yet")
