"""HTTP/1.1 front end: httptools on uvloop, keep-alive and pipelining, no framework.

One ``Connection`` per socket parses requests with httptools and answers them strictly in order.
A request's handler coroutine is first stepped inline: a cache hit never suspends, so it is answered
without creating a Task; only a handler that really waits (a store miss, a write) is wrapped in one.

Why one module over 400 lines: the connection's httptools callbacks, its in-order dispatch and the server that
owns the connections, limits and shutdown share per-connection state on the hot path; splitting them would add
an indirection per request.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import functools
import itertools
import logging
import os
import resource
import ssl as ssl_module
import time
import zlib
from collections.abc import Coroutine, Generator, Mapping
from typing import Any

import httptools

from accelerator.api import Router
from accelerator.auth import Authorize, SigV4Verifier, allow_all
from accelerator.codings import COMPRESS_AT, BadCoding, BodyTooLarge, decode_body, encode_body, pick_coding
from accelerator.core.errors import DynamoError, InternalServerError
from accelerator.core.guard import LogOnce
from accelerator.cors import Cors
from accelerator.httpdate import http_date, keep_current
from accelerator.routes import Reply, Route, Routes, RouteTable, refused

__all__ = ["Server", "ServerLimits", "Reply", "Route", "Routes", "default_max_connections"]

log = logging.getLogger("accelerator.server")
_now = time.monotonic  # the connection clock (a test replaces it)


_REASONS = {200: b"OK", 400: b"Bad Request", 404: b"Not Found", 405: b"Method Not Allowed",
            408: b"Request Timeout", 413: b"Payload Too Large", 431: b"Request Header Fields Too Large",
            500: b"Internal Server Error", 503: b"Service Unavailable"}
_JSON = b"application/x-amz-json-1.0"
_TEXT = b"text/plain; charset=utf-8"
_NO_HEADERS: Mapping[bytes, bytes] = {}
_SINGLE = frozenset((b"host", b"authorization", b"x-amz-target", b"x-amz-date", b"x-amz-content-sha256",
                     b"x-amz-security-token", b"content-encoding", b"expect"))
"""Headers that decide how a request is verified, routed or decoded: a second one is refused (400)."""
_CHECK_AT = 65536  # body bytes after which a request's headers must look verifiable for the rest to be kept
# One formatting call per response: status, reason, content type, request id (prefix, counter), CRC32 of the
# body, its length, the date, the Connection header, the server's identity header, the reply's extra headers, the body.
_HEAD = (b"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nx-amzn-RequestId: %s%020X\r\nx-amz-crc32: %d\r\n"
         b"Content-Length: %d\r\nDate: %s\r\n%s%s%s\r\n%s")


def default_max_connections() -> int:
    """Open connections the process can hold: its file descriptor limit less a reserve for backends and files."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 65536
    return max(16, soft - 256)


class ServerLimits:
    """Per-connection limits (sizes in bytes, times in seconds) and the cap on open connections.

    ``request_timeout`` is a deadline from a request's first byte (a client trickling bytes does not extend
    it); ``max_connections`` 0 means ``default_max_connections()``.
    """

    __slots__ = ("max_body", "max_header", "request_timeout", "idle_timeout", "max_pipeline", "max_connections")

    def __init__(self, max_body: int = 16 * 1024 * 1024 + 65536, max_header: int = 16 * 1024,
                 request_timeout: float = 30.0, idle_timeout: float = 300.0, max_pipeline: int = 64,
                 max_connections: int = 0) -> None:
        self.max_body = max_body
        self.max_header = max_header
        self.request_timeout = request_timeout
        self.idle_timeout = idle_timeout
        self.max_pipeline = max_pipeline
        self.max_connections = max_connections or default_max_connections()


class _Resume:
    """Continue driving a coroutine that has already been stepped once, from inside a Task."""

    __slots__ = ("coro", "first")

    def __init__(self, coro: Coroutine[Any, Any, Reply], first: Any) -> None:
        self.coro = coro
        self.first = first

    def __await__(self) -> Generator[Any, None, Reply]:
        yielded = self.first
        while True:
            try:
                yield yielded
            except BaseException as exc:  # delivered into the inner coroutine, as a Task would
                try:
                    yielded = self.coro.throw(exc)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    yielded = self.coro.send(None)
                except StopIteration as stop:
                    return stop.value


async def _drive(resume: _Resume) -> Reply:
    return await resume


