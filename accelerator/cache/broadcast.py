"""Invalidations between nodes over Redis pub/sub (``[cache] broadcast = "redis://host:6379/0"``).

``publish`` never blocks the write that calls it: messages go through a queue to a sender task. A
subscriber task hands other nodes' messages to the CachedStore. Pub/sub does not store messages, so
after a lost connection the subscriber reconnects (with backoff) and then drops the whole cache, since
it may have missed invalidations; until it is back, entries still expire by their TTL.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import secrets
from collections.abc import Callable
from typing import Any

import orjson

from accelerator.cache.invalidation import EVERYTHING, Invalidation
from accelerator.core.retry import RetryPolicy

__all__ = ["RedisInvalidator", "encode", "decode"]

log = logging.getLogger("accelerator.cache.broadcast")

def encode(message: Invalidation) -> bytes:
    keys = None if message.keys is None else [
        [base64.b64encode(pk).decode(), base64.b64encode(sk).decode()] for pk, sk in message.keys]
    return orjson.dumps({"o": message.origin, "t": message.table, "k": keys})


def decode(data: bytes) -> Invalidation:
    raw: dict[str, Any] = orjson.loads(data)
    keys = None if raw["k"] is None else tuple(
        (base64.b64decode(pk), base64.b64decode(sk)) for pk, sk in raw["k"])
    return Invalidation(raw["t"], keys, raw["o"])


# Publish: five tries over about a second, then drop (other nodes fall back on their TTLs). Resubscribe: the
# same backoff, capped at 5 s, for as long as it takes.
BROADCAST_RETRY = RetryPolicy(max_attempts=5, base=0.05, cap=5.0)


class RedisInvalidator:
    """One node's end of the broadcast channel."""

    def __init__(self, url: str, channel: str = "accelerator:cache:invalidations",
                 retry: RetryPolicy = BROADCAST_RETRY) -> None:
        self.url = url
        self.channel = channel
        self.retry = retry
        self.node_id = secrets.randbits(62)
        self._outbox: asyncio.Queue[bytes] = asyncio.Queue(maxsize=100_000)
        self._tasks: list[asyncio.Task[None]] = []
        self._client: Any = None
        self.subscribed = asyncio.Event()

    def publish(self, message: Invalidation) -> None:
        try:
            self._outbox.put_nowait(encode(message))
        except asyncio.QueueFull:  # the sender is stuck; other nodes fall back on their TTLs
            log.warning("cache invalidation broadcast queue full; dropping a message")

    async def start(self, deliver: Callable[[Invalidation], None]) -> None:
        import redis.asyncio as redis

        self._client = redis.Redis.from_url(self.url, client_name=f"accelerator-cache-{self.node_id}")
        self._tasks = [asyncio.ensure_future(self._send()), asyncio.ensure_future(self._listen(deliver))]
        try:
            await asyncio.wait_for(self.subscribed.wait(), 5.0)
        except TimeoutError:
            log.warning("cache invalidation broadcast: not subscribed yet; continuing with TTLs only")

    async def _send(self) -> None:
        while True:
            data = await self._outbox.get()
            async for attempt in self.retry.tries():
                try:
                    await self._client.publish(self.channel, data)
                    break
                except Exception:  # noqa: BLE001 - redis down: retry, then give up on this message
                    if attempt + 1 == self.retry.max_attempts:
                        log.warning("cache invalidation broadcast: publish failed; message dropped")

    async def _listen(self, deliver: Callable[[Invalidation], None]) -> None:
        failures = 0
        while True:
            try:
                async with self._client.pubsub() as pubsub:
                    await pubsub.subscribe(self.channel)
                    if failures:  # messages may have been missed while disconnected
                        deliver(Invalidation(EVERYTHING, None, 0))
                    failures = 0
                    self.subscribed.set()
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            deliver(decode(message["data"]))
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001
                self.subscribed.clear()
                delay = self.retry.backoff(failures)
                failures += 1
                log.warning("cache invalidation broadcast: subscription lost; retrying in %.2fs", delay)
                await self.retry.sleep(delay)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()
