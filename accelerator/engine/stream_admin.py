"""StreamSpecification on CreateTable and UpdateTable, and the stream members of DescribeTable.

DynamoDB's rules and wording: a view type is required to enable a stream and refused when disabling one;
enabling a table's enabled stream (with any view type) and disabling a table without one are errors; a
stream's view type cannot change in place (disable, then enable: a new stream with a new ARN). After a
stream is disabled, DescribeTable keeps its LatestStreamArn/LatestStreamLabel and drops StreamSpecification.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from accelerator.core.errors import ValidationException
from accelerator.core.protocols import Request
from accelerator.engine.handler import Engine
from accelerator.engine.stream_state import check_create_spec

__all__ = ["on_create", "plan_update", "describe_streams", "check_create_spec"]

_INVALID = "One or more parameter values were invalid: "


async def on_create(engine: Engine, name: str, req: Request) -> None:
    """After CreateTable: the new table starts without a stream (a deleted one's stay readable beside), then
    enable the requested stream."""
    view = check_create_spec(req.get("StreamSpecification"))
    await engine.streams.reincarnate(name)
    if view is not None:
        await engine.streams.enable(name, view, time.time())


async def plan_update(engine: Engine, name: str, req: Request) -> Callable[[], Awaitable[None]] | None:
    """Check UpdateTable's StreamSpecification before anything changes; the change to make after the others."""
    spec = req.get("StreamSpecification")
    if spec is None:
        return None
    if req.get("GlobalSecondaryIndexUpdates"):
        raise ValidationException(_INVALID + "You cannot create or delete index while changing stream status")
    view = spec.get("StreamViewType")
    streams = await engine.streams.live(name)
    enabled = bool(streams) and streams[-1].enabled
    if spec["StreamEnabled"]:
        if enabled:
            raise ValidationException(f"Table already has an enabled stream: TableName: {name}")
        if view is None:
            raise ValidationException(_INVALID + "If stream is being enabled then UpdateViewType is required")
        return lambda: engine.streams.enable(name, view, time.time())
    if view is not None:
        raise ValidationException(_INVALID + "If stream is being disabled, then UpdateViewType must not be specified")
    if not enabled:
        raise ValidationException(f"Table has no stream to disable: TableName: {name}")
    return lambda: engine.streams.disable(name)


async def describe_streams(engine: Engine, name: str) -> dict[str, Any]:
    """StreamSpecification (while enabled), LatestStreamArn and LatestStreamLabel for DescribeTable."""
    streams = await engine.streams.live(name)
    if not streams:
        return {}
    latest = streams[-1]
    out: dict[str, Any] = {"LatestStreamArn": latest.arn, "LatestStreamLabel": latest.label}
    if latest.enabled:
        out["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": latest.view}
    return out
