"""Key conditions of a Query: from a KeyConditionExpression (or legacy KeyConditions) to a key range.

DynamoDB parses a KeyConditionExpression with the condition grammar, then accepts only ``pk = :v`` ANDed
with at most one sort-key condition (``= < <= > >=``, ``BETWEEN``, ``begins_with``), each naming a
top-level key attribute on one side and a value on the other (either order: ``:v < sk`` is ``sk > :v``).
The result carries the wire values and the order-preserving byte bounds of the sort key, so a storage
backend can range-scan one partition directly.

A multi-attribute GSI key (``CompositeKey``) takes ``=`` on every HASH attribute, then conditions on its
RANGE attributes left to right: ``=`` on a leading run of them, and any one sort-key condition on the
attribute after that run (the last one conditioned). The result then carries the partition tuple, the
escaped tuple of the ``=`` run as ``prefix``, and the bounds of that last attribute.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from accelerator.core.composite import CompositeKey, encode_tuple
from accelerator.core.errors import ValidationException
from accelerator.core.keys import KeySchema, encode_key_value, prefix_successor
from accelerator.core.values import validate_value
from accelerator.expressions.legacy import check_operator
from accelerator.expressions.tree import (
    And,
    Between,
    Call,
    Compare,
    Condition,
    In,
    Literal,
    NameRef,
    Node,
    Not,
    Or,
    Path,
    ValueRef,
)
from accelerator.expressions.wire import sort_key

if TYPE_CHECKING:
    from accelerator.expressions.context import ExpressionContext

__all__ = ["KeyCondition", "analyze_key_condition", "analyze_key_conditions"]

AV = dict[str, Any]

_FLIP = {"=": "=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
_LEGACY_OPS = {"EQ": "=", "LT": "<", "LE": "<=", "GT": ">", "GE": ">=", "BETWEEN": "BETWEEN", "BEGINS_WITH": "begins_with"}
_LEGACY_COUNTS = {"EQ": 1, "NE": 1, "LE": 1, "LT": 1, "GE": 1, "GT": 1, "CONTAINS": 1, "NOT_CONTAINS": 1,
                  "BEGINS_WITH": 1, "BETWEEN": 2, "NULL": 0, "NOT_NULL": 0}
_INVALID = "One or more parameter values were invalid: "


@dataclass(frozen=True, slots=True)
class KeyCondition:
    """A Query's key range: the partition key value and an optional constraint on the sort key.

    ``lower``/``upper`` are encoded sort-key bounds (None: unbounded) in the byte order of
    ``accelerator.core.keys``; ``op``/``values`` keep the condition as written, in wire form. On a
    multi-attribute key, ``hash_key`` is the partition tuple, ``prefix`` the escaped tuple of the RANGE
    values given with ``=`` before ``range_name`` (the bounds are on ``range_name``).
    """

    hash_name: str
    hash_value: AV
    hash_key: bytes
    range_name: str | None = None
    op: str | None = None
    values: tuple[AV, ...] = ()
    lower: bytes | None = None
    lower_inclusive: bool = True
    upper: bytes | None = None
    upper_inclusive: bool = True
    prefix: bytes = b""

    def matches(self, sort_key: bytes) -> bool:
        """Whether an encoded sort key satisfies the sort-key constraint."""
        if self.lower is not None and (sort_key < self.lower or (sort_key == self.lower and not self.lower_inclusive)):
            return False
        return not (
            self.upper is not None and (sort_key > self.upper or (sort_key == self.upper and not self.upper_inclusive))
        )


def _fail(message: str) -> ValidationException:
    return ValidationException(message)


class _Collector:
    """Walks the condition tree and gathers one (op, values) per key attribute."""

    def __init__(self, ctx: ExpressionContext) -> None:
        self.ctx = ctx
        self.conditions: dict[str, tuple[str, tuple[AV, ...]]] = {}

    def walk(self, node: Node) -> None:
        if isinstance(node, And):
            self.walk(node.left)
            self.walk(node.right)
            return
        if isinstance(node, (Or, Not, In)):
            raise _fail(f"Invalid operator used in KeyConditionExpression: {type(node).__name__.upper()}")
        if isinstance(node, Compare):
            if node.op == "<>":
                raise _fail("Invalid operator used in KeyConditionExpression: <>")
            self.record(node.op, [node.left, node.right])
        elif isinstance(node, Between):
            if not isinstance(node.subject, Path):
                raise _fail("Invalid condition in KeyConditionExpression: BETWEEN operator must have the key "
                            "attribute as its first operand")
            self.record("BETWEEN", [node.subject, node.low, node.high])
        elif isinstance(node, Call):
            if node.name != "begins_with":
                raise _fail(f"Invalid operator used in KeyConditionExpression: {node.name}")
            if not isinstance(node.args[0], Path):
                raise _fail("Invalid condition in KeyConditionExpression: begins_with operator must have the key "
                            "attribute as its first operand")
            self.record("begins_with", list(node.args))

    def record(self, op: str, operands: list[Node]) -> None:
        name: str | None = None
        position = 0
        values: list[AV] = []
        for i, operand in enumerate(operands):
            if isinstance(operand, Call):
                raise _fail("KeyConditionExpressions cannot contain nested operations")
            if isinstance(operand, Path):
                if name is not None:
                    raise _fail("Invalid condition in KeyConditionExpression: Multiple attribute names used in one condition")
                if len(operand.elements) > 1:
                    raise _fail("KeyConditionExpressions cannot have conditions on nested attributes")
                element = operand.elements[0]
                name = self.ctx.names[element.ref] if isinstance(element, NameRef) else str(element)
                position = i
            elif isinstance(operand, Literal):
                values.append(operand.value)
            elif isinstance(operand, ValueRef):
                values.append(self.ctx.values[operand.ref])
        if name is None:
            raise _fail("Invalid condition in KeyConditionExpression: No key attribute specified")
        if name in self.conditions:
            raise _fail("KeyConditionExpressions must only contain one condition per key")
        if position != 0:
            op = _FLIP[op]
        self.conditions[name] = (op, tuple(values))


Conditions = dict[str, tuple[str, tuple[AV, ...]]]
Schema = KeySchema | CompositeKey


def _finish(conditions: Conditions, schema: Schema) -> KeyCondition:
    """Check the gathered conditions against the key schema and compute the sort-key range."""
    if isinstance(schema, CompositeKey):
        if schema.multi:
            return _finish_composite(conditions, schema)
        schema = schema.single()
    if len(conditions) > 2:
        raise _fail("Conditions can be of length 1 or 2 only")
    if schema.hash_name not in conditions:
        raise _fail(f"Query condition missed key schema element: {schema.hash_name}")
    if len(conditions) == 2:
        if schema.range_name is None:
            raise _fail("Query key condition not supported")
        if schema.range_name not in conditions:
            raise _fail(f"Query condition missed key schema element: {schema.range_name}")
    hash_op, hash_values = conditions[schema.hash_name]
    if hash_op != "=":
        raise _fail("Query key condition not supported")
    hash_value = hash_values[0]
    hash_key = _encode(schema.hash_type, hash_value, schema.hash_name, True)
    if schema.range_name is None or schema.range_name not in conditions:
        return KeyCondition(schema.hash_name, hash_value, hash_key, schema.range_name)
    op, values = conditions[schema.range_name]
    assert schema.range_type is not None
    encoded = [_encode(schema.range_type, v, schema.range_name, False) for v in values]
    return KeyCondition(schema.hash_name, hash_value, hash_key, schema.range_name, op, values,
                        *_bounds(op, encoded))


def _bounds(op: str, encoded: list[bytes]) -> tuple[bytes | None, bool, bytes | None, bool]:
    """(lower, lower inclusive, upper, upper inclusive) of one sort-key condition on encoded values."""
    lower: bytes | None = None
    upper: bytes | None = None
    lower_inclusive = upper_inclusive = True
    if op in ("=", ">=", ">", "BETWEEN", "begins_with"):
        lower, lower_inclusive = encoded[0], op != ">"
    if op in ("=", "<=", "<"):
        upper, upper_inclusive = encoded[0], op != "<"
    elif op == "BETWEEN":
        upper = encoded[1]
    elif op == "begins_with":
        upper, upper_inclusive = prefix_successor(encoded[0]), False
    return lower, lower_inclusive, upper, upper_inclusive


def _finish_composite(conditions: Conditions, key: CompositeKey) -> KeyCondition:
    """The key range of a multi-attribute key: ``=`` on every HASH attribute, then RANGE attributes left to
    right, ``=`` on all but the last one conditioned."""
    hashes = key.hash_names
    for name in hashes:
        op, _ = conditions.get(name, ("", ()))
        if op != "=":
            if len(hashes) == 1:  # one HASH attribute: DynamoDB's single-key wording
                raise _fail(f"Query condition missed key schema element: {name}" if not op
                            else "Query key condition not supported")
            raise _fail(f"Query key condition not supported: HASH key attribute {name} requires an equality "
                        "condition")
    ranges = key.range_names
    given = [i for i, name in enumerate(ranges) if name in conditions]
    for name in conditions:
        if name not in hashes and name not in ranges:
            missing = next((r for r in ranges if r not in conditions), None)
            raise _fail(f"Query condition missed key schema element: {missing}" if missing is not None
                        else "Query key condition not supported")
    last = given[-1] if given else -1
    for i in range(last):
        earlier = ranges[i]
        op = conditions[earlier][0] if earlier in conditions else ""
        if op != "=":
            later = ranges[next(j for j in given if j > i)]
            raise _fail(f"Query key condition not supported: RANGE key attribute {later} requires an equality "
                        f"condition on RANGE key attribute {earlier}")
    parts = [_encode(kind, conditions[name][1][0], name, True) for name, kind in key.hashes]
    first_name, first_value = hashes[0], conditions[hashes[0]][1][0]
    prefix = encode_tuple([_encode(key.ranges[i][1], conditions[ranges[i]][1][0], ranges[i], False)
                           for i in range(last)])
    if last < 0:
        return KeyCondition(first_name, first_value, key.partition(parts), ranges[0] if ranges else None)
    name, kind = key.ranges[last]
    op, values = conditions[name]
    encoded = [_encode(kind, v, name, False) for v in values]
    return KeyCondition(first_name, first_value, key.partition(parts), name, op, values, *_bounds(op, encoded),
                        prefix=prefix)


def _encode(key_type: str, value: AV, name: str, is_hash: bool) -> bytes:
    if key_type not in value:
        raise _fail(_INVALID + "Condition parameter type does not match schema type")
    encoded = encode_key_value(key_type, value[key_type])
    if is_hash and not encoded and key_type != "N":
        kind = "string" if key_type == "S" else "binary"
        raise _fail("One or more parameter values are not valid. The AttributeValue for a key attribute cannot "
                    f"contain an empty {kind} value. Key: {name}")
    return encoded


def analyze_key_condition(
    condition: Condition, key_schema: Schema, ctx: ExpressionContext, kind: str = "KeyConditionExpression"
) -> KeyCondition:
    """Validate a parsed KeyConditionExpression against a key schema; return its key range."""
    ctx.bind_condition(condition, kind)  # names, values, operand types and BETWEEN order first, as DynamoDB does
    collector = _Collector(ctx)
    collector.walk(condition.root)
    _check_prefix_types(collector.conditions, key_schema, kind)
    return _finish(collector.conditions, key_schema)


def _check_prefix_types(conditions: Conditions, schema: Schema, kind: str) -> None:
    """On a multi-attribute key, begins_with() on a number RANGE attribute is an operand type error whatever
    the value's type (a single-attribute key checks the value against the schema type first)."""
    if not isinstance(schema, CompositeKey) or not schema.multi:
        return
    ranges = dict(schema.ranges)
    for name, (op, _) in conditions.items():
        if op == "begins_with" and ranges.get(name) == "N":
            raise _fail(f"Invalid {kind}: Incorrect operand type for operator or function; operator or function: "
                        "begins_with, operand type: N")