class Connection(asyncio.Protocol):
    """One client socket: parse, dispatch in order, write responses."""

    __slots__ = ("server", "transport", "parser", "url", "headers", "target", "body", "body_size",
                 "header_bytes", "queue", "busy", "closing", "last_active", "in_request", "started", "discard",
                 "in_body", "queued_bytes")

    def __init__(self, server: Server) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.url = b""
        self.target = b""
        self.body: list[bytes] = []
        self.body_size = 0
        self.header_bytes = 0
        self.headers: dict[bytes, bytes] = {}
        self.queue: collections.deque[tuple[bytes, bytes, bytes, bytes, bool, dict[bytes, bytes]]] = \
            collections.deque()
        self.queued_bytes = 0  # bodies waiting in the queue
        self.busy = False
        self.closing = False
        self.in_request = False
        self.discard = self.in_body = False
        self.last_active = self.started = _now()

    # -- asyncio.Protocol ------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's TCPTransport is not a subclass
        if len(self.server.connections) >= self.server.limits.max_connections:
            _refused("max_connections", logging.WARNING, "max_connections (%d) reached: answering 503 and closing new ones",
                     self.server.limits.max_connections)
            self._fail(503, b"too many connections")
            return
        self.server.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        self.server.connections.discard(self)
        # httptools' parser holds this object's bound callbacks (a reference cycle that only the cyclic GC,
        # run rarely here, would free, with the last request's body): break it and drop what we hold.
        self.parser = _CLOSED_PARSER
        self.transport = None
        self.queue.clear()
        self.queued_bytes = 0
        self.body = []
        self.headers = {}

    def data_received(self, data: bytes) -> None:
        self.last_active = _now()
        try:
            self.parser.feed_data(data)
        except _Reject as rej:
            self._fail(rej.status, rej.text)
        except httptools.HttpParserUpgrade:
            self._fail(400, b"upgrade not supported")
        except httptools.HttpParserError as exc:
            # httptools wraps exceptions raised in callbacks; a limit we enforced is in the context
            cause = exc.__cause__ or exc.__context__
            if isinstance(cause, _Reject):
                self._fail(cause.status, cause.text)
            else:
                self._fail(400, b"malformed HTTP request")

    # -- httptools callbacks ---------------------------------------------------------------------
    def on_message_begin(self) -> None:
        self.in_request = True
        self.started = self.last_active  # the request's deadline counts from its first byte
        self.url = b""
        self.headers = {}
        self.target = b""
        self.body = []
        self.body_size = 0
        self.header_bytes = 0
        self.discard = self.in_body = False

    # DynamoDB answers 400 to a request line, or to headers, over 16 KB (max_header): each is limited alone.
    def on_url(self, url: bytes) -> None:
        self.url += url
        if len(self.url) > self.server.limits.max_header:
            raise _Reject(400, b"request line too long")

    def on_header(self, name: bytes, value: bytes) -> None:
        self.header_bytes += len(name) + len(value)
        if self.header_bytes > self.server.limits.max_header:
            raise _Reject(400, b"request headers too large")
        if self.in_body:
            # A trailer field after a chunked body (httptools reports it as a header): dropped, as RFC 9110
            # allows. Kept, it could replace a header the request was already routed on (X-Amz-Target) with
            # the one a captured signature covers, or add a Content-Encoding no front end saw.
            return
        name = name.lower()
        if name in _SINGLE and name in self.headers:
            # A front end may act on the first of two while this server verifies and routes on the last.
            raise _Reject(400, b"duplicate " + name + b" header")
        self.headers[name] = value

    def on_headers_complete(self) -> None:
        declared = self.headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.server.limits.max_body:
            raise _Reject(413, b"request body too large")
        self.target = self.headers.get(b"x-amz-target", b"")
        self.in_body = True
        if self.headers.get(b"expect", b"").lower() == b"100-continue" and not self.busy and not self.queue and \
                self.transport is not None and self.parser.get_http_version() == "1.1":
            # The client holds the body back until told to send it (or until its own timeout, a second or more
            # per request); with a response still owed on this connection it waits, as interim and final
            # responses must not interleave.
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        before = self.body_size
        self.body_size += len(body)
        if self.body_size > self.server.limits.max_body:
            raise _Reject(413, b"request body too large")
        if self.discard:
            return
        if before <= _CHECK_AT < self.body_size and self.server.verifier is not None and \
                not self.server.verifier.plausible(self.headers):
            # A large body whose headers cannot verify (no signature, unknown key, out of its window) is read
            # and dropped rather than held: anyone could otherwise make every connection hold max_body bytes.
            # Its request is refused all the same when dispatched, by the same checks, with an empty body.
            self.discard = True
            self.body = []
            return
        self.body.append(body)

    def on_message_complete(self) -> None:
        self.in_request = False
        body = self.body[0] if len(self.body) == 1 else b"".join(self.body)
        self.body.clear()  # the queue entry holds the body until dispatch, the handler after
        method = self.parser.get_method()
        keep = self.parser.should_keep_alive()
        self.queue.append((method, self.url, self.target, body, keep, self.headers))
        self.queued_bytes += len(body)
        limits = self.server.limits
        # Stop reading while the pipelined requests waiting here are too many or too large (their bodies
        # together past one maximal body): a connection then holds at most about two bodies' worth.
        if (len(self.queue) > limits.max_pipeline or self.queued_bytes > limits.max_body) \
                and self.transport is not None:
            self.transport.pause_reading()
        if not self.busy:
            self._next()

    # -- dispatch --------------------------------------------------------------------------------
    def _next(self) -> None:
        while self.queue and not self.closing:
            method, url, target, body, keep, headers = self.queue.popleft()
            self.queued_bytes -= len(body)
            accept = headers.get(b"accept-encoding", b"")
            cors = self.server.cors.headers(method, headers) if self.server.cors is not None else b""
            coro = self.server.dispatch(method, url, target, body, headers)
            # Each request runs in a Context of its own; if it suspends, its Task continues in that same
            # Context object, so context variables set before the first await stay valid after it.
            ctx = contextvars.copy_context()
            try:
                first = ctx.run(coro.send, None)
            except StopIteration as stop:
                self._write(stop.value, keep, accept, cors)
                continue
            except BaseException as exc:  # a handler bug: answer 500, keep serving
                self._write(self.server.crash_reply(exc), keep, accept, cors)
                continue
            self.busy = True
            task = asyncio.get_running_loop().create_task(_drive(_Resume(coro, first)), context=ctx)
            task.add_done_callback(functools.partial(self._done, keep=keep, accept=accept, cors=cors))
            self.server.in_flight.add(task)
            return
        limits = self.server.limits
        if self.transport is not None and not self.closing and len(self.queue) <= limits.max_pipeline \
                and self.queued_bytes <= limits.max_body:
            self.transport.resume_reading()

    def _done(self, task: asyncio.Future[Reply], *, keep: bool, accept: bytes, cors: bytes = b"") -> None:
        self.server.in_flight.discard(task)
        self.busy = False
        if task.cancelled():
            reply = self.server.crash_reply(InternalServerError("request cancelled"))
        elif task.exception() is not None:
            reply = self.server.crash_reply(task.exception())
        else:
            reply = task.result()
        self._write(reply, keep, accept, cors)
        self._next()

    def _write(self, reply: Reply, keep: bool, accept: bytes = b"", cors: bytes = b"") -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        status, ctype, extra, body = reply
        if cors:
            extra += cors
        if accept and len(body) >= COMPRESS_AT and ctype == _JSON:  # small replies skip the header
            coding = pick_coding(accept)
            if coding is not None:
                body = encode_body(body, coding)
                extra += b"Content-Encoding: " + coding + b"\r\n"
        server = self.server
        transport.write(_HEAD % (
            status, _REASONS.get(status, b"Unknown"), ctype, server._id_prefix, next(server._ids),
            zlib.crc32(body), len(body), http_date(), b"" if keep else b"Connection: close\r\n", server.identity,
            extra, body))
        self.last_active = _now()
        if not keep:
            self.closing = True
            transport.close()

    def _fail(self, status: int, text: bytes) -> None:
        """Answer a protocol-level failure and close: the stream cannot be trusted after it."""
        self.queue.clear()
        self.queued_bytes = 0
        self._write((status, _TEXT, b"", text), False)
        if self.transport is not None:
            self.transport.close()

    def expire(self, now: float) -> None:
        """Close the connection if a request is not received within its deadline or it sat idle too long."""
        limits = self.server.limits
        idle = now - self.last_active
        if self.in_request and now - self.started > limits.request_timeout:
            self._fail(408, b"request timed out")
        elif not self.busy and not self.queue and idle > limits.idle_timeout and self.transport is not None:
            self.closing = True
            self.transport.close()


