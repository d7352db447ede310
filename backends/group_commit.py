"""Group commit for backends whose atomic unit is a round trip away: concurrent units share one transaction.

A unit (keys, ``apply``) costs a store a few round trips and, with durable commits, a log flush. Under
concurrency the units waiting for a connection are taken together: one batch is one transaction that locks,
reads, applies and writes every unit of the batch and commits once, so N waiting writes cost one commit. A
unit whose ``apply`` fails (a condition) is left out of the batch's writes and gets its own error; the others
commit. Units in one batch touch disjoint keys (a unit that shares a key with an earlier one waits for the next
batch, so each ``apply`` sees the values the previous unit committed); batches running at the same time are
serialised by the store's own locks, as separate transactions are. A lone unit is a batch of one: it costs
what it cost before.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from accelerator.core.protocols import ApplyFn, KeyRef

__all__ = ["GroupCommit", "Unit", "MAX_BATCH"]

MAX_BATCH = 64  # units per transaction: bounds a batch's lock set and the wait of its first unit


@dataclass(eq=False)
class Unit:
    """One caller's atomic unit and the future its outcome (old values or an exception) goes to."""

    refs: list[KeyRef]
    apply: ApplyFn
    future: asyncio.Future[list[bytes | None]] = field(repr=False)

    def keys(self) -> set[tuple[str, bytes, bytes]]:
        return {(ref.table, ref.pk, ref.sk) for ref in self.refs}


Runner = Callable[[list[Unit]], Awaitable[Sequence[list[bytes | None] | BaseException]]]


class GroupCommit:
    """Runs submitted units through ``run(batch)`` (one transaction per batch), at most ``slots`` at a time."""

    def __init__(self, run: Runner, slots: int, max_batch: int = MAX_BATCH) -> None:
        if slots < 1 or max_batch < 1:  # no slot at all: every write would wait for ever
            raise ValueError(f"batch_slots must be at least 1, not {slots}" if slots < 1 else
                             f"max_batch must be at least 1, not {max_batch}")
        self._run = run
        self.slots = slots
        self.max_batch = max_batch
        self._pending: deque[Unit] = deque()
        self._running = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self.batches = 0  # transactions run, for tests and benchmarks
        self.units = 0

    async def submit(self, refs: list[KeyRef], apply: ApplyFn) -> list[bytes | None]:
        future: asyncio.Future[list[bytes | None]] = asyncio.get_running_loop().create_future()
        self._pending.append(Unit(refs, apply, future))
        self._kick()
        return await future  # cancelling the caller does not withdraw the unit: it may still commit

    def _kick(self) -> None:
        while self._pending and self._running < self.slots:
            batch = self._take()
            self._running += 1
            task = asyncio.ensure_future(self._batch(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _take(self) -> list[Unit]:
        """The oldest units with pairwise disjoint keys; the others keep their place in the queue."""
        batch: list[Unit] = []
        taken: set[tuple[str, bytes, bytes]] = set()
        kept: deque[Unit] = deque()
        while self._pending and len(batch) < self.max_batch:
            unit = self._pending.popleft()
            keys = unit.keys()
            if keys & taken:
                kept.append(unit)
                continue
            taken |= keys
            batch.append(unit)
        kept.extend(self._pending)
        self._pending = kept
        return batch

    async def _batch(self, batch: list[Unit]) -> None:
        try:
            outcomes: Sequence[list[bytes | None] | BaseException] = await self._run(batch)
        except BaseException as exc:  # the transaction failed as a whole: so did every unit in it
            outcomes = [exc] * len(batch)
        finally:
            self._running -= 1
        self.batches += 1
        self.units += len(batch)
        for unit, outcome in zip(batch, outcomes, strict=True):
            if unit.future.done():
                continue
            if isinstance(outcome, BaseException):
                unit.future.set_exception(outcome)
            else:
                unit.future.set_result(outcome)
        self._kick()
