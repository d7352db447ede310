"""Single-flight: concurrent misses on one cache key share one store read.

A follower joins a flight only while the flight's scope generation is unchanged, i.e. no write has
touched the scope since the flight's read began; otherwise it starts a new flight, so a read that
begins after a write was acknowledged never receives a value read before it. If the leader is
cancelled, followers start over (one of them leads); if the store raises, every waiter gets the error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Generic, TypeVar

from accelerator.cache.generations import Generations

__all__ = ["Flights"]

T = TypeVar("T")


class _Abandoned(Exception):
    """The leader was cancelled before its read finished."""


class _Flight:
    __slots__ = ("scope", "gen", "tag", "waiters")

    def __init__(self, scope: Hashable, gen: int, tag: Any) -> None:
        self.scope = scope
        self.gen = gen
        self.tag = tag
        self.waiters: asyncio.Future[Any] | None = None  # created by the first follower only

    async def join(self) -> Any:
        if self.waiters is None:
            self.waiters = asyncio.get_running_loop().create_future()
        return await asyncio.shield(self.waiters)

    def finish(self, value: Any) -> None:
        if self.waiters is not None and not self.waiters.done():
            self.waiters.set_result(value)

    def fail(self, exc: BaseException) -> None:
        if self.waiters is not None and not self.waiters.done():
            self.waiters.set_exception(exc)
            self.waiters.exception()  # retrieved: followers that were cancelled must not log it


class Flights(Generic[T]):
    """In-flight reads by cache key."""

    def __init__(self, gens: Generations) -> None:
        self.gens = gens
        self.active: dict[Hashable, _Flight] = {}
        self.joined = 0
        self.stale_fills = 0

    async def run(self, key: Hashable, scope: Hashable, fetch: Callable[[], Awaitable[T]],
                  fill: Callable[[T], None], tag: Any = None) -> T:
        """``fetch()`` once for all concurrent callers; ``fill(value)`` only if no write intervened.

        ``tag`` is what the caller noted of the shared generations (other workers' writes): a caller
        joins a flight only if the flight's leader noted the same, i.e. no other worker wrote since.
        """
        while True:
            flight = self.active.get(key)
            if flight is None or self.gens.current(flight.scope) != flight.gen or flight.tag != tag:
                return await self._lead(key, scope, fetch, fill, tag)
            self.joined += 1
            try:
                return await flight.join()
            except _Abandoned:
                continue

    async def _lead(self, key: Hashable, scope: Hashable, fetch: Callable[[], Awaitable[T]],
                    fill: Callable[[T], None], tag: Any) -> T:
        gen = self.gens.hold(scope)
        flight = _Flight(scope, gen, tag)
        self.active[key] = flight
        try:
            value = await fetch()
        except asyncio.CancelledError:
            flight.fail(_Abandoned())
            raise
        except BaseException as exc:
            flight.fail(exc)
            raise
        else:
            if self.gens.current(scope) == gen:
                fill(value)
            else:
                self.stale_fills += 1
            flight.finish(value)
            return value
        finally:
            if self.active.get(key) is flight:
                del self.active[key]
            self.gens.release(scope)
