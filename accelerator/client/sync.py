"""The synchronous client: boto3's low-level DynamoDB methods over a thread-safe keep-alive socket pool."""

from __future__ import annotations

import contextlib
import select
import socket
import ssl
import threading
import time
from typing import Any

from .core import Operation, dumps
from .endpoints import Endpoint, EndpointSet
from .errors import (
    ClientError,
    ConnectError,
    ConnectionClosed,
    ConnectTimeout,
    ReadTimeout,
    TransportError,
)
from .facade import ClientFacade
from .http11 import Response, ResponseParser
from .paginate import Paginator
from .table import Table
from .transport import TransportBase
from .waiters import Waiter

__all__ = ["AcceleratorClient", "SyncTransport"]

_RECV = 256 * 1024


def _dead(sock: socket.socket) -> bool:
    """An idle keep-alive socket that is readable has been closed by the server (or sent garbage)."""
    if not readable(sock.fileno()):
        return False
    if not isinstance(sock, ssl.SSLSocket):
        return True
    # TLS 1.3 servers may send session tickets after the handshake: those are no reason to drop it
    timeout = sock.gettimeout()
    sock.setblocking(False)
    try:
        sock.recv(1)
        return True  # end of stream, or bytes nobody asked for
    except ssl.SSLWantReadError:
        return False
    except OSError:
        return True
    finally:
        sock.settimeout(timeout)


def readable(fd: int) -> bool:
    """Whether ``fd`` has something to read (or is broken) right now, without waiting."""
    try:
        if _HAS_POLL:  # poll, unlike select, works for descriptors above 1023
            poller = select.poll()
            poller.register(fd, select.POLLIN)
            return bool(poller.poll(0))
        return bool(select.select([fd], [], [], 0)[0])
    except (OSError, ValueError):
        return True


_HAS_POLL = hasattr(select, "poll")


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.close()


class SyncTransport(TransportBase):
    """Sends one request on one endpoint and returns its response; one connection per in-flight request."""

    def __init__(self, endpoints: EndpointSet, **options: Any) -> None:
        self._lock = threading.Lock()
        self._closed = False
        super().__init__(endpoints, **options)

    def connect(self, ep: Endpoint, timeout: float | None = None) -> socket.socket:
        """A new connection to ``ep``, ready for requests; ConnectError if that fails.

        The address that worked last is tried first; otherwise every resolved address in turn, so a name
        like ``localhost`` that resolves to ::1 and 127.0.0.1 works whichever the server listens on.
        """
        timeout = self.connect_timeout if timeout is None else timeout
        addrs: list[tuple[int, Any]] = [ep.addr] if ep.addr is not None else []
        if not addrs:
            try:
                addrs = [(info[0], info[4]) for info in socket.getaddrinfo(ep.host, ep.port, type=socket.SOCK_STREAM)]
            except OSError as exc:
                raise ConnectError(f"cannot resolve: {exc}", ep.url) from exc
        error: ConnectError | None = None
        for family, sockaddr in addrs:
            try:
                sock = self._connect_to(ep, family, sockaddr, timeout)
            except ConnectError as exc:
                error = exc
                continue
            ep.addr = (family, sockaddr)
            return sock
        ep.addr = None  # resolve again next time: the address may have moved
        assert error is not None
        raise error

    def _connect_to(self, ep: Endpoint, family: int, sockaddr: Any, timeout: float) -> socket.socket:
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            sock.connect(sockaddr)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if ep.tls:
                sock = self._tls_context().wrap_socket(sock, server_hostname=ep.host)
            sock.settimeout(self.read_timeout)
        except TimeoutError as exc:
            _close(sock)
            raise ConnectTimeout("connect timed out", ep.url) from exc
        except OSError as exc:
            _close(sock)
            raise ConnectError(f"cannot connect: {exc}", ep.url) from exc
        return sock

    def _checkout(self, ep: Endpoint) -> socket.socket:
        idle = ep.idle
        while idle:
            with self._lock:
                sock = idle.pop() if idle else None
            if sock is None:
                break
            if not _dead(sock):
                return sock
            _close(sock)
        return self.connect(ep)

    def _checkin(self, ep: Endpoint, sock: socket.socket) -> None:
        with self._lock:
            if len(ep.idle) < self.pool_size and not self._closed:
                ep.idle.append(sock)
                return
        _close(sock)

    def roundtrip(self, ep: Endpoint, payload: bytes) -> Response:
        """Send ``payload`` on a pooled connection and read the whole response."""
        sock = self._checkout(ep)
        try:
            sock.sendall(payload)
        except OSError as exc:  # not fully sent, so the server cannot have acted on it
            _close(sock)
            raise ConnectError(f"send failed: {exc}", ep.url) from exc
        parser = ResponseParser()
        try:
            while True:
                data = sock.recv(_RECV)
                if not data:
                    resp = parser.feed_eof()
                    if resp is None:
                        raise ConnectionClosed("connection closed before a full answer", ep.url)
                    break
                resp = parser.feed(data)
                if resp is not None:
                    break
        except TimeoutError as exc:
            _close(sock)
            raise ReadTimeout(f"no answer within {self.read_timeout}s", ep.url) from exc
        except OSError as exc:
            _close(sock)
            raise ConnectionClosed(f"connection failed: {exc}", ep.url) from exc
        except BaseException:
            _close(sock)
            raise
        if resp.keep_alive:
            self._checkin(ep, sock)
        else:
            _close(sock)
        return resp

    def probe(self, ep: Endpoint, timeout: float) -> bool:
        """``GET /health`` on a fresh connection: True if anything below 500 answers."""
        try:
            sock = self.connect(ep, timeout)
        except ConnectError:
            return False
        try:
            sock.settimeout(timeout)
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % ep.host_header.encode())
            parser = ResponseParser()
            while True:
                data = sock.recv(_RECV)
                resp = parser.feed(data) if data else parser.feed_eof()
                if resp is not None:
                    return resp.status < 500
                if not data:
                    return False
        except Exception:
            return False
        finally:
            _close(sock)

    def _start_probe(self, ep: Endpoint) -> None:
        def run() -> None:
            ok = False
            try:
                ok = self.probe(ep, max(self.connect_timeout, 0.5))
            finally:
                self._endpoints.probe_done(ep, ok)

        threading.Thread(target=run, name=f"accelerator-probe-{ep.url}", daemon=True).start()

    def close(self, final: bool = False) -> None:
        """Close the idle connections; ``final`` also stops pooling connections that come back later."""
        with self._lock:
            self._closed = final
            socks = [sock for ep in self._endpoints.all for sock in ep.idle]
            for ep in self._endpoints.all:
                ep.idle.clear()
        for sock in socks:
            _close(sock)


