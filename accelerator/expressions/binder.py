"""What every kind of binding shares: placeholder resolution with ranked errors, and path getters.

Binding walks a parsed tree once per request, replaces ``#n``/``:v`` by the request's names and values
and compiles the result into closures, so evaluation touches no placeholder, no dict of names and no
tree node. Like parsing, binding notes errors and raises the one DynamoDB would report first.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from accelerator.expressions.errors import MSG_NAME_UNDEFINED, MSG_VALUE_UNDEFINED, ExpressionError, path_text
from accelerator.expressions.tree import Literal, NameRef, Path, ValueRef

if TYPE_CHECKING:
    from accelerator.expressions.context import ExpressionContext

__all__ = ["Binder", "Getter", "ResolvedPath", "make_getter", "get_path", "overlap_errors"]

AV = dict[str, Any]
Item = dict[str, Any]
ResolvedPath = tuple[str | int, ...]
Getter = Callable[[Item], AV | None]


class Binder:
    """Resolves placeholders through an ExpressionContext and collects ranked errors."""

    __slots__ = ("ctx", "errors")

    def __init__(self, ctx: ExpressionContext) -> None:
        self.ctx = ctx
        self.errors: dict[str, str] = {}

    def note(self, rank: str, message: str) -> None:
        self.errors.setdefault(rank, message)

    def raise_errors(self, ranks: tuple[str, ...]) -> None:
        for rank in ranks:
            if rank in self.errors:
                raise ExpressionError(self.errors[rank])

    def path(self, path: Path, rank: str = "names") -> ResolvedPath | None:
        """The path with placeholders replaced, or None (error noted) if one is undefined."""
        out: list[str | int] = []
        for element in path.elements:
            if type(element) is NameRef:
                name = self.ctx.use_name(element.ref)
                if name is None:
                    self.note(rank, MSG_NAME_UNDEFINED + element.ref)
                    return None
                out.append(name)
            else:
                out.append(element)  # type: ignore[arg-type]
        return tuple(out)

    def value(self, node: ValueRef | Literal, rank: str = "names") -> AV | None:
        """The request value for a placeholder (or a legacy literal), or None with the error noted."""
        if type(node) is Literal:
            return node.value
        assert isinstance(node, ValueRef)
        value = self.ctx.use_value(node.ref)
        if value is None:
            self.note(rank, MSG_VALUE_UNDEFINED + node.ref)
        return value


def get_path(item: Item, path: ResolvedPath) -> AV | None:
    """The value at a resolved path, or None where the path leads nowhere."""
    cur = item.get(path[0])  # type: ignore[arg-type]
    for step in path[1:]:
        if cur is None:
            return None
        if type(step) is str:
            inner = cur.get("M")
            cur = inner.get(step) if inner is not None else None
        else:
            items = cur.get("L")
            cur = items[step] if items is not None and step < len(items) else None  # type: ignore[operator]
    return cur


def make_getter(path: ResolvedPath) -> Getter:
    """A closure reading one resolved path from an item; top-level paths cost one dict lookup."""
    if len(path) == 1:
        name = path[0]
        return lambda item: item.get(name)  # type: ignore[arg-type]
    return lambda item: get_path(item, path)


def overlap_errors(binder: Binder, paths: list[ResolvedPath]) -> None:
    """Note DynamoDB's overlap/conflict errors among target paths, each against the ones before it."""
    if all(len(p) == 1 for p in paths) and len({p[0] for p in paths}) == len(paths):
        return  # distinct top-level names, the usual case: nothing can overlap
    for i, second in enumerate(paths):
        for first in paths[:i]:
            for a, b in zip(first, second, strict=False):
                if type(a) is not type(b):
                    binder.note(
                        "conflict",
                        "Two document paths conflict with each other; must remove or rewrite one of these "
                        f"paths; path one: {path_text(first)}, path two: {path_text(second)}",
                    )
                    break
                if a != b:
                    break
            else:
                binder.note(
                    "overlap",
                    "Two document paths overlap with each other; must remove or rewrite one of these "
                    f"paths; path one: {path_text(first)}, path two: {path_text(second)}",
                )
                return
