"""Helpers for the backup, PITR and export tests: a writer with a replayable history, and waiting on states."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["HistoryWriter", "wait_for", "table_items", "state_after"]

KEYS = 120


def op(i: int) -> tuple[str, str, int]:
    """Write number ``i`` (from 1): every fifth deletes a key, the others put one with v = i."""
    if i % 5 == 0:
        return "delete", f"k{(i * 7) % KEYS}", i
    return "put", f"k{i % KEYS}", i


def state_after(count: int, initial: dict[str, int]) -> dict[str, int]:
    """The table (key -> v) after the first ``count`` writes, starting from ``initial``."""
    state = dict(initial)
    for i in range(1, count + 1):
        kind, key, value = op(i)
        if kind == "delete":
            state.pop(key, None)
        else:
            state[key] = value
    return state


class HistoryWriter:
    """Runs writes 1, 2, 3, ... one after another in a thread; counts those started and acknowledged."""

    def __init__(self, client: Any, table: str) -> None:
        self.client = client
        self.table = table
        self.started = 0
        self.acked = 0
        self.sent: list[float] = []  # wall-clock time each write was sent (index i-1 for write i)
        self.acks: list[float] = []  # and acknowledged
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            while not self.stop.is_set():
                kind, key, value = op(self.started + 1)
                self.sent.append(time.time())
                self.started += 1
                if kind == "delete":
                    self.client.delete_item(TableName=self.table, Key={"pk": {"S": key}})
                else:
                    self.client.put_item(TableName=self.table, Item={"pk": {"S": key}, "v": {"N": str(value)}})
                self.acks.append(time.time())
                self.acked += 1
        except BaseException as exc:  # reported by the test
            self.error = exc

    def __enter__(self) -> HistoryWriter:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop.set()
        self.thread.join()
        if self.error is not None:
            raise self.error

    def bounds(self, at: float) -> tuple[int, int]:
        """(writes certainly in, writes possibly in) a table as of ``at``: those acknowledged before it, and
        those sent no later than a millisecond after it (the server stamps a write between the two)."""
        lower = sum(1 for t in self.acks if t < at)
        upper = sum(1 for t in self.sent if t <= at + 0.001)
        return lower, upper

    def wait_acked(self, count: int) -> None:
        wait_for(lambda: self.acked >= count or self.error is not None, "writes acknowledged")


def wait_for(condition: Callable[[], Any], what: str, timeout: float = 180.0) -> Any:
    """Poll ``condition`` until it is truthy (returns it) or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def table_items(client: Any, table: str) -> dict[str, int]:
    """key -> v of every item, by a consistent Scan."""
    out: dict[str, int] = {}
    for page in client.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
        for item in page["Items"]:
            out[item["pk"]["S"]] = int(item["v"]["N"])
    return out
