"""Locks: this process's per-key asyncio locks, and the cross-process partition locks (SET NX PX with an
owner token) that cross-slot and escalated units take in sorted order, so lockers cannot deadlock."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

from accelerator.core.errors import BackendUnavailable, TransactionConflictException
from accelerator.core.protocols import KeyRef
from accelerator.core.retry import RetryPolicy
from backends.redis import scripts as lua
from backends.redis.driver import Driver, driver_errors

__all__ = ["LocalLocks", "PartitionLocks", "ONGOING"]

ONGOING = "Transaction is ongoing for the items requested"


class LocalLocks:
    """Per-key asyncio locks of this process, taken in sorted order (two units cannot deadlock)."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, bytes, bytes], list[Any]] = {}  # key -> [lock, users]

    @contextlib.asynccontextmanager
    async def hold(self, refs: Sequence[KeyRef]) -> AsyncIterator[None]:
        keys = sorted({(ref.table, ref.pk, ref.sk) for ref in refs})
        entries = []
        for key in keys:
            entry = self._entries.setdefault(key, [asyncio.Lock(), 0])
            entry[1] += 1
            entries.append(entry)
        acquired: list[asyncio.Lock] = []
        try:
            for entry in entries:
                await entry[0].acquire()
                acquired.append(entry[0])
            yield
        finally:
            for lock in reversed(acquired):
                lock.release()
            for key, entry in zip(keys, entries, strict=True):
                entry[1] -= 1
                if entry[1] == 0:
                    del self._entries[key]


class PartitionLocks:
    """``P:{T:H}:l`` locks with a lease; waiting backs off under ``backoff`` until the unit's deadline."""

    def __init__(self, driver: Driver, lease: float, stats: Counter[str],
                 unstick: Callable[[Sequence[bytes]], Awaitable[None]] | None = None) -> None:
        self.driver = driver
        self.lease = lease
        self.stats = stats
        self.backoff = RetryPolicy(base=0.001, cap=0.05)
        self.unstick = unstick  # cluster: finish a transaction whose owner left its lock held (intents.py)

    async def acquire(self, lock: bytes, token: bytes, deadline: float) -> None:
        client = self.driver.client
        lease = max(1, int(self.lease * 1000))
        waits = 0
        while True:
            with driver_errors():
                if await client.set(lock, token, nx=True, px=lease):
                    return
            if time.monotonic() > deadline:
                raise TransactionConflictException(ONGOING)
            self.stats["lock_waits"] += 1
            if self.unstick is not None and waits % 8 == 7:
                await self.unstick([lock])
            await self.backoff.pause(waits)
            waits += 1

    async def release(self, locks: list[bytes], token: bytes) -> None:
        with contextlib.suppress(BackendUnavailable):  # unreleased locks expire with their lease
            await self.driver.eval_many([(lua.DELETE_IF, [lock], [token]) for lock in locks])
