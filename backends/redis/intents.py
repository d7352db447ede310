"""Cross-slot transactions on a cluster, all-or-nothing across crashes: an intent record rolled forward.

A unit whose keys span slots holds every partition lock (``locks``), reads, runs ``apply`` and then, before
its first per-slot write:

1. HOLD: in each slot, checks that it still owns its locks and makes them outlive their lease (PERSIST);
   a lock lost to its lease means nothing was written: release and start again;
2. COMMIT: writes its intent, the full set of per-slot WRITE calls, to ``P:{txn:TOKEN}`` with SET NX. That
   record is the commit point: from here on the transaction happens, whoever finishes it;
3. the per-slot WRITEs. Each marks its slot applied (``P:{T:H}:a`` = token) in the same script, and a WRITE
   that finds its mark returns at once, so the calls can be replayed any number of times;
4. releases its locks, then deletes the intent.

A process that dies (or stalls) after HOLD leaves persisted locks: every writer of those partitions waits
(an optimistic WRITE refuses while a lock is held, a cross-slot snapshot read retries). A waiter that sees
the same token persist a lock for longer than a lease recovers it: SET NX of ``aborted`` on the intent key
decides the race with a committing owner. If the waiter wins, the transaction never committed and wrote
nothing (the owner, whose COMMIT then fails, releases and retries): the waiter deletes that lock. If the
intent is there, the waiter replays its WRITE calls (applied slots are no-ops; a slot whose lock the owner
already released was applied) and releases the locks. Readers never see half of one: the partitions stay
locked until every slot is written. Intents and marks expire after a day.
"""

from __future__ import annotations

import base64
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import orjson

from backends.redis import scripts as lua
from backends.redis.driver import Driver, driver_errors
from backends.redis.layout import Layout, Plan

__all__ = ["Intents", "INTENT_SECONDS", "SimulatedCrash"]

INTENT_SECONDS = 86400
_ABORTED = b"aborted"
Call = tuple[lua.Script, list[bytes], list[Any]]


class SimulatedCrash(BaseException):
    """Raised by a test's fault hook: the unit stops where it is and releases nothing, as a killed process."""


def _b64(value: Any) -> str:
    raw = value if isinstance(value, bytes) else str(value).encode()
    return base64.b64encode(raw).decode()


def encode(locks: Sequence[bytes], calls: Sequence[Call]) -> bytes:
    return orjson.dumps({"locks": [_b64(lock) for lock in locks],
                         "calls": [[[_b64(k) for k in keys], [_b64(a) for a in args]] for _, keys, args in calls]})


def decode(data: bytes) -> tuple[list[bytes], list[Call]]:
    raw = orjson.loads(data)
    locks = [base64.b64decode(lock) for lock in raw["locks"]]
    calls: list[Call] = [(lua.WRITE, [base64.b64decode(k) for k in keys], [base64.b64decode(a) for a in args])
                         for keys, args in raw["calls"]]
    return locks, calls


class Intents:
    """The intent protocol of one storage; ``fault`` is a test-only hook called at named points."""

    def __init__(self, driver: Driver, layout: Layout, lease: float, stats: Counter[str]) -> None:
        self.driver = driver
        self.layout = layout
        self.lease = lease
        self.stats = stats
        self.fault: Callable[[str], Awaitable[None]] | None = None
        self._seen: dict[bytes, tuple[bytes, float]] = {}  # lock -> (token, first seen persisted)

    async def commit(self, plan: Plan, locks: Sequence[bytes], calls: Sequence[Call], token: bytes) -> bool:
        """HOLD the locks past their lease, then write the intent; False: nothing was written (a lock was lost
        to its lease, or a waiter declared the unit abandoned first), so the caller starts again."""
        holds = [(lua.HOLD, [part.lock for part in group], [token]) for group in plan.groups]
        if not all(r == 1 for r in await self.driver.eval_many(holds)):
            return False
        if self.fault is not None:
            await self.fault("held")
        with driver_errors():
            return bool(await self.driver.client.set(self.layout.intent(token), encode(locks, calls), nx=True,
                                                     ex=INTENT_SECONDS))

    async def write(self, calls: Sequence[Call]) -> list[Any]:
        """The per-slot WRITEs of a committed unit (one at a time when a fault hook watches them)."""
        if self.fault is None:
            return await self.driver.eval_many(calls)
        await self.fault("committed")
        results = []
        for n, call in enumerate(calls):
            results += await self.driver.eval_many([call])
            if n == 0:
                await self.fault("first write")
        return results

    async def finish(self, token: bytes, locks: Sequence[bytes]) -> None:
        await self.driver.eval_many([(lua.DELETE_IF, [lock], [token]) for lock in locks])
        with driver_errors():
            await self.driver.client.delete(self.layout.intent(token))

    async def unstick(self, locks: Sequence[bytes]) -> None:
        """A waiter's check: recover any of ``locks`` that one token has held past its lease for a lease."""
        client = self.driver.client
        with driver_errors():
            pipe = client.pipeline(transaction=False)
            for lock in locks:
                pipe.get(lock)
                pipe.pttl(lock)
            found = await pipe.execute()
        now = time.monotonic()
        for n, lock in enumerate(locks):
            token, ttl = found[2 * n], found[2 * n + 1]
            if token is None or ttl != -1:  # free, or still within its lease
                self._seen.pop(lock, None)
                continue
            first = self._seen.get(lock)
            if first is None or first[0] != token:
                self._seen[lock] = (token, now)
            elif now - first[1] >= self.lease:
                self._seen.pop(lock, None)
                await self.recover(token, lock)

    async def recover_all(self) -> int:
        """At startup: finish every committed intent under this prefix (left by a process that died), without
        waiting for a writer to meet its locks. Safe while their owners still run: a replay is idempotent and
        the locks are released only once every slot is written. Returns how many were finished."""
        client = self.driver.client
        head = self.layout.intent(b"")[:-1]  # P:{txn:
        finished = 0
        with driver_errors():
            keys = [key async for key in client.scan_iter(match=head + b"*}", count=1000)]
        for key in keys:
            with driver_errors():
                data = await client.get(key)
            if data is None or data == _ABORTED:
                continue
            locks, calls = decode(data)
            await self.driver.eval_many(calls)
            await self.finish(key[len(head):-1], locks)
            finished += 1
        self.stats["intents_rolled_forward"] += finished
        return finished

    async def recover(self, token: bytes, lock: bytes) -> None:
        """Finish (or, if it never committed, abandon) the unit ``token`` whose ``lock`` was left held."""
        client = self.driver.client
        key = self.layout.intent(token)
        with driver_errors():
            if await client.set(key, _ABORTED, nx=True, ex=INTENT_SECONDS):
                data = None
            else:
                data = await client.get(key)
        if data is None or data == _ABORTED:  # never committed, so never written: let this lock go
            await self.driver.eval_many([(lua.DELETE_IF, [lock], [token])])
            self.stats["intents_abandoned"] += 1
            return
        locks, calls = decode(data)
        await self.driver.eval_many(calls)  # 'ok' (applied now or before) or 'lost' (the owner finished)
        await self.finish(token, locks)
        self.stats["intents_rolled_forward"] += 1
