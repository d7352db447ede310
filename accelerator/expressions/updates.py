"""Binding update expressions and applying them to an item without mutating it.

DynamoDB semantics reproduced here:

- every SET value is computed from the item as it was *before* the update (``SET a = :v, b = a`` copies
  the old ``a``; ``REMOVE a SET b = a`` works);
- list indexes refer to the original list: ``REMOVE a[1] SET a[3] = :v`` changes the original a[3], and
  removed elements shift the rest afterwards; ``SET a[n]`` past the end appends, several such in index
  order;
- ADD creates a missing attribute (0 + n, or the set itself), unions sets, adds numbers; DELETE subtracts
  a set and removes the attribute when nothing is left; both reject other types;
- a missing parent of a target path is "The document path provided in the update expression is invalid
  for update"; a missing operand of a value is "The provided expression refers to an attribute that does
  not exist in the item"; REMOVE and DELETE on an item that does not exist are silent no-ops.

The new item is a shallow copy of the old one with only the containers on changed paths copied.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Context, Decimal
from typing import TYPE_CHECKING, Any

from accelerator.core.errors import ValidationException
from accelerator.core.values import normalize_number
from accelerator.expressions.binder import Binder, ResolvedPath, make_getter, overlap_errors
from accelerator.expressions.errors import (
    MSG_BAD_OPERAND_TYPE,
    MSG_BAD_PATH,
    MSG_MISSING_ATTRIBUTE,
    ExpressionError,
    invalid,
)
from accelerator.expressions.projection import project_paths
from accelerator.expressions.tree import (
    AddAction,
    Arithmetic,
    Call,
    DeleteAction,
    Literal,
    Node,
    Path,
    RemoveAction,
    SetAction,
    Update,
    ValueRef,
)
from accelerator.expressions.wire import b64_bytes, tag_of

if TYPE_CHECKING:
    from accelerator.expressions.context import ExpressionContext

__all__ = ["BoundUpdate", "bind_update", "apply_bound_update", "updated_attributes", "check_key_not_updated"]

AV = dict[str, Any]
Item = dict[str, Any]
Value = Callable[[Item], AV]

_RANKS = ("names", "values", "overlap", "conflict", "operand", "function")
_SETS = ("SS", "NS", "BS")
_LONG_TYPES = {"S": "STRING", "N": "NUMBER", "B": "BINARY", "NULL": "NULL", "BOOL": "BOOLEAN", "L": "LIST", "M": "MAP"}
_TYPE_OPERAND = "Incorrect operand type for operator or function; operator or function: "
_LEGACY_MISMATCH = "Type mismatch for attribute to update"
# Exact arithmetic over DynamoDB's whole range (exponents -130..125); normalize_number then enforces the
# 38-digit limit, so a sum that would need rounding is an error, not a silently different number.
_ARITH = Context(prec=400, Emax=999, Emin=-999)
_OVERFLOW = "Number overflow. Attempting to store a number with magnitude larger than supported range"



def _number_sum(a: str, b: str, subtract: bool = False) -> str:
    """a + b (or a - b) on canonical number text, as canonical text."""
    # Counters are small integers: int arithmetic on them is exact and str() of the result is already
    # canonical (no leading zeros, no "-0", far below 38 digits).
    if len(a) < 30 and len(b) < 30 and a.lstrip("-").isdigit() and b.lstrip("-").isdigit():
        return str(int(a) - int(b) if subtract else int(a) + int(b))
    x, y = Decimal(a), Decimal(b)
    result = _ARITH.subtract(x, y) if subtract else _ARITH.add(x, y)
    if len(result.normalize(_ARITH).as_tuple().digits) > 38:
        # DynamoDB reports a sum that needs more than 38 digits as an overflow, whatever its magnitude.
        raise ValidationException(_OVERFLOW)
    return normalize_number(str(result))


# Compiled actions: (kind, path, payload, legacy).
SET, REMOVE, ADD, DELETE = range(4)
_Compiled = tuple[int, ResolvedPath, Any, bool]


class BoundUpdate:
    """An update bound to one request."""

    __slots__ = ("actions", "paths", "names", "writes", "update")

    def __init__(self, actions: list[_Compiled], update: Update | None) -> None:
        self.actions = actions
        self.update = update
        self.paths: tuple[ResolvedPath, ...] = tuple(a[1] for a in actions)
        self.names: frozenset[str] = frozenset(str(p[0]) for p in self.paths)
        # Whether the update writes anything: an update of a missing item with only REMOVE/DELETE
        # actions does not create the item (DynamoDB behaviour).
        self.writes = any(a[0] in (SET, ADD) for a in actions)

    def apply(self, item: Item | None, key: Item | None = None) -> tuple[Item, frozenset[str]]:
        """The updated copy of ``item`` (or of ``key`` for a missing item) and the top-level names touched."""
        return apply_bound_update(self, item, key), self.names


class _UpdateBinder(Binder):
    __slots__ = ()

    def value(self, node: ValueRef | Literal, rank: str = "values") -> AV | None:
        return super().value(node, rank)

    def compile_value(self, node: Node, nested_in: str | None = None) -> tuple[Value, str | None]:
        """A SET value as a closure raising DynamoDB's runtime errors, and its statically known type."""
        if type(node) is Path:
            path = self.path(node)
            if path is None:
                return _never, None
            get = make_getter(path)

            def read(item: Item) -> AV:
                v = get(item)
                if v is None:
                    raise ValidationException(MSG_MISSING_ATTRIBUTE)
                return v

            return read, None
        if type(node) is ValueRef or type(node) is Literal:
            const = self.value(node)
            if const is None:
                return _never, None
            return (lambda item: const), tag_of(const)
        if type(node) is Arithmetic:
            return self.arithmetic(node)
        if type(node) is Call:
            return self.call(node, nested_in)
        raise ExpressionError("Syntax error; unexpected value")

    def arithmetic(self, node: Arithmetic) -> tuple[Value, str | None]:
        left, ltype = self.compile_value(node.left)
        right, rtype = self.compile_value(node.right)
        for static in (ltype, rtype):
            if static is not None and static != "N":
                self.note("function", _TYPE_OPERAND + f"{node.op}, operand type: {static}")
        subtract = node.op == "-"

        def compute(item: Item) -> AV:
            a, b = left(item), right(item)
            if "N" not in a or "N" not in b:
                raise ValidationException(MSG_BAD_OPERAND_TYPE)
            return {"N": _number_sum(a["N"], b["N"], subtract)}

        return compute, "N"

    def call(self, node: Call, nested_in: str | None) -> tuple[Value, str | None]:
        name = node.name
        args = [self.compile_value(arg, name) for arg in node.args]
        if len(args) != 2:
            self.note(
                "function",
                f"Incorrect number of operands for operator or function; operator or function: {name}, "
                f"number of operands: {len(args)}",
            )
            return _never, None
        if name == "if_not_exists":
            if type(node.args[0]) is not Path:
                self.note("function", f"Operator or function requires a document path; operator or function: {name}")
                return _never, None
            path = self.path(node.args[0])
            get = make_getter(path) if path is not None else (lambda item: None)
            default, dtype = args[1]
            return (lambda item: get(item) or default(item)), dtype
        if nested_in == "list_append":
            self.note("function", "The function is not allowed to be used this way in an expression; function: list_append")
        (first, ftype), (second, stype) = args
        for static in (ftype, stype):
            if static is not None and static != "L":
                self.note("function", _TYPE_OPERAND + f"list_append, operand type: {static}")

        def append(item: Item) -> AV:
            a, b = first(item), second(item)
            if "L" not in a or "L" not in b:
                raise ValidationException(MSG_BAD_OPERAND_TYPE)
            return {"L": a["L"] + b["L"]}

        return append, "L"

    def operand_value(self, action: AddAction | DeleteAction) -> AV | None:
        """ADD/DELETE's value, with DynamoDB's check of its type (legacy actions were checked already)."""
        const = self.value(action.value)  # type: ignore[arg-type]
        if const is None or action.legacy:
            return const
        tag = tag_of(const)
        section = "ADD" if isinstance(action, AddAction) else "DELETE"
        if tag not in _SETS and not (section == "ADD" and tag == "N"):
            self.note("operand", f"Incorrect operand type for operator or function; operator: {section}, operand type: {_LONG_TYPES[tag]}")
        return const


