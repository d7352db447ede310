"""Entry points: cached parsing by expression text, binding, and the evaluate/project/apply calls.

Parsed trees depend only on their text, so each kind has a bounded LRU keyed by the text
(``functools.lru_cache``: a hit is one dict lookup, well under a microsecond) and ``parse_cache_info()``
exposes its hit/miss counters. Failed parses are not cached; the error message gets the prefix of the
parameter being parsed (``Invalid FilterExpression: ...``), which is why the kind is not part of the key.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, NamedTuple, overload

from accelerator.expressions.conditions import BoundCondition
from accelerator.expressions.context import ExpressionContext
from accelerator.expressions.errors import ExpressionError, invalid
from accelerator.expressions.parser import parse_condition_text, parse_projection_text, parse_update_text
from accelerator.expressions.projection import BoundProjection
from accelerator.expressions.tree import Condition, Projection, Update
from accelerator.expressions.updates import BoundUpdate, apply_bound_update

__all__ = [
    "MAX_EXPRESSION_BYTES",
    "PARSE_CACHE_SIZE",
    "ParseCacheInfo",
    "parse_condition",
    "parse_filter",
    "parse_key_condition",
    "parse_projection",
    "parse_update",
    "parse_cache_info",
    "parse_cache_clear",
    "bind",
    "evaluate",
    "project",
    "apply_update",
]

Item = dict[str, Any]

# "The maximum length of any expression string is 4 KB" (DynamoDB developer guide), counted in UTF-8 bytes.
MAX_EXPRESSION_BYTES = 4096
PARSE_CACHE_SIZE = 4096
# A text of at most this many characters is at most 4096 UTF-8 bytes: only longer ones need encoding.
_SHORT = MAX_EXPRESSION_BYTES // 4


class ParseCacheInfo(NamedTuple):
    """Hit/miss counters of the parse caches, summed over the three kinds of expression."""

    hits: int
    misses: int
    maxsize: int
    currsize: int


def _check_text(text: Any, kind: str) -> None:
    if not isinstance(text, str):
        raise invalid(kind, "The expression must be a string")
    if not text:
        raise invalid(kind, "The expression can not be empty;")
    if len(text) > _SHORT and (size := len(text.encode("utf-8", "surrogatepass"))) > MAX_EXPRESSION_BYTES:
        raise invalid(kind, f"Expression size has exceeded the maximum allowed size; expression size: {size}")


@lru_cache(maxsize=PARSE_CACHE_SIZE)
def _condition(text: str) -> Condition:
    return parse_condition_text(text)


@lru_cache(maxsize=PARSE_CACHE_SIZE)
def _projection(text: str) -> Projection:
    return parse_projection_text(text)


@lru_cache(maxsize=PARSE_CACHE_SIZE)
def _update(text: str) -> Update:
    return parse_update_text(text)


def parse_condition(text: str, kind: str = "ConditionExpression") -> Condition:
    """Parse (or fetch from the cache) a condition; ``kind`` names the parameter in error messages."""
    if type(text) is not str or not text or len(text) > _SHORT:
        _check_text(text, kind)
    try:
        return _condition(text)
    except ExpressionError as exc:
        raise invalid(kind, exc.message) from None


def parse_filter(text: str) -> Condition:
    """Parse a FilterExpression (the condition grammar, FilterExpression's messages)."""
    return parse_condition(text, "FilterExpression")


def parse_key_condition(text: str) -> Condition:
    """Parse a KeyConditionExpression; analyse it with ``analyze_key_condition``."""
    return parse_condition(text, "KeyConditionExpression")


def parse_projection(text: str, kind: str = "ProjectionExpression") -> Projection:
    """Parse (or fetch from the cache) a projection expression."""
    if type(text) is not str or not text or len(text) > _SHORT:
        _check_text(text, kind)
    try:
        return _projection(text)
    except ExpressionError as exc:
        raise invalid(kind, exc.message) from None


def parse_update(text: str, kind: str = "UpdateExpression") -> Update:
    """Parse (or fetch from the cache) an update expression."""
    if type(text) is not str or not text or len(text) > _SHORT:
        _check_text(text, kind)
    try:
        return _update(text)
    except ExpressionError as exc:
        raise invalid(kind, exc.message) from None


def parse_cache_info() -> ParseCacheInfo:
    """Hits, misses and sizes of the parse caches (all kinds together)."""
    infos = [_condition.cache_info(), _projection.cache_info(), _update.cache_info()]
    return ParseCacheInfo(
        hits=sum(i.hits for i in infos),
        misses=sum(i.misses for i in infos),
        maxsize=sum(i.maxsize or 0 for i in infos),
        currsize=sum(i.currsize for i in infos),
    )


def parse_cache_clear() -> None:
    """Empty the parse caches and reset their counters."""
    _condition.cache_clear()
    _projection.cache_clear()
    _update.cache_clear()


@overload
def bind(tree: Condition, ctx: ExpressionContext | None = None, kind: str | None = None) -> BoundCondition: ...
@overload
def bind(tree: Projection, ctx: ExpressionContext | None = None, kind: str | None = None) -> BoundProjection: ...
@overload
def bind(tree: Update, ctx: ExpressionContext | None = None, kind: str | None = None) -> BoundUpdate: ...
def bind(
    tree: Condition | Projection | Update, ctx: ExpressionContext | None = None, kind: str | None = None
) -> BoundCondition | BoundProjection | BoundUpdate:
    """Bind a parsed tree to a request's names and values (once per context; later calls reuse it)."""
    ctx = ctx if ctx is not None else ExpressionContext()
    if isinstance(tree, Condition):
        return ctx.bind_condition(tree, kind or "ConditionExpression")
    if isinstance(tree, Projection):
        return ctx.bind_projection(tree, kind or "ProjectionExpression")
    return ctx.bind_update(tree, kind or "UpdateExpression")


def evaluate(condition: Condition | BoundCondition, item: Item | None, ctx: ExpressionContext | None = None) -> bool:
    """Whether ``item`` (None or {} for a missing item) satisfies the condition."""
    if not isinstance(condition, BoundCondition):
        condition = bind(condition, ctx)
    return condition.test(item or {})


def project(projection: Projection | BoundProjection, item: Item | None, ctx: ExpressionContext | None = None) -> Item:
    """The item reduced to the projection's paths, in the item's shape."""
    if not isinstance(projection, BoundProjection):
        projection = bind(projection, ctx)
    return projection.apply(item)


def apply_update(
    update: Update | BoundUpdate, item: Item | None, ctx: ExpressionContext | None = None, *, key: Item | None = None
) -> tuple[Item, frozenset[str]]:
    """The updated copy of ``item`` and the top-level attribute names the update touched.

    ``item`` None means the item does not exist: the update starts from ``key`` (its key attributes).
    The input item is never modified.
    """
    if not isinstance(update, BoundUpdate):
        update = bind(update, ctx)
    return apply_bound_update(update, item, key), update.names
