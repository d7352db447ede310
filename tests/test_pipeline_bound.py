"""A connection stops reading while the pipelined requests waiting behind a slow one hold more than one maximal
body, and reads again once they drain: a client cannot park max_pipeline bodies (a gigabyte) on one socket.

In process, with a transport that records pause/resume and a router whose handler waits for the test, since
the point is what the connection does while a handler is still running."""

from __future__ import annotations

import asyncio
from typing import Any

from accelerator.server import Connection, Server, ServerLimits


class _Transport:
    def __init__(self) -> None:
        self.paused = False
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def is_closing(self) -> bool:
        return False

    def pause_reading(self) -> None:
        self.paused = True

    def resume_reading(self) -> None:
        self.paused = False

    def close(self) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default


class _SlowRouter:
    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.metrics = None

    async def handle(self, target: bytes, body: bytes) -> tuple[int, bytes, bytes, bytes]:
        await self.gate.wait()
        return 200, b"application/x-amz-json-1.0", b"", b"{}"


def _request(size: int) -> bytes:
    body = b"{" + b" " * (size - 2) + b"}"
    return (b"POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: DynamoDB_20120810.GetItem\r\nContent-Length: "
            + str(len(body)).encode() + b"\r\n\r\n" + body)


def test_queued_bodies_past_one_maximal_body_pause_reading() -> None:
    async def run() -> None:
        router = _SlowRouter()
        server = Server(router, ServerLimits(max_body=100_000, max_pipeline=64))  # type: ignore[arg-type]
        conn = Connection(server)
        transport = _Transport()
        conn.connection_made(transport)  # type: ignore[arg-type]
        conn.data_received(_request(90_000))  # dispatched: its handler waits
        await asyncio.sleep(0)
        conn.data_received(_request(60_000))  # queued: 60 KB waiting
        assert not transport.paused
        conn.data_received(_request(60_000))  # 120 KB waiting > one maximal body
        assert transport.paused and len(conn.queue) == 2
        router.gate.set()
        while len(transport.writes) < 3:
            await asyncio.sleep(0)
        assert not transport.paused and conn.queued_bytes == 0  # drained: reading again

    asyncio.run(run())