def _never(item: Item) -> AV:
    raise AssertionError("an unbound update value was evaluated")


def bind_update(update: Update, ctx: ExpressionContext, kind: str = "UpdateExpression") -> BoundUpdate:
    """Resolve an update's placeholders, check its paths and operand types, compile its values."""
    binder = _UpdateBinder(ctx)
    compiled: list[_Compiled] = []
    for action in update.actions:
        path = binder.path(action.path)
        kind_of = type(action)
        if kind_of is SetAction:
            payload: Any = binder.compile_value(action.value)[0]  # type: ignore[union-attr]
            code = SET
        elif kind_of is RemoveAction:
            payload, code = None, REMOVE
        else:
            payload = binder.operand_value(action)  # type: ignore[arg-type]
            code = ADD if kind_of is AddAction else DELETE
        if path is not None:
            compiled.append((code, path, payload, kind_of is not SetAction and kind_of is not RemoveAction
                             and action.legacy))  # type: ignore[union-attr]
    errors = binder.errors
    if "names" not in errors and "values" not in errors:
        overlap_errors(binder, [c[1] for c in compiled])
    if errors:
        try:
            binder.raise_errors(_RANKS)
        except ExpressionError as exc:
            raise invalid(kind, exc.message) from None
    return BoundUpdate(compiled, update)


class _Writer:
    """Copy-on-write access to the containers of a new item: each one is copied once, when first written."""

    __slots__ = ("root", "copies")

    def __init__(self, base: Item) -> None:
        self.root: Item = dict(base)
        self.copies: dict[ResolvedPath, Any] = {(): self.root}

    def container(self, prefix: ResolvedPath) -> dict[str, AV] | list[AV] | None:
        """The writable map (dict) or list at ``prefix``, or None if there is no container there."""
        found = self.copies.get(prefix)
        if found is not None:
            return found
        parent = self.container(prefix[:-1])
        if parent is None:
            return None
        step = prefix[-1]
        value = _child(parent, step)
        if value is None:
            return None
        inner: Any
        if "M" in value:
            inner = dict(value["M"])
            wrapped: AV = {"M": inner}
        elif "L" in value:
            inner = list(value["L"])
            wrapped = {"L": inner}
        else:
            return None
        parent[step] = wrapped  # type: ignore[index]
        self.copies[prefix] = inner
        return inner


