"""A lean pipelined RESP client for the write path on standalone Redis.

Why not redis-py here: at 32 concurrent PutItems, redis-py's pipeline (a pooled connection checked out per
call, each argument through its encoder, an ``asyncio.timeout`` around every read, its retry wrapper) cost
about as much CPU as the rest of a write. This client keeps one connection, writes a call's commands in one
``transport.write`` and matches replies to callers by order (RESP answers in order), so any number of callers
share it without a pool. Replies are parsed by hiredis's C reader.

What it does not do: TLS, Unix sockets, Sentinel, Cluster, RESP3. ``open_lean`` returns None for such a URL
and the driver keeps redis-py for everything.

Failure: a reply that does not come within ``timeout`` of the oldest outstanding call's start, or a lost
connection, fails every call outstanding on the connection with ``LeanConnectionError`` (the driver turns it
into BackendUnavailable, as for redis-py's errors); the next call connects again. A write whose reply was lost
may have been applied: the caller learns that it is unknown, never that it failed.
"""

from __future__ import annotations

import asyncio
import collections
import time
import urllib.parse
from collections.abc import Sequence
from typing import Any

import hiredis

__all__ = ["LeanClient", "LeanConnectionError", "ReplyError", "lean_address", "pack", "pack_script_call"]


class LeanConnectionError(ConnectionError):
    """The connection failed or timed out: the outcome of every call outstanding on it is unknown."""


class ReplyError(Exception):
    """An error reply (``-ERR ...``, ``-NOSCRIPT ...``) to one command; the other commands' replies stand."""

    @property
    def noscript(self) -> bool:
        return str(self).startswith("NOSCRIPT")


def _arg(value: Any) -> bytes:
    if type(value) is bytes:
        return value
    if type(value) is str:
        return value.encode()
    if type(value) is int:
        return b"%d" % value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"cannot send {type(value).__name__} to Redis")


def pack(command: Sequence[Any]) -> bytes:
    """One command in RESP: an array of bulk strings."""
    parts = [b"*%d\r\n" % len(command)]
    append = parts.append
    for value in command:
        if type(value) is not bytes:
            value = _arg(value)
        append(b"$%d\r\n%s\r\n" % (len(value), value))
    return b"".join(parts)


def pack_script_call(head: bytes, keys: Sequence[bytes], args: Sequence[Any]) -> bytes:
    """``EVALSHA sha numkeys keys... args...``; ``head`` is ``EVALSHA sha`` already packed (``Script.head``)."""
    parts = [b"*%d\r\n" % (3 + len(keys) + len(args)), head, b"$%d\r\n%d\r\n" % (len(str(len(keys))), len(keys))]
    append = parts.append
    for value in keys:
        append(b"$%d\r\n%s\r\n" % (len(value), value))
    for value in args:
        if type(value) is not bytes:
            value = _arg(value)
        append(b"$%d\r\n%s\r\n" % (len(value), value))
    return b"".join(parts)


def lean_address(url: str) -> tuple[str, int, bytes | None, bytes | None, int] | None:
    """(host, port, username, password, db) for a plain ``redis://`` URL this client can serve, else None."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "redis" or parts.query or parts.fragment:
        return None
    try:
        port = parts.port or 6379
        path = parts.path.strip("/")
        db = int(path) if path else 0
    except ValueError:
        return None
    user = urllib.parse.unquote(parts.username).encode() if parts.username else None
    password = urllib.parse.unquote(parts.password).encode() if parts.password is not None else None
    return parts.hostname or "127.0.0.1", port, user, password, db


class _Call:
    __slots__ = ("future", "count", "replies", "deadline")

    def __init__(self, future: asyncio.Future[list[Any]], count: int, deadline: float) -> None:
        self.future = future
        self.count = count
        self.replies: list[Any] = []
        self.deadline = deadline


class _Protocol(asyncio.Protocol):
    """One connection: calls outstanding in send order, replies handed to them as they are parsed."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.transport: asyncio.Transport | None = None
        self.reader = hiredis.Reader(replyError=ReplyError, notEnoughData=False)
        self.calls: collections.deque[_Call] = collections.deque()
        self.lost: BaseException | None = None
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        reader = self.reader
        reader.feed(data)
        calls = self.calls
        while True:
            try:
                reply = reader.gets()
            except hiredis.ProtocolError as exc:  # not RESP: nothing after this can be matched to a call
                self.fail(LeanConnectionError(f"redis: protocol error ({exc})"))
                return
            if reply is False:
                return
            if not calls:  # a reply nobody asked for: the stream is out of step
                self.fail(LeanConnectionError("redis: a reply with no request"))
                return
            call = calls[0]
            call.replies.append(reply)
            if len(call.replies) == call.count:
                calls.popleft()
                if not call.future.done():
                    call.future.set_result(call.replies)

    def connection_lost(self, exc: Exception | None) -> None:
        self.fail(LeanConnectionError(f"redis: connection lost ({exc or 'closed by the server'})"))

    def fail(self, exc: BaseException) -> None:
        if self.lost is None:
            self.lost = exc
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        calls, self.calls = self.calls, collections.deque()
        for call in calls:
            if not call.future.done():
                call.future.set_exception(exc)
        if self.transport is not None:
            self.transport.close()

    def send(self, data: bytes, count: int, loop: asyncio.AbstractEventLoop) -> asyncio.Future[list[Any]]:
        future: asyncio.Future[list[Any]] = loop.create_future()
        if self.lost is not None or self.transport is None or self.transport.is_closing():
            future.set_exception(self.lost or LeanConnectionError("redis: connection closed"))
            return future
        self.calls.append(_Call(future, count, time.monotonic() + self.timeout))
        self.transport.write(data)
        if self.timer is None:
            self.timer = loop.call_later(self.timeout, self._check, loop)
        return future

    def _check(self, loop: asyncio.AbstractEventLoop) -> None:
        """The oldest call's deadline: one timer per connection, not one per call."""
        self.timer = None
        if not self.calls:
            return
        late = self.calls[0].deadline - time.monotonic()
        if late <= 0:
            self.fail(LeanConnectionError(f"redis: no reply within {self.timeout:g}s"))
        else:
            self.timer = loop.call_later(late, self._check, loop)


