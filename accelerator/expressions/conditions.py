"""Binding condition trees into closures, and DynamoDB's rules for every operator and function.

A bound condition is ``test(item) -> bool``. Operands compile to ``get(item) -> value | None`` (None:
the attribute is missing or the function has no value for it, e.g. ``size`` of a number). Comparisons
against a request value are specialised at bind time (the constant's type and Decimal are worked out
once), which is where most filters and conditions spend their time.

Errors DynamoDB detects from the text plus the request's values, before touching any item, are raised
here in DynamoDB's order: undefined placeholders, wrong number of operands, identical operands, then
operand types (``a < :bool``, ``begins_with(a, :number)``, BETWEEN bounds out of order, ...).
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from accelerator.core.values import TYPES
from accelerator.expressions.binder import Binder, Getter, ResolvedPath, make_getter
from accelerator.expressions.errors import ExpressionError, invalid, path_text, value_text
from accelerator.expressions.tree import (
    And,
    Between,
    Call,
    Compare,
    Condition,
    In,
    Literal,
    Node,
    Not,
    Or,
    Path,
    ValueRef,
)
from accelerator.expressions.wire import ORDERABLE, begins_with, contains, equal, size_of, sort_key, tag_of

if TYPE_CHECKING:
    from accelerator.expressions.context import ExpressionContext

__all__ = ["BoundCondition", "bind_condition"]

AV = dict[str, Any]
Item = dict[str, Any]
Test = Callable[[Item], bool]

_RANKS = ("names", "operands", "distinct", "function")
_ARITY = {"attribute_exists": 1, "attribute_not_exists": 1, "attribute_type": 2, "begins_with": 2, "contains": 2, "size": 1}
_ORDER_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_TYPE_OPERAND = "Incorrect operand type for operator or function; operator or function: "
_ALL_TYPES = "{NS,SS,L,BS,N,M,B,BOOL,NULL,S}"
_TYPE_NAMES = "{B,NULL,SS,BOOL,L,BS,N,NS,S,M}"


class BoundCondition:
    """A condition bound to one request: ``test(item)`` plus the document paths it reads."""

    __slots__ = ("test", "paths", "condition", "kind")

    def __init__(self, test: Test, paths: tuple[ResolvedPath, ...], condition: Condition, kind: str) -> None:
        self.test = test
        self.paths = paths
        self.condition = condition
        self.kind = kind

    def __call__(self, item: Item | None) -> bool:
        return self.test(item or {})


class _Op:
    """A compiled operand: its getter, and what binding knows statically about it."""

    __slots__ = ("get", "const", "path", "static")

    def __init__(self, get: Getter, const: AV | None, path: ResolvedPath | None, static: str | None) -> None:
        self.get = get
        self.const = const  # the value, when the operand is a request value
        self.path = path  # the resolved path, when the operand is a document path
        self.static = static  # the type known without an item: a constant's tag, "N" for size()


def _missing(item: Item) -> None:
    return None


class _ConditionBinder(Binder):
    __slots__ = ("paths",)

    def __init__(self, ctx: ExpressionContext) -> None:
        super().__init__(ctx)
        self.paths: list[ResolvedPath] = []

    # -- operands -------------------------------------------------------------------------------------

    def operand(self, node: Node) -> _Op:
        if type(node) is Path:
            path = self.path(node)
            if path is None:
                return _Op(_missing, None, None, None)
            self.paths.append(path)
            return _Op(make_getter(path), None, path, None)
        if type(node) is ValueRef or type(node) is Literal:
            value = self.value(node)
            if value is None:
                return _Op(_missing, None, None, None)
            return _Op(lambda item: value, value, None, tag_of(value))
        if type(node) is Call and node.name == "size":
            return self.size(node)
        # Parsing rejects every other function as an operand; legacy trees never build one.
        raise ExpressionError("The function is not allowed to be used this way in an expression; function: "
                              + getattr(node, "name", type(node).__name__))

    def size(self, node: Call) -> _Op:
        args = [self.operand(arg) for arg in node.args]
        if len(args) != 1:
            self.note("operands", _arity_message("size", len(args)))
            return _Op(_missing, None, None, "N")
        arg = args[0]
        if arg.static in ("N", "BOOL", "NULL"):
            self.note("function", _TYPE_OPERAND + f"size, operand type: {arg.static}")
        if arg.const is not None:
            n = size_of(arg.const)
            value = None if n is None else {"N": str(n)}
            return _Op(lambda item: value, value, None, "N")
        inner = arg.get

        def get(item: Item) -> AV | None:
            v = inner(item)
            if v is None:
                return None
            n = size_of(v)
            return None if n is None else {"N": str(n)}

        return _Op(get, None, None, "N")

    def distinct(self, op: str, first: _Op, second: _Op) -> None:
        if first.path is not None and first.path == second.path:
            self.note(
                "distinct",
                "The first operand must be distinct from the remaining operands for this operator or function; "
                f"operator: {op}, first operand: {path_text(first.path)}",
            )

    # -- conditions -----------------------------------------------------------------------------------

    def condition(self, node: Node) -> Test:
        kind = type(node)
        if kind is And:
            left, right = self.condition(node.left), self.condition(node.right)  # type: ignore[union-attr]
            return lambda item: left(item) and right(item)
        if kind is Or:
            left, right = self.condition(node.left), self.condition(node.right)  # type: ignore[union-attr]
            return lambda item: left(item) or right(item)
        if kind is Not:
            inner = self.condition(node.operand)  # type: ignore[union-attr]
            return lambda item: not inner(item)
        if kind is Compare:
            return self.compare(node)  # type: ignore[arg-type]
        if kind is Between:
            return self.between(node)  # type: ignore[arg-type]
        if kind is In:
            return self.in_(node)  # type: ignore[arg-type]
        if kind is Call:
            return self.function(node)  # type: ignore[arg-type]
        raise ExpressionError("The expression is not a condition")

    def compare(self, node: Compare) -> Test:
        left, right = self.operand(node.left), self.operand(node.right)
        self.distinct(node.op, left, right)
        op = node.op
        if op == "=":
            return _equals(left, right)
        if op == "<>":
            same = _equals(left, right)
            return lambda item: not same(item)
        for side in (left, right):
            if side.const is not None and side.static not in ORDERABLE:
                self.note("function", _TYPE_OPERAND + f"{op}, operand type: {side.static}")
        return _ordering(_ORDER_OPS[op], left, right)

    def between(self, node: Between) -> Test:
        subject, low, high = self.operand(node.subject), self.operand(node.low), self.operand(node.high)
        for side in (subject, low, high):
            if side.const is not None and side.static not in ORDERABLE:
                self.note("function", _TYPE_OPERAND + f"BETWEEN, operand type: {side.static}")
        if low.const is not None and high.const is not None and low.static in ORDERABLE and high.static in ORDERABLE:
            if low.static != high.static:
                self.note(
                    "function",
                    "The BETWEEN operator requires same data type for lower and upper bounds; "
                    f"lower bound operand: {value_text(low.const)}, upper bound operand: {value_text(high.const)}",
                )
            elif sort_key(low.const) > sort_key(high.const):  # type: ignore[operator]
                self.note(
                    "function",
                    "The BETWEEN operator requires upper bound to be greater than or equal to lower bound; "
                    f"lower bound operand: {value_text(low.const)}, upper bound operand: {value_text(high.const)}",
                )
        get, lo_get, hi_get = subject.get, low.get, high.get

        def test(item: Item) -> bool:
            v, lo, hi = get(item), lo_get(item), hi_get(item)
            if v is None or lo is None or hi is None:
                return False
            key, lo_key, hi_key = sort_key(v), sort_key(lo), sort_key(hi)
            if key is None or lo_key is None or hi_key is None or not key[0] == lo_key[0] == hi_key[0]:
                return False
            return bool(lo_key[1] <= key[1] <= hi_key[1])

        return test

    def in_(self, node: In) -> Test:
        subject = self.operand(node.subject)
        options = [self.operand(option) for option in node.options]
        get = subject.get
        if all(o.const is not None and o.static in ("S", "N", "BOOL", "NULL") for o in options):
            # Scalar constants: one set lookup per item instead of one comparison per option.
            members = frozenset((o.static, o.const[o.static]) for o in options)  # type: ignore[index]

            def scalar_test(item: Item) -> bool:
                v = get(item)
                if v is None:
                    return False
                for tag in v:
                    return (tag, v[tag]) in members if tag in ("S", "N", "BOOL", "NULL") else False
                return False

            return scalar_test
        getters = [o.get for o in options]

        def test(item: Item) -> bool:
            v = get(item)
            if v is None:
                return False
            for option in getters:
                w = option(item)
                if w is not None and equal(v, w):
                    return True
            return False

        return test

    def function(self, node: Call) -> Test:
        name = node.name
        args = [self.operand(arg) for arg in node.args]
        if len(args) != _ARITY.get(name, -1):
            self.note("operands", _arity_message(name, len(args)))
            return lambda item: False
        if name in ("attribute_exists", "attribute_not_exists"):
            if args[0].path is None:
                self.note("function", f"Operator or function requires a document path; operator or function: {name}")
            get = args[0].get
            if name == "attribute_exists":
                return lambda item: get(item) is not None
            return lambda item: get(item) is None
        first, second = args
        self.distinct(name, first, second)
        if name == "attribute_type":
            return self.attribute_type(first, second)
        if name == "begins_with":
            for side in (first, second):
                if side.static is not None and side.static not in ("S", "B"):
                    self.note("function", _TYPE_OPERAND + f"begins_with, operand type: {side.static}")
            return _binary_function(begins_with, first, second)
        if name == "contains":
            return _binary_function(contains, first, second)
        raise ExpressionError("Invalid function name; function: " + name)

    def attribute_type(self, subject: _Op, type_operand: _Op) -> Test:
        wanted = type_operand.const
        if type_operand.static != "S" or wanted is None:
            self.note("function", _TYPE_OPERAND + f"attribute_type, operand type: {type_operand.static or _ALL_TYPES}")
            return lambda item: False
        type_name = wanted["S"]
        if type_name not in TYPES:
            self.note("function", f"Invalid attribute type name found; type: {type_name}, valid types: {_TYPE_NAMES}")
        get = subject.get
        return lambda item: (v := get(item)) is not None and type_name in v


def _arity_message(name: str, count: int) -> str:
    return f"Incorrect number of operands for operator or function; operator or function: {name}, number of operands: {count}"


def _equals(left: _Op, right: _Op) -> Test:
    """``left = right``; against a scalar constant this is one dict lookup and one comparison."""
    if left.const is not None and right.const is None:
        left, right = right, left
    const = right.const
    get = left.get
    if const is not None and right.static in ("S", "N", "BOOL", "NULL"):
        tag = right.static
        inner = const[tag]
        return lambda item: (v := get(item)) is not None and v.get(tag) == inner
    other = right.get

    def test(item: Item) -> bool:
        a = get(item)
        if a is None:
            return False
        b = other(item)
        return b is not None and equal(a, b)

    return test


def _ordering(cmp: Callable[[Any, Any], bool], left: _Op, right: _Op) -> Test:
    """``left < right`` and friends: same orderable type on both sides, else false."""
    if right.const is not None and left.const is None and right.static in ORDERABLE:
        tag, bound = sort_key(right.const)  # type: ignore[misc]
        get = left.get
        if tag == "S":
            return lambda item: (v := get(item)) is not None and (s := v.get("S")) is not None and cmp(s, bound)
        if tag == "N":
            return lambda item: (v := get(item)) is not None and (n := v.get("N")) is not None and cmp(Decimal(n), bound)
    lget, rget = left.get, right.get

    def test(item: Item) -> bool:
        a, b = lget(item), rget(item)
        if a is None or b is None:
            return False
        ka, kb = sort_key(a), sort_key(b)
        return ka is not None and kb is not None and ka[0] == kb[0] and cmp(ka[1], kb[1])

    return test


def _binary_function(fn: Callable[[AV, AV], bool], first: _Op, second: _Op) -> Test:
    fget, sget = first.get, second.get

    def test(item: Item) -> bool:
        a = fget(item)
        if a is None:
            return False
        b = sget(item)
        return b is not None and fn(a, b)

    return test


def bind_condition(condition: Condition, ctx: ExpressionContext, kind: str = "ConditionExpression") -> BoundCondition:
    """Bind a parsed condition to a request's names and values (raises ValidationException)."""
    binder = _ConditionBinder(ctx)
    try:
        test = binder.condition(condition.root)
        if binder.errors:
            binder.raise_errors(_RANKS)
    except ExpressionError as exc:
        raise invalid(kind, exc.message) from None
    return BoundCondition(test, tuple(binder.paths), condition, kind)