def _child(parent: dict[str, AV] | list[AV], step: str | int) -> AV | None:
    if type(parent) is dict:
        return parent.get(step) if type(step) is str else None
    if type(step) is int and step < len(parent):
        return parent[step]  # type: ignore[index]
    return None


def _fits(parent: dict[str, AV] | list[AV] | None, step: str | int) -> bool:
    if parent is None:
        return False
    return (type(parent) is dict) == (type(step) is str)


def _add(existing: AV | None, value: AV, legacy: bool) -> AV:
    tag = tag_of(value)
    if existing is None:
        return value
    if tag not in existing:
        raise ValidationException(_LEGACY_MISMATCH if legacy else MSG_BAD_OPERAND_TYPE)
    if tag == "N":
        return {"N": _number_sum(existing["N"], value["N"])}
    if tag == "L":
        return {"L": existing["L"] + value["L"]}
    old = existing[tag]
    if tag == "BS":
        have = {b64_bytes(e) for e in old}
        extra = [e for e in value[tag] if b64_bytes(e) not in have]
    else:
        have_text = set(old)
        extra = [e for e in value[tag] if e not in have_text]
    return {tag: old + extra} if extra else existing


def _delete(existing: AV, value: AV, legacy: bool) -> AV | None:
    tag = tag_of(value)
    if tag not in existing:
        raise ValidationException(_LEGACY_MISMATCH if legacy else MSG_BAD_OPERAND_TYPE)
    if tag == "BS":
        gone = {b64_bytes(e) for e in value[tag]}
        kept = [e for e in existing[tag] if b64_bytes(e) not in gone]
    else:
        gone_text = set(value[tag])
        kept = [e for e in existing[tag] if e not in gone_text]
    if not kept:
        return None
    return {tag: kept} if len(kept) != len(existing[tag]) else existing


def apply_bound_update(bound: BoundUpdate, item: Item | None, key: Item | None = None) -> Item:
    """Apply a bound update to ``item`` (None: the item does not exist yet and starts as ``key``)."""
    missing = item is None
    base: Item = (key or {}) if item is None else item
    # Reads before writes: every SET value sees the item as it was.
    values = [payload(base) if code == SET else payload for code, _, payload, _ in bound.actions]
    writer = _Writer(base)
    removals: dict[int, tuple[list[AV], set[int]]] = {}
    appends: dict[int, tuple[list[AV], list[tuple[int, AV]]]] = {}
    for (code, path, _, legacy), value in zip(bound.actions, values, strict=True):
        parent = writer.container(path[:-1]) if len(path) > 1 else writer.root
        last = path[-1]
        if not _fits(parent, last):
            if missing and code in (REMOVE, DELETE):
                continue
            raise ValidationException(MSG_BAD_PATH)
        assert parent is not None
        if code == REMOVE:
            if type(parent) is dict:
                parent.pop(last, None)  # type: ignore[arg-type]
            elif last < len(parent):  # type: ignore[operator]
                removals.setdefault(id(parent), (parent, set()))[1].add(last)  # type: ignore[arg-type]
            continue
        existing = _child(parent, last)
        if code == SET:
            new: AV | None = value
        elif code == ADD:
            new = _add(existing, value, legacy)
        else:
            if existing is None:
                continue
            new = _delete(existing, value, legacy)
            if new is None:
                if type(parent) is dict:
                    del parent[last]  # type: ignore[arg-type]
                else:
                    removals.setdefault(id(parent), (parent, set()))[1].add(last)  # type: ignore[arg-type]
                continue
        assert new is not None
        if type(parent) is dict or last < len(parent):  # type: ignore[operator]
            parent[last] = new  # type: ignore[index]
        else:
            appends.setdefault(id(parent), (parent, []))[1].append((last, new))  # type: ignore[arg-type]
    for elements, indexes in removals.values():
        for index in sorted(indexes, reverse=True):
            del elements[index]
    for elements, pending in appends.values():
        elements.extend(v for _, v in sorted(pending, key=lambda p: p[0]))
    return writer.root


def updated_attributes(bound: BoundUpdate, item: Item | None) -> Item:
    """The item projected at the update's target paths: ReturnValues UPDATED_OLD (old item) / UPDATED_NEW (new)."""
    return project_paths(item, bound.paths)


def check_key_not_updated(bound: BoundUpdate, key_names: tuple[str, ...] | list[str]) -> None:
    """DynamoDB refuses any action whose path starts at a key attribute."""
    for path in bound.paths:
        if path[0] in key_names:
            raise ValidationException(
                f"One or more parameter values were invalid: Cannot update attribute {path[0]}. "
                "This attribute is part of the key"
            )
