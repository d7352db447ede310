"""Projection of cached whole items on the way out, through the engine's projection planner.

The cache stores whole items so every projection of a key shares one entry. ``projector`` is the one
switch: it asks ``accelerator.expressions.plan`` for the request's projection, checking the request's
names and values exactly as the engine does; whenever it raises (a bad expression, an unused name),
the read bypasses the cache and the store reports the error.
"""

from __future__ import annotations

from collections.abc import Callable

from accelerator.core.protocols import Request
from accelerator.core.values import Item
from accelerator.expressions import plan

__all__ = ["projector", "EXPRESSION_MEMBERS", "Projector"]

Projector = Callable[[Item], Item]

EXPRESSION_MEMBERS = ("ProjectionExpression", "AttributesToGet", "ExpressionAttributeNames",
                      "ExpressionAttributeValues")
"""Members of a GetItem / BatchGetItem table entry that shape the answer beyond the key."""


def projector(req: Request, operation: str) -> Projector | None:
    """The projection of a read request (None: whole items); raises if it cannot be served here."""
    ctx = plan.Context(req, operation)
    project = plan.projection(req, ctx)
    ctx.finish()
    return project
