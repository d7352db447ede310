"""Counted fallbacks: every place the cache steps aside says so.

Where the cache cannot work out what a request touches (a key it cannot read, a projection or key condition it
cannot parse, a table it cannot describe, a write whose keys are unknown), it lets the store answer and
invalidates instead of filling. That is correct, but if it happens for every request the cache is off without
anyone knowing. Each fallback is counted in ``accelerator_cache_bypass_total{table,reason}`` and logged at most
once a minute per (table, reason). A table the cache does not know is labelled ``-`` so that client-supplied
names cannot grow the label set.
"""

from __future__ import annotations

import logging
from collections import defaultdict

from accelerator.core.guard import LogOnce

__all__ = ["Bypasses", "UNKNOWN_TABLE"]

log = logging.getLogger("accelerator.cache")

UNKNOWN_TABLE = "-"


class Bypasses:
    """Counts by (table, reason), bumped by the cache and read by /metrics."""

    __slots__ = ("counts", "_log")

    def __init__(self, counts: dict[tuple[str, ...], int] | None = None) -> None:
        self.counts: dict[tuple[str, ...], int] = counts if counts is not None else defaultdict(int)
        self._log = LogOnce(log)

    def note(self, table: str, reason: str, exc: BaseException | None = None, level: int = logging.INFO) -> None:
        key = (table, reason)
        self.counts[key] = self.counts.get(key, 0) + 1
        detail = "" if exc is None else f" ({type(exc).__name__}: {exc})"
        self._log(f"{table}\0{reason}", level, "cache bypass on table %s: %s%s", table, reason, detail)
