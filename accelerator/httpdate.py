"""The value of the ``Date`` header every response carries: kept current by a timer, not computed per response.

A server's loop refreshes the cached value at each wall-clock second (``keep_current``), so writing a response
reads a module global instead of asking the clock (a clock call and a comparison cost about a tenth of a hit's
time on a slow machine). Until a server has started ticking, the value is computed on each call.
"""

from __future__ import annotations

import asyncio
import email.utils
import time

__all__ = ["http_date", "keep_current"]

_value = b""
_loop: asyncio.AbstractEventLoop | None = None


def http_date() -> bytes:
    """Now as an HTTP date (RFC 9110 IMF-fixdate, GMT), to the second."""
    return _value or _unticked()


_second = 0
_last = b""


def _unticked() -> bytes:
    """The date when no loop keeps it current (a connection used without ``Server.start``): once a second."""
    global _second, _last
    now = int(time.time())
    if now != _second:
        _second, _last = now, _format(now)
    return _last


def keep_current(loop: asyncio.AbstractEventLoop) -> None:
    """Refresh the cached value on ``loop`` at every second from now on (once per loop; a newer loop takes over)."""
    global _loop
    if _loop is loop:
        return
    _loop = loop
    _tick(loop)


def _format(now: float) -> bytes:
    return email.utils.formatdate(int(now), usegmt=True).encode()


def _tick(loop: asyncio.AbstractEventLoop) -> None:
    global _value
    now = time.time()
    _value = _format(now)
    if _loop is loop:  # a loop that was taken over stops ticking
        loop.call_later(1.0005 - now % 1.0, _tick, loop)
