"""Per-request context that crosses layers without travelling through every signature."""

from __future__ import annotations

from contextvars import ContextVar

__all__ = ["CACHE_STATUS", "HIT", "MISS", "BYPASS", "NONE", "PRINCIPAL"]

HIT, MISS, BYPASS, NONE = b"hit", b"miss", b"bypass", b""

CACHE_STATUS: ContextVar[bytes] = ContextVar("cache_status", default=NONE)
"""Set by the cache layer on reads; the server turns it into the ``x-accelerator-cache`` header."""

PRINCIPAL: ContextVar[str | None] = ContextVar("principal", default=None)
"""The access key id whose signature the server verified for this request (None: auth is off)."""