_CLOSED_PARSER = httptools.HttpRequestParser(object())  # a closed connection's: holds no callbacks
_refused = LogOnce(log)


class _Reject(Exception):
    def __init__(self, status: int, text: bytes) -> None:
        self.status = status
        self.text = text


class Server:
    """Accepts connections and routes requests to the API router; owns graceful shutdown."""

    def __init__(self, router: Router, limits: ServerLimits | None = None, extra_routes: Routes | None = None,
                 verifier: SigV4Verifier | None = None, authorize: Authorize = allow_all,
                 data_plane: bool = True, cors: Cors | None = None) -> None:
        self.router = router
        self.cors = cors  # None: no CORS headers, OPTIONS is not answered
        with contextlib.suppress(RuntimeError):  # built in a running loop: the Date value ticks from now
            keep_current(asyncio.get_running_loop())
        self.verifier = verifier
        self.authorize = authorize
        self.data_plane = data_plane  # False: a listener for the extra routes only (the metrics listener)
        self.limits = limits or ServerLimits()
        self.connections: set[Connection] = set()
        self.in_flight: set[asyncio.Future[Any]] = set()
        self.ready = False
        self.routes = RouteTable(extra_routes, router, verifier, authorize)
        self._servers: list[asyncio.AbstractServer] = []
        self._sweeper: asyncio.Task[None] | None = None
        self._ids = itertools.count(1)
        self._id_prefix = os.urandom(8).hex().upper().encode()
        self.identity = b""
        """Header lines added to every response (a worker's ``x-accelerator-worker``), CRLF-terminated."""

    def request_id(self) -> bytes:
        return self._id_prefix + b"%020X" % next(self._ids)  # as _HEAD writes it

    def crash_reply(self, exc: BaseException | None) -> Reply:
        if isinstance(exc, DynamoError):
            return self.router.error_reply(exc)
        log.exception("unhandled error in request handler", exc_info=exc)
        return self.router.error_reply(InternalServerError("Internal server error"))

    async def dispatch(self, method: bytes, url: bytes, target: bytes, body: bytes,
                       headers: Mapping[bytes, bytes] = _NO_HEADERS) -> Reply:
        if method == b"POST" and (url == b"/" or not url.startswith(b"/admin/")) and self.data_plane:
            if self.verifier is not None:
                try:  # over the bytes received: clients sign the body they send, compressed or not
                    self.verifier.verify(method, url, headers, body)
                except DynamoError as exc:
                    route = self.router.routes.get(target)
                    return refused(self.router, route[0] if route is not None else "Unknown", exc)
            coding = headers.get(b"content-encoding")
            if coding:
                try:
                    body = decode_body(body, coding, self.limits.max_body)
                except BodyTooLarge:
                    return 413, _TEXT, b"", b"request body too large"
                except BadCoding:  # DynamoDB's answer to a body it cannot decode
                    return self.router.error_reply(InternalServerError("Failed to decode the request body"))
            return await self.router.handle(target, body)
        if method == b"OPTIONS" and self.cors is not None:  # a CORS preflight: its headers are added on write
            return 200, _TEXT, b"", b""
        return await self._http_route(method, url, body, headers)

    async def _http_route(self, method: bytes, url: bytes, body: bytes, headers: Mapping[bytes, bytes]) -> Reply:
        """Health checks (always open), then the extra routes (signed and authorised when auth is on)."""
        path = url.split(b"?", 1)[0]
        if method == b"GET" and self.data_plane:
            if path == b"/":  # DynamoDB's health check: the address the client used
                return 200, _TEXT, b"", b"healthy: " + headers.get(b"host", b"")
            if path == b"/health":
                if self.ready:
                    return 200, _TEXT, b"", b"ok\n"
                return 503, _TEXT, b"", b"starting\n"
        reply = await self.routes.serve(method, url, path, body, headers)
        return reply if reply is not None else (404, _TEXT, b"", b"not found\n")

    async def start(self, host: str, port: int, ssl: ssl_module.SSLContext | None = None,
                    reuse_port: bool = False) -> list[tuple[str, int]]:
        """Listen on host:port (HTTPS with an ``ssl`` context); returns the bound addresses (port 0: a free one).

        ``reuse_port``: SO_REUSEPORT, so that several worker processes listen on one port and the kernel
        spreads connections over them.
        """
        loop = asyncio.get_running_loop()
        # With TLS the transport hands Connection the decrypted stream: keep-alive and pipelining are unchanged.
        server = await loop.create_server(lambda: Connection(self), host, port, backlog=1024,
                                          reuse_address=True, reuse_port=reuse_port or None, ssl=ssl,
                                          ssl_handshake_timeout=self.limits.request_timeout if ssl else None)
        self._servers.append(server)
        keep_current(loop)
        if self._sweeper is None:
            self._sweeper = asyncio.ensure_future(self._sweep())
        self.ready = True
        return [s.getsockname()[:2] for s in server.sockets]

    async def start_unix(self, path: str) -> None:
        """Also listen on a Unix socket (a worker's private address for its siblings)."""
        loop = asyncio.get_running_loop()
        self._servers.append(await loop.create_unix_server(lambda: Connection(self), path))

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            now = _now()
            for conn in list(self.connections):
                conn.expire(now)

    async def shutdown(self, grace: float = 10.0) -> None:
        """Stop accepting, let in-flight requests finish (up to ``grace`` s), close connections."""
        self.ready = False
        for server in self._servers:
            server.close()
        if self.in_flight:
            await asyncio.wait(list(self.in_flight), timeout=grace)
        for conn in list(self.connections):
            if conn.transport is not None:
                conn.transport.close()
        for server in self._servers:
            await server.wait_closed()
        if self._sweeper is not None:
            self._sweeper.cancel()
