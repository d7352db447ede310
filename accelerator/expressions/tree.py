"""The parsed forms of expressions: frozen, slotted dataclasses that hold only the expression text's facts.

Placeholders stay placeholders (``NameRef("#n")``, ``ValueRef(":v")``), so a tree depends on nothing but
its text and is cached by it; a request's names and values are bound later (see ``bind``). The one
exception is ``Literal``, which only the converters of legacy parameters (Expected, AttributeUpdates, ...)
build, per request, and which never enters the cache.

Functions are kept generic (``Call(name, args)``): whether ``size(a, b)`` has the right number of operands
is checked at bind time, because DynamoDB reports such errors after undefined names and values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "NameRef",
    "PathElement",
    "Path",
    "ValueRef",
    "Literal",
    "Call",
    "Arithmetic",
    "Operand",
    "Compare",
    "Between",
    "In",
    "And",
    "Or",
    "Not",
    "Node",
    "Condition",
    "Projection",
    "SetAction",
    "RemoveAction",
    "AddAction",
    "DeleteAction",
    "Action",
    "Update",
    "CONDITION_FUNCTIONS",
    "OPERAND_FUNCTIONS",
    "UPDATE_FUNCTIONS",
]

# Functions whose result is a condition, and those whose result is an operand.
CONDITION_FUNCTIONS = frozenset(("attribute_exists", "attribute_not_exists", "attribute_type", "begins_with", "contains"))
OPERAND_FUNCTIONS = frozenset(("size",))
UPDATE_FUNCTIONS = frozenset(("if_not_exists", "list_append"))


@dataclass(frozen=True, slots=True)
class NameRef:
    """An expression attribute name placeholder such as ``#n``."""

    ref: str


PathElement = str | int | NameRef


@dataclass(frozen=True, slots=True)
class Path:
    """A document path: attribute names (literal or placeholder) and list indexes."""

    elements: tuple[PathElement, ...]


@dataclass(frozen=True, slots=True)
class ValueRef:
    """An expression attribute value placeholder such as ``:v``."""

    ref: str


@dataclass(frozen=True, slots=True, eq=False)
class Literal:
    """A value carried in the tree itself; only legacy-parameter trees (never cached) use it."""

    value: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Call:
    """A function call, as written: ``size(a)``, ``begins_with(a, :p)``, ``if_not_exists(a, :v)``."""

    name: str
    args: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Arithmetic:
    """``a + b`` or ``a - b`` on the right side of a SET action."""

    op: str
    left: Node
    right: Node


Operand = Path | ValueRef | Literal | Call | Arithmetic


@dataclass(frozen=True, slots=True)
class Compare:
    """``left op right`` with op one of = <> < <= > >=."""

    op: str
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class Between:
    """``subject BETWEEN low AND high``."""

    subject: Node
    low: Node
    high: Node


@dataclass(frozen=True, slots=True)
class In:
    """``subject IN (option, ...)``."""

    subject: Node
    options: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class And:
    """Both conditions."""

    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class Or:
    """Either condition."""

    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class Not:
    """The negated condition."""

    operand: Node


Node = Path | ValueRef | Literal | Call | Arithmetic | Compare | Between | In | And | Or | Not


@dataclass(frozen=True, slots=True)
class Condition:
    """A parsed condition, filter or key-condition expression."""

    root: Node
    text: str = field(default="", compare=False)


@dataclass(frozen=True, slots=True)
class Projection:
    """A parsed projection expression (or AttributesToGet): document paths in request order."""

    paths: tuple[Path, ...]
    text: str = field(default="", compare=False)
    # The ``#name`` placeholders it uses; set by the parser, whose trees live in the parse cache and so
    # may share one binding across requests that resolve those names alike.
    name_refs: tuple[str, ...] | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class SetAction:
    """``SET path = value``."""

    path: Path
    value: Node


@dataclass(frozen=True, slots=True)
class RemoveAction:
    """``REMOVE path``."""

    path: Path


@dataclass(frozen=True, slots=True)
class AddAction:
    """``ADD path value``; ``legacy`` marks AttributeUpdates' ADD (lists allowed, other messages)."""

    path: Path
    value: Node
    legacy: bool = False


@dataclass(frozen=True, slots=True)
class DeleteAction:
    """``DELETE path value`` (set difference); ``legacy`` marks AttributeUpdates' DELETE."""

    path: Path
    value: Node
    legacy: bool = False


Action = SetAction | RemoveAction | AddAction | DeleteAction


@dataclass(frozen=True, slots=True)
class Update:
    """A parsed update expression: its actions in text order (clauses interleaved as written)."""

    actions: tuple[Action, ...]
    text: str = field(default="", compare=False)
