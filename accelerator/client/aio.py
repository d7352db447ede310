"""The asyncio client: the same methods as the sync one, awaited, over an asyncio.Protocol connection pool."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Sequence
from typing import Any

from .core import OPERATIONS as _OPS
from .core import ClientCore, Operation, dumps, operation
from .endpoints import Endpoint, EndpointSet
from .errors import (
    ClientError,
    ClientExceptions,
    ConnectError,
    ConnectionClosed,
    ConnectTimeout,
    ProtocolError,
    ReadTimeout,
    TransportError,
)
from .http11 import Response, ResponseParser
from .paginate import PAGINATED, AsyncPaginator
from .retry import RetryPolicy
from .sync import readable
from .table import AsyncTable
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


class AsyncTransport:
    """Sends one request on one endpoint and awaits its response; one connection per in-flight request."""

    def __init__(
        self,
        endpoints: EndpointSet,
        *,
        connect_timeout: float,
        read_timeout: float,
        ssl_context: ssl.SSLContext | None,
        pool_size: int,
    ) -> None:
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.ssl_context = ssl_context
        self.pool_size = pool_size
        self._endpoints = endpoints
        self._loop: asyncio.AbstractEventLoop | None = None
        self._probes: set[asyncio.Task[None]] = set()
        endpoints.start_probe = self._start_probe

    def _tls_context(self) -> ssl.SSLContext:
        if self.ssl_context is None:  # made once: loading the CA store takes milliseconds
            self.ssl_context = ssl.create_default_context()
        return self.ssl_context

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


class AsyncAcceleratorClient:
    """The asyncio client: boto3's low-level DynamoDB methods as coroutines (aiobotocore's shapes)."""

    exceptions = ClientExceptions()

    def __init__(
        self,
        endpoint_url: str | None = None,
        *,
        endpoints: Sequence[str] | None = None,
        region_name: str | None = None,
        aws_access_key_id: str | None = None,
        aws_secret_access_key: str | None = None,
        aws_session_token: str | None = None,
        sign: bool | None = None,
        retry_policy: RetryPolicy | None = None,
        connect_timeout: float = 2.0,
        read_timeout: float = 10.0,
        ssl_context: ssl.SSLContext | None = None,
        pool_size: int = 64,
        verify_crc32: bool = True,
        spread_reads: bool = True,
        health_check_interval: float = 1.0,
    ) -> None:
        self._core = ClientCore(
            endpoint_url, endpoints, region_name=region_name, aws_access_key_id=aws_access_key_id,
            aws_secret_access_key=aws_secret_access_key, aws_session_token=aws_session_token, sign=sign,
            retry_policy=retry_policy, verify_crc32=verify_crc32, spread_reads=spread_reads,
            health_check_interval=health_check_interval,
        )  # fmt: skip
        self._transport = AsyncTransport(
            self._core.endpoints, connect_timeout=connect_timeout, read_timeout=read_timeout,
            ssl_context=ssl_context, pool_size=pool_size,
        )  # fmt: skip

    @property
    def endpoints(self) -> EndpointSet:
        return self._core.endpoints

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

    async def _make_api_call(self, operation_name: str, params: dict[str, Any]) -> dict[str, Any]:
        """Any operation by wire name (``GetItem``)."""
        return await self._call(operation(operation_name), params)

    async def get_item(self, **kwargs: Any) -> dict[str, Any]:
        return await self._call(_OPS["get_item"], kwargs)

    async def put_item(self, **kwargs: Any) -> dict[str, Any]:
        return await self._call(_OPS["put_item"], kwargs)

    async def update_item(self, **kwargs: Any) -> dict[str, Any]:
        return await self._call(_OPS["update_item"], kwargs)

    async def delete_item(self, **kwargs: Any) -> dict[str, Any]:
        return await self._call(_OPS["delete_item"], kwargs)

    async def query(self, **kwargs: Any) -> dict[str, Any]:
        return await self._call(_OPS["query"], kwargs)

    async def scan(self, **kwargs: Any) -> dict[str, Any]:
        return await self._call(_OPS["scan"], kwargs)

    async def batch_get_item(self, **kwargs: Any) -> dict[str, Any]:
        return await self._call(_OPS["batch_get_item"], kwargs)

    async def batch_write_item(self, **kwargs: Any) -> dict[str, Any]:
        return await self._call(_OPS["batch_write_item"], kwargs)

    async def transact_get_items(self, **kwargs: Any) -> dict[str, Any]:
        return await self._call(_OPS["transact_get_items"], kwargs)

    async def transact_write_items(self, **kwargs: Any) -> dict[str, Any]:
        return await self._call(_OPS["transact_write_items"], kwargs)

    async def create_table(self, **kwargs: Any) -> dict[str, Any]:
        return await self._call(_OPS["create_table"], kwargs)

    async def describe_table(self, **kwargs: Any) -> dict[str, Any]:
        return await self._call(_OPS["describe_table"], kwargs)

    async def list_tables(self, **kwargs: Any) -> dict[str, Any]:
        return await self._call(_OPS["list_tables"], kwargs)

    async def delete_table(self, **kwargs: Any) -> dict[str, Any]:
        return await self._call(_OPS["delete_table"], kwargs)

    async def update_table(self, **kwargs: Any) -> dict[str, Any]:
        return await self._call(_OPS["update_table"], kwargs)

    async def update_time_to_live(self, **kwargs: Any) -> dict[str, Any]:
        return await self._call(_OPS["update_time_to_live"], kwargs)

    async def describe_time_to_live(self, **kwargs: Any) -> dict[str, Any]:
        return await self._call(_OPS["describe_time_to_live"], kwargs)

    async def tag_resource(self, **kwargs: Any) -> dict[str, Any]:
        return await self._call(_OPS["tag_resource"], kwargs)

    async def untag_resource(self, **kwargs: Any) -> dict[str, Any]:
        return await self._call(_OPS["untag_resource"], kwargs)

    async def list_tags_of_resource(self, **kwargs: Any) -> dict[str, Any]:
        return await self._call(_OPS["list_tags_of_resource"], kwargs)

    async def describe_limits(self, **kwargs: Any) -> dict[str, Any]:
        return await self._call(_OPS["describe_limits"], kwargs)

    def get_paginator(self, operation_name: str) -> AsyncPaginator:
        """A paginator for ``query``, ``scan`` or ``list_tables``: ``async for page in p.paginate(...)``."""
        return AsyncPaginator(self, operation_name)

    def get_waiter(self, waiter_name: str) -> AsyncWaiter:
        """A waiter for ``table_exists`` or ``table_not_exists``, as boto3's."""
        return AsyncWaiter(self, waiter_name)

    def can_paginate(self, operation_name: str) -> bool:
        return operation_name in PAGINATED

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
