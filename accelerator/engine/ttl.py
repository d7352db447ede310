"""Time to Live: per-table settings kept durably in the store, and a sweeper that deletes expired items.

As in DynamoDB, an item expires when its TTL attribute is a Number of epoch seconds in the past; items
whose value is more than five years in the past, or not a Number, are never deleted. Expired items stay
readable until the sweeper deletes them (DynamoDB takes up to a few days; the sweeper runs every
``interval`` seconds). Each deletion re-checks the expiry inside the atomic unit, so an update that
extends the TTL concurrently wins.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from accelerator.core.errors import DynamoError, ValidationException
from accelerator.core.guard import swallowed
from accelerator.core.protocols import KEEP, KeyRef, Storage
from accelerator.engine.changelog import BY_SERVICE
from accelerator.engine.meta import META_TABLE, TOKEN_PREFIX, TOKEN_SECONDS, MetaStore
from accelerator.engine.paging import HOUSEKEEPING_DUTY, scan_all
from accelerator.engine.periodic import Periodic, RunsPeriodically

__all__ = ["TtlSettings", "TtlSweeper", "expired"]

log = logging.getLogger("accelerator.ttl")

_FIVE_YEARS = 5 * 365 * 24 * 3600


def expired(item: dict[str, Any] | None, attribute: str, now: float) -> bool:
    """Whether DynamoDB's TTL process would delete ``item`` at time ``now``."""
    if item is None:
        return False
    value = item.get(attribute)
    if not isinstance(value, dict) or "N" not in value:
        return False
    try:
        at = Decimal(value["N"])
    except InvalidOperation:
        return False
    return now - _FIVE_YEARS <= at < Decimal(now)


class TtlSettings:
    """UpdateTimeToLive / DescribeTimeToLive state, one durable record per table."""

    def __init__(self, meta: MetaStore) -> None:
        self.meta = meta

    async def get(self, table: str) -> dict[str, Any] | None:
        """{"Enabled": bool, "AttributeName": str} or None when never set."""
        return await self.meta.get("ttl:" + table)

    async def set(self, table: str, spec: dict[str, Any]) -> None:
        current = await self.get(table)
        enabled = bool(spec["Enabled"])
        if (current.get("Enabled") if current is not None else False) == enabled:  # never set: disabled
            raise ValidationException(
                "TimeToLive is already enabled" if enabled else "TimeToLive is already disabled")
        if not enabled and current is not None and current.get("AttributeName") != spec["AttributeName"]:
            raise ValidationException("TimeToLive is active on a different AttributeName: current AttributeName "
                                      f"is {current.get('AttributeName')}")
        await self.meta.put("ttl:" + table, {"Enabled": enabled, "AttributeName": spec["AttributeName"]})

    async def forget(self, table: str) -> None:
        """Drop a deleted table's settings."""
        await self.meta.delete("ttl:" + table)


class TtlSweeper(RunsPeriodically):
    """Background task: every ``interval`` seconds, delete the expired items of tables with TTL enabled."""

    def __init__(self, storage: Storage, settings: TtlSettings, interval: float,
                 clock: Callable[[], float] = time.time) -> None:
        self.storage = storage
        self.settings = settings
        self.interval = interval
        self.clock = clock
        self.listeners: list[Callable[[str, bytes, bytes], None]] = []
        self.job = Periodic("ttl sweep", interval, self.sweep)

    async def sweep(self) -> int:
        """One pass over every table with TTL enabled (and the expired transaction tokens); returns how many
        items were deleted. A table whose sweep fails on anything but the store being away is logged, counted
        and skipped, so one bad table does not stop the others' TTL."""
        deleted = await self._sweep_tokens()
        for name in await self.storage.list_tables():
            spec = await self.settings.get(name)
            if spec and spec.get("Enabled"):
                try:
                    deleted += await self._sweep_table(name, spec["AttributeName"])
                except DynamoError:
                    raise
                except Exception as exc:  # noqa: BLE001 - see the docstring
                    swallowed("ttl sweep", exc)
        return deleted

    async def _sweep_table(self, table: str, attribute: str) -> int:
        deleted = 0
        async for rows in scan_all(self.storage, table, duty=HOUSEKEEPING_DUTY):
            now = self.clock()
            for pk, sk, data in rows:
                if expired(orjson.loads(data), attribute, now):
                    deleted += await self._delete(KeyRef(table, pk, sk), attribute, now)
        return deleted

    async def _sweep_tokens(self) -> int:
        deleted = 0
        async for rows in scan_all(self.storage, META_TABLE, duty=HOUSEKEEPING_DUTY):
            now = self.clock()
            for pk, sk, data in rows:
                if pk.startswith(TOKEN_PREFIX) and now - orjson.loads(data)["at"] > TOKEN_SECONDS:
                    ref = KeyRef(META_TABLE, pk, sk)

                    def apply(olds: list[bytes | None], now: float = now) -> list[Any]:
                        fresh = olds[0] is not None and now - orjson.loads(olds[0])["at"] <= TOKEN_SECONDS
                        return [KEEP if fresh or olds[0] is None else None]

                    await self.storage.transact([ref], apply)
                    deleted += 1
        return deleted

    async def _delete(self, ref: KeyRef, attribute: str, now: float) -> int:
        gone = [0]

        def apply(olds: list[bytes | None]) -> list[Any]:
            if olds[0] is not None and expired(orjson.loads(olds[0]), attribute, now):
                gone[0] = 1
                return [None]
            gone[0] = 0
            return [KEEP]

        token = BY_SERVICE.set(True)
        try:
            await self.storage.transact([ref], apply)
        finally:
            BY_SERVICE.reset(token)
        if gone[0]:
            for listener in self.listeners:
                listener(ref.table, ref.pk, ref.sk)
        return gone[0]
