"""Endpoints and their health: which endpoint a request goes to, and when a down endpoint is probed again.

Writes go to the first healthy endpoint in the order given (so read-your-writes holds on one node while it is
up); reads go round-robin over the healthy ones. A connection failure marks an endpoint down; a probe
(``GET /health``: any answer below 500 counts as up, so servers without that route work too) brings it back.
When every endpoint is down, requests still try the one due soonest rather than fail without trying.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

__all__ = ["Endpoint", "EndpointSet"]


class Endpoint:
    """One server address, its health, and its pool of idle connections (owned by the transport)."""

    __slots__ = (
        "url", "host", "port", "tls", "host_header", "request_prefix", "healthy", "retry_at", "failures",
        "probing", "idle", "addr",
    )  # fmt: skip

    def __init__(self, url: str) -> None:
        parts = urlsplit(url if "://" in url else f"http://{url}")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"endpoint must be http(s)://host[:port], got {url!r}")
        self.url = url
        self.tls = parts.scheme == "https"
        self.host = parts.hostname
        default_port = 443 if self.tls else 80
        self.port = parts.port or default_port
        host = f"[{self.host}]" if ":" in self.host else self.host
        # the Host header (and what SigV4 signs) leaves out the default port, as botocore does
        self.host_header = host if self.port == default_port else f"{host}:{self.port}"
        self.request_prefix = (
            f"POST / HTTP/1.1\r\nHost: {self.host_header}\r\nContent-Type: application/x-amz-json-1.0\r\n"
            "User-Agent: accelerator-client/0.1\r\n"
        ).encode()
        self.healthy = True
        self.retry_at = 0.0
        self.failures = 0
        self.probing = False
        self.idle: list[Any] = []  # idle connections, owned by the transport
        self.addr: tuple[int, Any] | None = None  # (family, sockaddr) that connected last (sync transport)

    def __repr__(self) -> str:
        return f"Endpoint({self.url!r}, healthy={self.healthy})"


class EndpointSet:
    """The endpoints of one client; picking is lock-free, health changes take a lock."""

    def __init__(
        self,
        urls: Sequence[str],
        *,
        probe_interval: float = 1.0,
        probe_interval_cap: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not urls:
            raise ValueError("at least one endpoint is needed")
        self.all: tuple[Endpoint, ...] = tuple(Endpoint(url) for url in urls)
        self.probe_interval = probe_interval
        self.probe_interval_cap = probe_interval_cap
        self._clock = clock
        self._lock = threading.Lock()
        self._healthy: tuple[Endpoint, ...] = self.all
        self._any_down = False
        self._counter = itertools.count()
        self.start_probe: Callable[[Endpoint], None] | None = None

    @property
    def healthy(self) -> tuple[Endpoint, ...]:
        return self._healthy

    def pick(self, read: bool, spread: bool = True, avoid: Endpoint | None = None) -> Endpoint:
        """The endpoint for the next attempt; ``avoid`` (the one that just failed) only if nothing else is up."""
        if self._any_down:
            self._probe_due()
        healthy = self._healthy
        if avoid is not None and avoid in healthy and len(healthy) > 1:
            healthy = tuple(ep for ep in healthy if ep is not avoid)
        if not healthy:
            choices = [ep for ep in self.all if ep is not avoid] or list(self.all)
            return min(choices, key=lambda ep: ep.retry_at)
        if read and spread and len(healthy) > 1:
            return healthy[next(self._counter) % len(healthy)]
        return healthy[0]

    def has_alternative(self, endpoint: Endpoint) -> bool:
        """Whether another endpoint is up to fail over to."""
        return any(ep is not endpoint for ep in self._healthy)

    def mark_down(self, endpoint: Endpoint) -> None:
        with self._lock:
            endpoint.failures += 1
            delay = min(self.probe_interval * (2 ** min(endpoint.failures - 1, 16)), self.probe_interval_cap)
            endpoint.retry_at = self._clock() + delay
            if endpoint.healthy:
                endpoint.healthy = False
                self._refresh()

    def mark_up(self, endpoint: Endpoint) -> None:
        with self._lock:
            endpoint.failures = 0
            if not endpoint.healthy:
                endpoint.healthy = True
                self._refresh()

    def probe_done(self, endpoint: Endpoint, ok: bool) -> None:
        """A probe's outcome: up, or down for a longer while."""
        endpoint.probing = False
        if ok:
            self.mark_up(endpoint)
        else:
            self.mark_down(endpoint)

    def _refresh(self) -> None:
        self._healthy = tuple(ep for ep in self.all if ep.healthy)
        self._any_down = len(self._healthy) < len(self.all)

    def _probe_due(self) -> None:
        start = self.start_probe
        if start is None:
            return
        now = self._clock()
        for ep in self.all:
            if not ep.healthy and not ep.probing and now >= ep.retry_at:
                with self._lock:
                    if ep.probing or ep.healthy:
                        continue
                    ep.probing = True
                start(ep)
