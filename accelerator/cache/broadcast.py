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
from accelerator.core.guard import LogOnce, quietly, swallowed
from accelerator.core.retry import RetryPolicy

__all__ = ["RedisInvalidator", "encode", "decode", "receive"]

log = logging.getLogger("accelerator.cache.broadcast")

def encode(message: Invalidation) -> bytes:
    keys = None if message.keys is None else [
        [base64.b64encode(pk).decode(), base64.b64encode(sk).decode()] for pk, sk in message.keys]
    return orjson.dumps({"o": message.origin, "t": message.table, "k": keys})


def decode(data: bytes) -> Invalidation:
    """The message ``encode`` wrote; ValueError (or the decoder's own error) for anything else."""
    raw: Any = orjson.loads(data)
    if not isinstance(raw, dict) or not isinstance(raw.get("t"), str) or type(raw.get("o")) is not int:
        raise ValueError("not an invalidation message")
    if raw.get("k") is not None and not isinstance(raw["k"], list):
        raise ValueError("keys are not a list")
    keys = None if raw.get("k") is None else tuple(
        (base64.b64decode(pk, validate=True), base64.b64decode(sk, validate=True)) for pk, sk in raw["k"])
    return Invalidation(raw["t"], keys, raw["o"])


_dropped = LogOnce(log)


def receive(invalidator: Any, deliver: Callable[[Invalidation], None], data: bytes) -> None:
    """Hand one received message to ``deliver``. A message that does not decode is dropped and counted in
    ``invalidator.malformed`` (only a lost connection may have missed messages, so only it flushes); a failure
    applying one is counted and flushes everything, since what it covered is unknown."""
    try:
        message = decode(data)
    except Exception as exc:  # noqa: BLE001 - whatever was sent, the listener goes on
        invalidator.malformed += 1
        _dropped("malformed", logging.WARNING, "cache invalidation broadcast: dropped a malformed message (%s: %s)",
                 type(exc).__name__, exc)
        return
    try:
        deliver(message)
    except Exception as exc:  # noqa: BLE001 - a bug applying it must not look like a lost connection either
        swallowed("cache invalidation apply", exc)
        quietly("cache flush after a failed invalidation", deliver, Invalidation(EVERYTHING, None, 0))


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
        self.malformed = 0
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
                            receive(self, deliver, message["data"])
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
