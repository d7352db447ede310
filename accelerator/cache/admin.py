"""Admin HTTP routes: ``GET /admin/cache`` (JSON stats), ``GET /admin/cache/flush[/<table>]``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING
from urllib.parse import unquote

import orjson

from accelerator.cache.stats import snapshot

if TYPE_CHECKING:
    from accelerator.cache.store import CachedStore

__all__ = ["routes"]

Reply = tuple[int, bytes, bytes, bytes]
_JSON = b"application/json"


def routes(cs: CachedStore) -> dict[bytes, Callable[..., Awaitable[Reply]]]:
    """Exact routes, plus ``/admin/cache/flush/`` as a prefix route called with the rest of the path."""

    async def stats() -> Reply:
        return 200, _JSON, b"", orjson.dumps(snapshot(cs), option=orjson.OPT_INDENT_2) + b"\n"

    async def flush_all() -> Reply:
        return 200, _JSON, b"", orjson.dumps({"flushed": "all", "entries": cs.flush()}) + b"\n"

    async def flush_table(rest: bytes) -> Reply:
        table = unquote(rest.decode("utf-8", "replace"))
        return 200, _JSON, b"", orjson.dumps({"flushed": table, "entries": cs.flush(table)}) + b"\n"

    return {b"/admin/cache": stats, b"/admin/cache/flush": flush_all, b"/admin/cache/flush/": flush_table}