class LeanClient:
    """Pipelined calls over one connection, opened on first use and again after a failure."""

    def __init__(self, host: str, port: int, *, username: bytes | None = None, password: bytes | None = None,
                 db: int = 0, timeout: float = 5.0, connect_timeout: float = 2.0) -> None:
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.db = db
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self._protocol: _Protocol | None = None
        self._connecting: asyncio.Future[_Protocol] | None = None
        self.closed = False
        self.connects = 0  # for tests: connections opened

    async def execute(self, commands: Sequence[Sequence[Any]]) -> list[Any]:
        """Every command's reply, in order; an error reply is a ``ReplyError`` in its place, not raised."""
        return await self.send(b"".join([pack(command) for command in commands]), len(commands))

    async def send(self, data: bytes, count: int) -> list[Any]:
        """``count`` commands already packed into ``data`` (see ``pack``, ``pack_script_call``)."""
        if count == 0:  # no reply would ever complete the call
            return []
        loop = asyncio.get_running_loop()
        protocol = self._protocol
        if protocol is None or protocol.lost is not None:
            if self.closed:
                raise LeanConnectionError("redis: client closed")
            protocol = await self._connect(loop)
        return await protocol.send(data, count, loop)

    async def _connect(self, loop: asyncio.AbstractEventLoop) -> _Protocol:
        if self._connecting is not None:  # one connect for all the callers that found the connection gone
            return await asyncio.shield(self._connecting)
        connecting = self._connecting = loop.create_future()
        connecting.add_done_callback(_retrieve)
        try:
            protocol = await asyncio.wait_for(self._open(loop), self.connect_timeout + self.timeout)
        except asyncio.CancelledError:  # this caller was cancelled: the others learn the connect failed
            connecting.set_exception(LeanConnectionError("redis: connect cancelled"))
            raise
        except BaseException as exc:
            failure = exc if isinstance(exc, LeanConnectionError) else LeanConnectionError(
                f"redis: cannot connect to {self.host}:{self.port} ({type(exc).__name__}: {exc})")
            connecting.set_exception(failure)
            raise failure from exc
        finally:
            self._connecting = None
        if self.closed:  # closed while connecting: the new connection is not kept
            protocol.fail(LeanConnectionError("redis: client closed"))
        else:
            self._protocol = protocol
        connecting.set_result(protocol)
        return protocol

    async def _open(self, loop: asyncio.AbstractEventLoop) -> _Protocol:
        _, protocol = await asyncio.wait_for(
            loop.create_connection(lambda: _Protocol(self.timeout), self.host, self.port), self.connect_timeout)
        self.connects += 1
        try:
            setup: list[list[Any]] = []
            if self.password is not None:
                setup.append([b"AUTH", self.username, self.password] if self.username else [b"AUTH", self.password])
            if self.db:
                setup.append([b"SELECT", self.db])
            if setup:
                replies = await protocol.send(b"".join(pack(c) for c in setup), len(setup), loop)
                refused = next((reply for reply in replies if isinstance(reply, ReplyError)), None)
                if refused is not None:
                    raise LeanConnectionError(f"redis: {refused}")
        except BaseException as exc:  # refused, timed out or cancelled: the socket is not left open
            protocol.fail(exc if isinstance(exc, LeanConnectionError) else LeanConnectionError("redis: setup failed"))
            raise
        return protocol

    def close(self) -> None:
        self.closed = True
        protocol, self._protocol = self._protocol, None
        if protocol is not None:
            protocol.fail(LeanConnectionError("redis: client closed"))


def _retrieve(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()  # a connect nobody else waited for: its error is not "never retrieved"
