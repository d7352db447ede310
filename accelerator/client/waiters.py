"""Waiters for table_exists / table_not_exists, with boto3's ``get_waiter(name).wait(...)`` interface."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from .errors import ClientError

__all__ = ["WAITERS", "AsyncWaiter", "Waiter", "WaiterError"]

# name -> (default delay seconds, default max attempts)
WAITERS: dict[str, tuple[float, int]] = {"table_exists": (20.0, 25), "table_not_exists": (20.0, 25)}


class WaiterError(Exception):
    """The waited-for state was not reached within the attempts."""

    def __init__(self, name: str, reason: str, last_response: dict[str, Any] | None = None) -> None:
        super().__init__(f"Waiter {name} failed: {reason}")
        self.name = name
        self.reason = reason
        self.last_response = last_response


def _settings(name: str, kwargs: dict[str, Any]) -> tuple[dict[str, Any], float, int]:
    if name not in WAITERS:
        raise ValueError(f"no waiter named {name!r} (only {', '.join(WAITERS)})")
    params = dict(kwargs)
    config = params.pop("WaiterConfig", None) or {}
    delay, attempts = WAITERS[name]
    return params, float(config.get("Delay", delay)), int(config.get("MaxAttempts", attempts))


def _done(name: str, resp: dict[str, Any] | None) -> bool:
    if name == "table_not_exists":
        return resp is None
    return resp is not None and resp["Table"].get("TableStatus") == "ACTIVE"


def _absent(exc: ClientError) -> dict[str, Any] | None:
    """A missing table is an answer for the waiter (no description); any other error is the caller's."""
    if exc.response["Error"]["Code"] != "ResourceNotFoundException":
        raise exc
    return None


class _WaiterBase:
    def __init__(self, client: Any, name: str) -> None:
        self._client = client
        self.name = name
        _settings(name, {})


class Waiter(_WaiterBase):
    """``client.get_waiter(name)``; polls describe_table."""

    def wait(self, **kwargs: Any) -> None:
        params, delay, attempts = _settings(self.name, kwargs)
        resp: dict[str, Any] | None = None
        for attempt in range(attempts):
            try:
                resp = self._client.describe_table(**params)
            except ClientError as exc:
                resp = _absent(exc)
            if _done(self.name, resp):
                return
            if attempt + 1 < attempts:
                time.sleep(delay)
        raise WaiterError(self.name, "Max attempts exceeded", resp)


class AsyncWaiter(_WaiterBase):
    """``async_client.get_waiter(name)``; ``await waiter.wait(...)``."""

    async def wait(self, **kwargs: Any) -> None:
        params, delay, attempts = _settings(self.name, kwargs)
        resp: dict[str, Any] | None = None
        for attempt in range(attempts):
            try:
                resp = await self._client.describe_table(**params)
            except ClientError as exc:
                resp = _absent(exc)
            if _done(self.name, resp):
                return
            if attempt + 1 < attempts:
                await asyncio.sleep(delay)
        raise WaiterError(self.name, "Max attempts exceeded", resp)
