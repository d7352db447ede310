"""Code that must not raise: work after a commit (capacity, cache settle) and background jobs.

A failure there is a bug, but the write it follows is already durable, so the client must still get the
success it earned, and a background job must keep running. ``quietly`` runs such code, counts the failure
by site (exported as ``accelerator_swallowed_errors_total{site}``) and logs it at most once a minute per
site with its traceback, so a bug is visible without flooding the log.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["FAILURES", "LogOnce", "quietly", "swallowed"]

log = logging.getLogger("accelerator")

T = TypeVar("T")

FAILURES: dict[str, int] = defaultdict(int)
"""Failures swallowed per site, since the process started."""


class LogOnce:
    """Rate-limited logging: one line per key per ``interval`` seconds, naming how many were left out."""

    __slots__ = ("logger", "interval", "clock", "_last", "_skipped")

    def __init__(self, logger: logging.Logger, interval: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.logger, self.interval, self.clock = logger, interval, clock
        self._last: dict[str, float] = {}
        self._skipped: dict[str, int] = defaultdict(int)

    def __call__(self, key: str, level: int, message: str, *args: Any, exc_info: Any = None) -> bool:
        """Log unless ``key`` was logged within the interval; returns whether it logged."""
        now = self.clock()
        last = self._last.get(key)
        if last is not None and now - last < self.interval:
            self._skipped[key] += 1
            return False
        self._last[key] = now
        skipped = self._skipped.pop(key, 0)
        if skipped:
            message += " (%d more since the last report)"
            args = (*args, skipped)
        self.logger.log(level, message, *args, exc_info=exc_info)
        return True


_once = LogOnce(log)


def swallowed(site: str, exc: BaseException) -> None:
    """Count and (rate-limited) log a failure that the caller has decided not to raise."""
    FAILURES[site] += 1
    _once(site, logging.ERROR, "%s failed; carried on without it", site, exc_info=exc)


def quietly(site: str, fn: Callable[..., T], *args: Any, default: T | None = None) -> T | None:
    """``fn(*args)``, or ``default`` when it raises (counted and logged under ``site``)."""
    try:
        return fn(*args)
    except Exception as exc:  # noqa: BLE001 - the point of this function
        swallowed(site, exc)
        return default
