"""Invalidations between nodes over PostgreSQL LISTEN/NOTIFY (``[cache] broadcast = "postgres"``).

A PostgreSQL deployment needs no Redis for its broadcast: each node holds one connection that LISTENs on
the channel and sends its own messages with ``pg_notify`` (the wire form of ``accelerator.cache.broadcast``,
split so every payload stays under NOTIFY's 8,000-byte limit). ``publish`` never blocks the write: messages
go through a queue to a sender task. NOTIFY, like pub/sub, does not keep messages for a node that is
away: after a lost connection the node reconnects (with backoff) and drops its whole cache; until then,
entries still expire by their TTL.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable
from typing import Any

from accelerator.cache.broadcast import BROADCAST_RETRY, encode, receive
from accelerator.cache.invalidation import EVERYTHING, Invalidation
from accelerator.core.retry import RetryPolicy

__all__ = ["PostgresInvalidator", "payloads", "MAX_PAYLOAD"]

log = logging.getLogger("accelerator.cache.broadcast")

MAX_PAYLOAD = 7900
"""Bytes of one NOTIFY payload (PostgreSQL refuses 8,000 and more)."""


def payloads(message: Invalidation) -> list[bytes]:
    """``message`` as one or more payloads under MAX_PAYLOAD, each a message of its own."""
    data = encode(message)
    if len(data) <= MAX_PAYLOAD or message.keys is None or len(message.keys) <= 1:
        return [data]
    half = len(message.keys) // 2
    return [*payloads(Invalidation(message.table, message.keys[:half], message.origin)),
            *payloads(Invalidation(message.table, message.keys[half:], message.origin))]


class PostgresInvalidator:
    """One node's end of the broadcast channel, on one asyncpg connection."""

    def __init__(self, dsn: str, channel: str = "accelerator:cache:invalidations",
                 retry: RetryPolicy = BROADCAST_RETRY) -> None:
        self.dsn = dsn
        self.channel = channel
        self.retry = retry
        self.node_id = secrets.randbits(62)
        self.malformed = 0
        self._outbox: asyncio.Queue[bytes] = asyncio.Queue(maxsize=100_000)
        self._tasks: list[asyncio.Task[None]] = []
        self._conn: Any = None
        self.subscribed = asyncio.Event()

    def publish(self, message: Invalidation) -> None:
        try:
            for data in payloads(message):
                self._outbox.put_nowait(data)
        except asyncio.QueueFull:  # the sender is stuck; other nodes fall back on their TTLs
            log.warning("cache invalidation broadcast queue full; dropping a message")

    async def start(self, deliver: Callable[[Invalidation], None]) -> None:
        self._tasks = [asyncio.ensure_future(self._listen(deliver)), asyncio.ensure_future(self._send())]
        try:
            await asyncio.wait_for(self.subscribed.wait(), 5.0)
        except TimeoutError:
            log.warning("cache invalidation broadcast: not listening yet; continuing with TTLs only")

    async def _listen(self, deliver: Callable[[Invalidation], None]) -> None:
        import asyncpg

        def on_notify(conn: Any, pid: int, channel: str, payload: str) -> None:
            receive(self, deliver, payload.encode())

        failures = 0
        while True:
            conn = None
            try:
                conn = await asyncpg.connect(self.dsn, server_settings={"application_name":
                                                                        f"accelerator-cache-{self.node_id}"})
                lost = asyncio.Event()
                conn.add_termination_listener(lambda _conn, lost=lost: lost.set())
                await conn.add_listener(self.channel, on_notify)
                if failures:  # messages may have been missed while disconnected
                    deliver(Invalidation(EVERYTHING, None, 0))
                failures = 0
                self._conn = conn
                self.subscribed.set()
                await lost.wait()
                raise ConnectionError("listener connection lost")
            except asyncio.CancelledError:
                if conn is not None:
                    await conn.close(timeout=2)
                raise
            except Exception:  # noqa: BLE001
                self.subscribed.clear()
                self._conn = None
                if conn is not None:
                    conn.terminate()
                delay = self.retry.backoff(failures)
                failures += 1
                log.warning("cache invalidation broadcast: listener lost; retrying in %.2fs", delay)
                await self.retry.sleep(delay)

    async def _send(self) -> None:
        while True:
            data = await self._outbox.get()
            async for attempt in self.retry.tries():
                try:
                    conn = self._conn
                    if conn is None or conn.is_closed():
                        raise ConnectionError("not connected")
                    await conn.execute("SELECT pg_notify($1, $2)", self.channel, data.decode())
                    break
                except Exception:  # noqa: BLE001 - postgres away: retry, then give up on this message
                    if attempt + 1 == self.retry.max_attempts:
                        log.warning("cache invalidation broadcast: notify failed; message dropped")

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
