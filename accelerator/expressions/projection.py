"""Projection: keep only the requested document paths of an item, in the item's own shape.

Bound paths become a trie (``{name: subtrie | None}`` for maps, ``{index: ...}`` for lists, None meaning
"the whole value"). Projecting keeps a map's selected keys and a list's selected elements, compacted in
index order, as DynamoDB does: ``a[3], a[1]`` of ``[w, x, y, z]`` gives ``[x, z]``. A container none of
whose selected paths exist is left out. The result shares unchanged values with the item (nothing is
copied), so callers must treat it as read-only, like every item in this code base.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from accelerator.expressions.binder import Binder, ResolvedPath, overlap_errors
from accelerator.expressions.errors import ExpressionError, invalid
from accelerator.expressions.tree import Projection

if TYPE_CHECKING:
    from accelerator.expressions.context import ExpressionContext

__all__ = ["BoundProjection", "bind_projection", "project_paths", "build_trie"]

AV = dict[str, Any]
Item = dict[str, Any]
Trie = dict[Any, Any]

_RANKS = ("names", "overlap", "conflict")


class BoundProjection:
    """A projection bound to one request; ``apply(item)`` returns the projected item."""

    __slots__ = ("paths", "names", "trie", "projection", "top_level")

    def __init__(self, paths: tuple[ResolvedPath, ...], projection: Projection | None) -> None:
        self.paths = paths
        self.projection = projection
        self.trie = build_trie(paths)
        # Every path a top-level name: the common case, and a single dict comprehension.
        self.top_level = all(len(p) == 1 for p in paths)
        self.names: tuple[str, ...] = tuple(dict.fromkeys(str(p[0]) for p in paths))

    def apply(self, item: Item | None) -> Item:
        """The item restricted to the projected paths (empty for a missing item)."""
        if not item:
            return {}
        if self.top_level:
            return {name: item[name] for name in self.names if name in item}
        return _project_map(item, self.trie)


def build_trie(paths: tuple[ResolvedPath, ...] | list[ResolvedPath]) -> Trie:
    """The selection trie of non-overlapping paths; list levels keep their indexes in ascending order."""
    root: Trie = {}
    for path in paths:
        node = root
        for step in path[:-1]:
            child = node.get(step)
            if child is None:
                child = node[step] = {}
            node = child
        node[path[-1]] = None
    return _sort_lists(root)


def _sort_lists(trie: Trie) -> Trie:
    keys = list(trie)
    if keys and type(keys[0]) is int:
        keys.sort()
    return {k: (None if trie[k] is None else _sort_lists(trie[k])) for k in keys}


def _project_map(inner: dict[str, AV], trie: Trie) -> dict[str, AV]:
    out: dict[str, AV] = {}
    for key, sub in trie.items():
        value = inner.get(key)
        if value is None:
            continue
        if sub is None:
            out[key] = value
        else:
            projected = _project_value(value, sub)
            if projected is not None:
                out[key] = projected
    return out


def _project_value(value: AV, trie: Trie) -> AV | None:
    if type(next(iter(trie))) is str:
        inner = value.get("M")
        if inner is None:
            return None
        kept = _project_map(inner, trie)
        return {"M": kept} if kept else None
    elements = value.get("L")
    if elements is None:
        return None
    out: list[AV] = []
    for index, sub in trie.items():
        if index >= len(elements):
            break
        if sub is None:
            out.append(elements[index])
        else:
            projected = _project_value(elements[index], sub)
            if projected is not None:
                out.append(projected)
    return {"L": out} if out else None


def project_paths(item: Item | None, paths: tuple[ResolvedPath, ...] | list[ResolvedPath]) -> Item:
    """Project an item at already-resolved, non-overlapping paths (UPDATED_OLD / UPDATED_NEW use this)."""
    if not item or not paths:
        return {}
    return _project_map(item, build_trie(paths))


def bind_projection(projection: Projection, ctx: ExpressionContext, kind: str = "ProjectionExpression") -> BoundProjection:
    """Resolve a projection's placeholders and reject overlapping or conflicting paths."""
    binder = Binder(ctx)
    paths: list[ResolvedPath] = []
    for path in projection.paths:
        resolved = binder.path(path)
        if resolved is not None:
            paths.append(resolved)
    if "names" not in binder.errors:
        overlap_errors(binder, paths)
    try:
        binder.raise_errors(_RANKS)
    except ExpressionError as exc:
        raise invalid(kind, exc.message) from None
    return BoundProjection(tuple(paths), projection)