def analyze_key_conditions(key_conditions: dict[str, Any], key_schema: Schema) -> KeyCondition:
    """Validate legacy KeyConditions (``{attr: {ComparisonOperator, AttributeValueList}}``); return the range."""
    if not isinstance(key_conditions, dict) or not key_conditions:
        raise _fail("Conditions must not be null")
    gathered: dict[str, tuple[str, tuple[AV, ...]]] = {}
    for name, entry in key_conditions.items():
        spec: Any = entry or {}  # a null entry is an empty one: its ComparisonOperator is missing
        operator = spec.get("ComparisonOperator")
        check_operator(operator, f"keyConditions.{name}.member.comparisonOperator")
        values = list(spec.get("AttributeValueList") or [])
        for value in values:
            validate_value(value)
        count = _LEGACY_COUNTS.get(operator, len(values))
        if (not values) if operator == "IN" else len(values) != count:
            raise _fail(_INVALID + f"Invalid number of argument(s) for the {operator} ComparisonOperator")
        if operator not in _LEGACY_OPS:
            raise _fail("Attempted conditional constraint is not an indexable operation")
        if operator == "BEGINS_WITH" and "N" in values[0]:
            raise _fail(_INVALID + "ComparisonOperator BEGINS_WITH is not valid for N AttributeValue type")
        gathered[name] = (_LEGACY_OPS[operator], tuple(values))
    multi = isinstance(key_schema, CompositeKey) and key_schema.multi
    if len(gathered) > 2 and not multi:
        raise _fail("Conditions can be of length 1 or 2 only")
    ranges = key_schema.range_names if isinstance(key_schema, CompositeKey) else (key_schema.range_name or "",)
    for range_name in ranges:
        op, bounds = gathered.get(range_name, ("", ()))
        if op == "BETWEEN":
            low, high = sort_key(bounds[0]), sort_key(bounds[1])
            if low is not None and high is not None and low[0] == high[0] and low[1] > high[1]:
                raise _fail("The BETWEEN condition was provided a range where the lower bound is greater than the "
                            "upper bound")
    return _finish(gathered, key_schema)
