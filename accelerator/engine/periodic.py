"""A background job run every ``interval`` seconds, for as long as the engine is open, that survives its own
failures: the store being away (a DynamoError or StorageError) is logged once until a round succeeds again,
anything else is a bug, counted and logged (rate-limited) by ``guard.swallowed`` under the job's name; either
way the next round runs. ``errors`` counts the failed rounds (exported as metrics by the app)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from accelerator.core.errors import DynamoError, StorageError
from accelerator.core.guard import swallowed

__all__ = ["Periodic", "RunsPeriodically"]

log = logging.getLogger("accelerator.engine")


class Periodic:
    """Runs ``work()`` every ``interval`` seconds (0: never) between ``start()`` and ``stop()``."""

    def __init__(self, name: str, interval: float, work: Callable[[], Awaitable[Any]]) -> None:
        self.name = name
        self.interval = interval
        self.work = work
        self.errors = 0
        self._away = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.interval > 0 and self._task is None:
            self._task = asyncio.ensure_future(self._loop())

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.work()
                if self._away:
                    log.info("%s works again", self.name)
                self._away = False
            except (DynamoError, StorageError) as exc:  # the store is away: keep going, try next round
                self.errors += 1
                if not self._away:
                    log.warning("%s failed (logged once until it works again): %s", self.name, exc)
                self._away = True
            except Exception as exc:  # noqa: BLE001 - a bug must not end the job until a restart
                self.errors += 1
                swallowed(self.name, exc)


class RunsPeriodically:
    """For a class that owns one ``Periodic`` as ``self.job``: its start, stop and error count."""

    job: Periodic

    def start(self) -> None:
        self.job.start()

    async def stop(self) -> None:
        await self.job.stop()

    @property
    def errors(self) -> int:
        return self.job.errors
