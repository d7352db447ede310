"""The value of the ``Date`` header every response carries, formatted once a second rather than per response."""

from __future__ import annotations

import email.utils
import time

__all__ = ["http_date"]

_second = 0
_value = b""


def http_date() -> bytes:
    """Now as an HTTP date (RFC 9110 IMF-fixdate, GMT)."""
    global _second, _value
    now = int(time.time())
    if now != _second:
        _second, _value = now, email.utils.formatdate(now, usegmt=True).encode()
    return _value
