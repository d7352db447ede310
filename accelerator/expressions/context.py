"""One request's ExpressionAttributeNames and ExpressionAttributeValues, checked once and shared.

DynamoDB validates the two maps before it parses anything (keys must look like ``#x`` / ``:x``, values
must be valid attribute values, maps given at all must not be empty), resolves placeholders for every
expression of the request (condition, update, filter, projection, key condition), and finally rejects
entries no expression used. ``ExpressionContext`` does exactly that: build it from the request, bind each
parsed expression through it, then call ``check_unused()``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from accelerator.core.errors import DynamoError, SerializationException, ValidationException
from accelerator.core.values import check_attribute_name, validate_value
from accelerator.expressions.conditions import BoundCondition, bind_condition
from accelerator.expressions.errors import MSG_NAME_UNDEFINED, MSG_VALUE_UNDEFINED
from accelerator.expressions.projection import BoundProjection, bind_projection
from accelerator.expressions.updates import BoundUpdate, bind_update

if TYPE_CHECKING:
    from accelerator.expressions.tree import Condition, Projection, Update

__all__ = ["ExpressionContext", "MAX_PLACEHOLDER_BYTES"]

AV = dict[str, Any]

# "The maximum length of any single expression attribute name or expression attribute value is 255
# bytes. For example, #name is 5 bytes" (DynamoDB developer guide, expression parameter limits).
MAX_PLACEHOLDER_BYTES = 255

# Projection bindings hold no request value, only resolved names: GetItem/Query with the same
# ProjectionExpression and names (the common case) reuse one. Oldest-first eviction; each entry keeps
# its tree alive, so an id in a key always denotes that tree.
_SHARED_PROJECTIONS: dict[tuple[int, str, tuple[str | None, ...]], tuple[Projection, BoundProjection]] = {}
_SHARED_MAX = 4096

_NAME_KEY = re.compile(r"#[0-9A-Za-z_]+")
_VALUE_KEY = re.compile(r":[0-9A-Za-z_]+")


# Keys already found valid, per map: requests reuse the same few placeholders, so most checks are one
# set lookup instead of a regex match.
_VALID_NAME_KEYS: set[str] = set()
_VALID_VALUE_KEYS: set[str] = set()
_VALID_KEYS_MAX = 65536


def _check_key(label: str, pattern: re.Pattern[str], valid: set[str], key: Any) -> None:
    if key in valid:
        return
    if not isinstance(key, str) or pattern.fullmatch(key) is None:
        raise ValidationException(f'{label} contains invalid key: Syntax error; key: "{key}"')
    if len(key.encode()) > MAX_PLACEHOLDER_BYTES:
        raise ValidationException(
            f'{label} contains invalid key: The key exceeds the maximum length of {MAX_PLACEHOLDER_BYTES} bytes; '
            f'key: "{key}"'
        )
    if len(valid) >= _VALID_KEYS_MAX:
        valid.clear()
    valid.add(key)


class ExpressionContext:
    """Names and values of one request, with usage tracking across all its expressions."""

    __slots__ = ("names", "values", "_unused_names", "_unused_values", "_bound")

    def __init__(self, names: dict[str, str] | None = None, values: dict[str, AV] | None = None) -> None:
        # GetItem and other reads do not declare ExpressionAttributeValues, so the shapes leave it unchecked.
        if names is not None and not isinstance(names, dict):
            raise SerializationException("Unexpected value type in payload at 'expressionAttributeNames': expected map")
        if values is not None and not isinstance(values, dict):
            raise SerializationException("Unexpected value type in payload at 'expressionAttributeValues': expected map")
        if names is not None:
            if not names:
                raise ValidationException("ExpressionAttributeNames must not be empty")
            for key, name in names.items():
                _check_key("ExpressionAttributeNames", _NAME_KEY, _VALID_NAME_KEYS, key)
                if not isinstance(name, str):
                    raise ValidationException(f"ExpressionAttributeNames contains invalid value for key {key}")
                if not name:
                    raise ValidationException(
                        f"ExpressionAttributeNames contains invalid value: Empty attribute name for key {key}")
                check_attribute_name(name)
        if values is not None:
            if not values:
                raise ValidationException("ExpressionAttributeValues must not be empty")
            for key in values:
                _check_key("ExpressionAttributeValues", _VALUE_KEY, _VALID_VALUE_KEYS, key)
            for key, value in values.items():
                try:
                    validate_value(value)
                except SerializationException:
                    raise
                except DynamoError as exc:
                    raise ValidationException(
                        f"ExpressionAttributeValues contains invalid value: {exc.message} for key {key}"
                    ) from None
        self.names: dict[str, str] = names or {}
        self.values: dict[str, AV] = values or {}
        # Insertion-ordered, so the unused-keys message lists them as the request did.
        self._unused_names: dict[str, None] = dict.fromkeys(self.names)
        self._unused_values: dict[str, None] = dict.fromkeys(self.values)
        self._bound: dict[tuple[int, str], tuple[object, object]] = {}

    def use_name(self, ref: str) -> str | None:
        """The attribute name for ``#ref`` (marking it used), or None if the request does not define it."""
        name = self.names.get(ref)
        if name is not None:
            self._unused_names.pop(ref, None)
        return name

    def use_value(self, ref: str) -> AV | None:
        """The attribute value for ``:ref`` (marking it used), or None if the request does not define it."""
        value = self.values.get(ref)
        if value is not None:
            self._unused_values.pop(ref, None)
        return value

    def name(self, ref: str, kind: str = "ConditionExpression") -> str:
        """The attribute name for ``#ref`` (marking it used), or DynamoDB's undefined-name error."""
        name = self.use_name(ref)
        if name is None:
            raise ValidationException(f"Invalid {kind}: {MSG_NAME_UNDEFINED}{ref}")
        return name

    def value(self, ref: str, kind: str = "ConditionExpression") -> AV:
        """The attribute value for ``:ref`` (marking it used), or DynamoDB's undefined-value error."""
        value = self.use_value(ref)
        if value is None:
            raise ValidationException(f"Invalid {kind}: {MSG_VALUE_UNDEFINED}{ref}")
        return value

    def check_unused(self) -> None:
        """Raise DynamoDB's error for names or values that no bound expression used."""
        if self._unused_names:
            keys = ", ".join(self._unused_names)
            raise ValidationException(f"Value provided in ExpressionAttributeNames unused in expressions: keys: {{{keys}}}")
        if self._unused_values:
            keys = ", ".join(self._unused_values)
            raise ValidationException(
                f"Value provided in ExpressionAttributeValues unused in expressions: keys: {{{keys}}}"
            )

    def _memo(self, tree: object, kind: str) -> object | None:
        entry = self._bound.get((id(tree), kind))
        return entry[1] if entry is not None else None

    def _remember(self, tree: object, kind: str, bound: object) -> None:
        # The tree is kept alive with its binding, so its id cannot be reused while this context lives.
        self._bound[(id(tree), kind)] = (tree, bound)

    def bind_condition(self, condition: Condition, kind: str = "ConditionExpression") -> BoundCondition:
        """Bind (once per context) a parsed condition; ``kind`` names the parameter in error messages."""
        bound = self._memo(condition, kind)
        if bound is None:
            bound = bind_condition(condition, self, kind)
            self._remember(condition, kind, bound)
        return bound  # type: ignore[return-value]

    def bind_projection(self, projection: Projection, kind: str = "ProjectionExpression") -> BoundProjection:
        """Bind a parsed projection; requests that resolve its names alike share one binding."""
        refs = projection.name_refs
        if refs is None:
            return bind_projection(projection, self, kind)
        names = self.names
        resolved = tuple(names.get(ref) for ref in refs)
        key = (id(projection), kind, resolved)
        entry = _SHARED_PROJECTIONS.get(key)
        if entry is not None and entry[0] is projection:
            for ref in refs:
                self._unused_names.pop(ref, None)
            return entry[1]
        bound = bind_projection(projection, self, kind)
        if len(_SHARED_PROJECTIONS) >= _SHARED_MAX:
            del _SHARED_PROJECTIONS[next(iter(_SHARED_PROJECTIONS))]
        _SHARED_PROJECTIONS[key] = (projection, bound)
        return bound

    def bind_update(self, update: Update, kind: str = "UpdateExpression") -> BoundUpdate:
        """Bind (once per context) a parsed update."""
        bound = self._memo(update, kind)
        if bound is None:
            bound = bind_update(update, self, kind)
            self._remember(update, kind, bound)
        return bound  # type: ignore[return-value]
