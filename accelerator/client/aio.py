"""The asyncio client: the same methods as the sync one, awaited, over an asyncio.Protocol connection pool."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Coroutine
from typing import Any

from .core import Operation, dumps
from .endpoints import Endpoint, EndpointSet
from .errors import (
    ClientError,
    ConnectError,
    ConnectionClosed,
    ConnectTimeout,
    ProtocolError,
    ReadTimeout,
    TransportError,
)
from .facade import ClientFacade
from .http11 import Response, ResponseParser
from .paginate import AsyncPaginator
from .sync import readable
from .table import AsyncTable
from .transport import TransportBase
from .waiters import AsyncWaiter

__all__ = ["AsyncAcceleratorClient", "AsyncTransport"]


class _Connection(asyncio.Protocol):
    """One keep-alive connection; carries one request at a time."""

    def __init__(self, ep: Endpoint, loop: asyncio.AbstractEventLoop) -> None:
        self.ep = ep
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.fileno = -1
        self.parser = ResponseParser()
        self.waiter: asyncio.Future[Response] | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        self.fileno = sock.fileno() if sock is not None else -1

    def data_received(self, data: bytes) -> None:
        waiter = self.waiter
        if waiter is None or waiter.done():  # bytes nobody asked for: this connection cannot be trusted
            self.close()
            return
        try:
            resp = self.parser.feed(data)
        except ProtocolError as exc:
            self.waiter = None
            waiter.set_exception(exc)
            self.close()
            return
        if resp is not None:
            self.waiter = None
            waiter.set_result(resp)

    def eof_received(self) -> bool:
        self._finish(self.parser.feed_eof())
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._finish(None)

    def _finish(self, resp: Response | None) -> None:
        self.closed = True
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            if resp is not None:
                waiter.set_result(resp)
            else:
                waiter.set_exception(ConnectionClosed("connection closed before a full answer", self.ep.url))

    def _timed_out(self, waiter: asyncio.Future[Response], timeout: float) -> None:
        if not waiter.done():
            waiter.set_exception(ReadTimeout(f"no answer within {timeout}s", self.ep.url))
        self.close()

    def alive(self) -> bool:
        """Not closed, and (checked on the socket) not closed by the server while idle."""
        if self.closed:
            return False
        return self.fileno < 0 or not readable(self.fileno)

    async def request(self, payload: bytes, timeout: float) -> Response:
        waiter = self.loop.create_future()
        self.waiter = waiter
        self.parser = ResponseParser()
        assert self.transport is not None
        self.transport.write(payload)
        handle = self.loop.call_later(timeout, self._timed_out, waiter, timeout)
        try:
            return await waiter
        finally:
            handle.cancel()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            with contextlib.suppress(RuntimeError):  # its loop may be closed already
                self.transport.abort()


class AsyncTransport(TransportBase):
    """Sends one request on one endpoint and awaits its response; one connection per in-flight request."""

    def __init__(self, endpoints: EndpointSet, **options: Any) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._probes: set[asyncio.Task[None]] = set()
        super().__init__(endpoints, **options)

    def _bind(self) -> asyncio.AbstractEventLoop:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # connections belong to the loop that made them
            self.close()
            self._loop = loop
        return loop

    async def connect(self, ep: Endpoint, timeout: float | None = None) -> _Connection:
        loop = self._loop or asyncio.get_running_loop()
        ctx = self._tls_context() if ep.tls else None
        try:
            async with asyncio.timeout(self.connect_timeout if timeout is None else timeout):
                _, conn = await loop.create_connection(
                    lambda: _Connection(ep, loop), ep.host, ep.port, ssl=ctx,
                    server_hostname=ep.host if ctx else None,
                )  # fmt: skip
        except TimeoutError as exc:
            raise ConnectTimeout("connect timed out", ep.url) from exc
        except OSError as exc:
            raise ConnectError(f"cannot connect: {exc}", ep.url) from exc
        return conn

    async def roundtrip(self, ep: Endpoint, payload: bytes) -> Response:
        """Send ``payload`` on a pooled connection and await the whole response."""
        self._bind()
        idle: list[Any] = ep.idle
        conn: _Connection | None = None
        while idle:
            conn = idle.pop()
            if conn.alive():
                break
            conn.close()
            conn = None
        if conn is None:
            conn = await self.connect(ep)
        try:
            resp = await conn.request(payload, self.read_timeout)
        except BaseException:
            conn.close()
            raise
        if resp.keep_alive and not conn.closed and len(idle) < self.pool_size:
            idle.append(conn)
        else:
            conn.close()
        return resp

    async def probe(self, ep: Endpoint, timeout: float) -> bool:
        """``GET /health`` on a fresh connection: True if anything below 500 answers."""
        try:
            conn = await self.connect(ep, timeout)
        except ConnectError:
            return False
        try:
            payload = b"GET /health HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % ep.host_header.encode()
            return (await conn.request(payload, timeout)).status < 500
        except Exception:
            return False
        finally:
            conn.close()

    def _start_probe(self, ep: Endpoint) -> None:
        async def run() -> None:
            ok = False
            try:
                ok = await self.probe(ep, max(self.connect_timeout, 0.5))
            finally:
                self._endpoints.probe_done(ep, ok)

        task = asyncio.get_running_loop().create_task(run())
        self._probes.add(task)
        task.add_done_callback(self._probes.discard)

    def close(self) -> None:
        for ep in self._endpoints.all:
            for conn in ep.idle:
                conn.close()
            ep.idle.clear()


class AsyncAcceleratorClient(ClientFacade[Coroutine[Any, Any, dict[str, Any]]]):
    """The asyncio client: boto3's low-level DynamoDB methods as coroutines (aiobotocore's shapes)."""

    default_pool_size = 64
    _transport: AsyncTransport

    def _make_transport(self, endpoints: EndpointSet, *, connect_timeout: float, read_timeout: float,
                        ssl_context: ssl.SSLContext | None, pool_size: int) -> AsyncTransport:
        return AsyncTransport(endpoints, connect_timeout=connect_timeout, read_timeout=read_timeout,
                              ssl_context=ssl_context, pool_size=pool_size)

    async def _call(self, op: Operation, params: dict[str, Any]) -> dict[str, Any]:
        core = self._core
        endpoints = core.endpoints
        transport = self._transport
        body = dumps(params)
        attempt = 0
        failed: Endpoint | None = None
        while True:
            ep = endpoints.pick(op.read, core.spread_reads, failed)
            try:
                return core.decode(op, ep, await transport.roundtrip(ep, core.encode(ep, op, body)), attempt)
            except (TransportError, ClientError) as exc:
                delay = core.retry_delay(op, ep, exc, attempt)
                if delay is None:
                    raise
                failed = ep if isinstance(exc, ConnectError | ConnectionClosed | ReadTimeout) else None
            attempt += 1
            if delay:
                await asyncio.sleep(delay)

    def get_paginator(self, operation_name: str) -> AsyncPaginator:
        """A paginator for ``query``, ``scan`` or ``list_tables``: ``async for page in p.paginate(...)``."""
        return AsyncPaginator(self, operation_name)

    def get_waiter(self, waiter_name: str) -> AsyncWaiter:
        """A waiter for ``table_exists`` or ``table_not_exists``, as boto3's."""
        return AsyncWaiter(self, waiter_name)

    def Table(self, name: str) -> AsyncTable:  # noqa: N802 - boto3's resource spells it so
        """The high-level table API on plain Python values, awaited."""
        return AsyncTable(self, name)

    async def check_health(self) -> dict[str, bool]:
        """Probe every endpoint now (``GET /health``) and update their state; url -> up."""
        self._transport._bind()
        result = {}
        for ep in self._core.endpoints.all:
            ok = await self._transport.probe(ep, self._transport.connect_timeout)
            (self._core.endpoints.mark_up if ok else self._core.endpoints.mark_down)(ep)
            result[ep.url] = ok
        return result

    async def close(self) -> None:
        """Close the idle connections."""
        self._transport.close()

    async def __aenter__(self) -> AsyncAcceleratorClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
