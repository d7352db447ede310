"""Admin HTTP routes, each with the action a policy decides on.

    GET  /admin/cache                  accelerator:DescribeCache  JSON stats of the whole cache
    GET  /admin/cache/tables/<table>   accelerator:DescribeCache  one table's cache state and entry counts
    POST /admin/cache/flush            accelerator:FlushCache     drop every entry
    POST /admin/cache/flush/<table>    accelerator:FlushCache     drop one table's entries

A flush changes state, so it is POST only (the server answers a GET with 405).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING
from urllib.parse import unquote

import orjson

from accelerator.cache.stats import snapshot, table_snapshot

if TYPE_CHECKING:
    from accelerator.cache.store import CachedStore

__all__ = ["DESCRIBE", "FLUSH", "routes"]

Reply = tuple[int, bytes, bytes, bytes]
Handler = Callable[..., Awaitable[Reply]]
_JSON = b"application/json"
DESCRIBE = "accelerator:DescribeCache"
FLUSH = "accelerator:FlushCache"


def routes(cs: CachedStore) -> dict[tuple[bytes, bytes], tuple[str, Handler]]:
    """Routes by (method, path); a path ending in "/" is a prefix route called with the last path segment."""

    def name(rest: bytes) -> str:
        return unquote(rest.decode("utf-8", "replace"))

    async def stats() -> Reply:
        return 200, _JSON, b"", orjson.dumps(snapshot(cs), option=orjson.OPT_INDENT_2) + b"\n"

    async def table_stats(rest: bytes) -> Reply:
        return 200, _JSON, b"", orjson.dumps(table_snapshot(cs, name(rest)), option=orjson.OPT_INDENT_2) + b"\n"

    async def flush_all() -> Reply:
        return 200, _JSON, b"", orjson.dumps({"flushed": "all", "entries": cs.flush()}) + b"\n"

    async def flush_table(rest: bytes) -> Reply:
        return 200, _JSON, b"", orjson.dumps({"flushed": name(rest), "entries": cs.flush(name(rest))}) + b"\n"

    return {(b"GET", b"/admin/cache"): (DESCRIBE, stats),
            (b"GET", b"/admin/cache/tables/"): (DESCRIBE, table_stats),
            (b"POST", b"/admin/cache/flush"): (FLUSH, flush_all),
            (b"POST", b"/admin/cache/flush/"): (FLUSH, flush_table)}