class AcceleratorClient(ClientFacade[dict[str, Any]]):
    """A boto3-compatible low-level DynamoDB client, much cheaper per call; safe to share between threads."""

    default_pool_size = 16
    _transport: SyncTransport

    def _make_transport(self, endpoints: EndpointSet, *, connect_timeout: float, read_timeout: float,
                        ssl_context: ssl.SSLContext | None, pool_size: int) -> SyncTransport:
        return SyncTransport(endpoints, connect_timeout=connect_timeout, read_timeout=read_timeout,
                             ssl_context=ssl_context, pool_size=pool_size)

    def _call(self, op: Operation, params: dict[str, Any]) -> dict[str, Any]:
        core = self._core
        endpoints = core.endpoints
        transport = self._transport
        body = dumps(params)
        attempt = 0
        failed: Endpoint | None = None
        while True:
            ep = endpoints.pick(op.read, core.spread_reads, failed)
            try:
                return core.decode(op, ep, transport.roundtrip(ep, core.encode(ep, op, body)), attempt)
            except (TransportError, ClientError) as exc:
                delay = core.retry_delay(op, ep, exc, attempt)
                if delay is None:
                    raise
                failed = ep if isinstance(exc, ConnectError | ConnectionClosed | ReadTimeout) else None
            attempt += 1
            if delay:
                time.sleep(delay)

    def get_paginator(self, operation_name: str) -> Paginator:
        """A paginator for ``query``, ``scan`` or ``list_tables``, as boto3's."""
        return Paginator(self, operation_name)

    def get_waiter(self, waiter_name: str) -> Waiter:
        """A waiter for ``table_exists`` or ``table_not_exists``, as boto3's."""
        return Waiter(self, waiter_name)

    def Table(self, name: str) -> Table:  # noqa: N802 - boto3's resource spells it so
        """The high-level table API on plain Python values."""
        return Table(self, name)

    def check_health(self) -> dict[str, bool]:
        """Probe every endpoint now (``GET /health``) and update their state; url -> up."""
        result = {}
        for ep in self._core.endpoints.all:
            ok = self._transport.probe(ep, self._transport.connect_timeout)
            (self._core.endpoints.mark_up if ok else self._core.endpoints.mark_down)(ep)
            result[ep.url] = ok
        return result

    def close(self) -> None:
        """Close the idle connections; the client can still be used (it reconnects)."""
        self._transport.close()

    def __enter__(self) -> AcceleratorClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._transport.close()

