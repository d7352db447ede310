"""What the sync and async transports share: their settings, the TLS context, and the probe hook."""

from __future__ import annotations

import ssl

from .endpoints import Endpoint, EndpointSet

__all__ = ["TransportBase"]


class TransportBase:
    """Settings of a transport; a subclass does the I/O (one connection per in-flight request)."""

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
        endpoints.start_probe = self._start_probe

    def _tls_context(self) -> ssl.SSLContext:
        if self.ssl_context is None:  # made once: loading the CA store takes milliseconds
            self.ssl_context = ssl.create_default_context()
        return self.ssl_context

    def _start_probe(self, ep: Endpoint) -> None:
        """Start a background ``GET /health`` of ``ep`` that ends in ``endpoints.probe_done``."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError
