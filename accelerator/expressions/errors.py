"""Error helpers: the internal expression error and DynamoDB's message fragments.

Parsers and binders raise ``ExpressionError`` with DynamoDB's message *without* the ``Invalid
ConditionExpression:`` prefix, because the same parsed tree serves ConditionExpression, FilterExpression
and KeyConditionExpression; the public entry points turn it into a ValidationException with the prefix
of the parameter that was being parsed.
"""

from __future__ import annotations

from typing import Any

from accelerator.core.errors import ValidationException

__all__ = [
    "ExpressionError",
    "invalid",
    "path_text",
    "value_text",
    "MSG_NAME_UNDEFINED",
    "MSG_VALUE_UNDEFINED",
    "MSG_MISSING_ATTRIBUTE",
    "MSG_BAD_OPERAND_TYPE",
    "MSG_BAD_PATH",
]

MSG_NAME_UNDEFINED = "An expression attribute name used in the document path is not defined; attribute name: "
MSG_VALUE_UNDEFINED = "An expression attribute value used in expression is not defined; attribute value: "
MSG_MISSING_ATTRIBUTE = "The provided expression refers to an attribute that does not exist in the item"
MSG_BAD_OPERAND_TYPE = "An operand in the update expression has an incorrect data type"
MSG_BAD_PATH = "The document path provided in the update expression is invalid for update"


class ExpressionError(Exception):
    """An expression problem, with DynamoDB's message minus the ``Invalid <Parameter>:`` prefix."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def invalid(kind: str, message: str) -> ValidationException:
    """The ValidationException DynamoDB sends for a bad expression parameter ``kind``."""
    return ValidationException(f"Invalid {kind}: {message}")


def path_text(path: tuple[Any, ...]) -> str:
    """A resolved path as DynamoDB prints it in messages: ``[a, b, [1]]``."""
    return "[" + ", ".join(f"[{e}]" if type(e) is int else str(e) for e in path) + "]"


def value_text(value: dict[str, Any]) -> str:
    """An attribute value as DynamoDB prints it in BETWEEN messages: ``AttributeValue: {N:1}``."""
    ((tag, inner),) = value.items()
    return f"AttributeValue: {{{tag}:{inner}}}"
