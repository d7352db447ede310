"""Memory honesty: the byte bounds hold in real process memory, within a stated overhead.

Stated overhead: the caches' estimate is at or above what tracemalloc measures for an entry (by at
most ~25%), and a process that pushes 8x the bound through a CachedStore grows its RSS by no more
than 1.15x the bound + 12 MB (allocator slack and interpreter state). Measured here: 1.02x.
"""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from accelerator.cache.items import ItemCache
from accelerator.cache.queries import QueryCache, query_key
from tests.cache_helpers import ROOT

SHAPES: dict[str, Callable[[int], dict[str, Any]]] = {
    "tiny": lambda i: {"pk": {"S": f"user#{i:08d}"}},
    "small": lambda i: {"pk": {"S": f"user#{i:08d}"}, "v": {"N": str(i)}, "name": {"S": "alice"}},
    "wide": lambda i: {"pk": {"S": f"u{i}"}, **{f"attr{j}": {"S": f"value-{j}-{i}"} for j in range(20)}},
    "nested": lambda i: {"pk": {"S": f"cart#{i}"}, "items": {"L": [
        {"M": {"sku": {"S": f"sku{j}"}, "qty": {"N": str(j)}}} for j in range(6)]}},
    "binary-set": lambda i: {"pk": {"S": f"b{i}"}, "tags": {"SS": [f"t{j}" for j in range(10)]}, "ok": {"BOOL": True}},
    "big": lambda i: {"pk": {"S": f"blob#{i}"}, "data": {"S": "x" * 10000}},
}


def _measure(fill: Callable[[], Any]) -> int:
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    keep = fill()
    gc.collect()
    used: int = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    del keep
    return used


@pytest.mark.parametrize("shape", SHAPES)
def test_item_entry_estimate_covers_measured_memory(shape: str) -> None:
    n = 5000
    docs = [orjson.dumps(SHAPES[shape](i)) for i in range(n)]
    cache = ItemCache(1 << 40, time.monotonic)

    def fill() -> None:
        for d in docs:
            item = orjson.loads(d)
            cache.put((1, item["pk"]["S"].encode(), b""), item, 300)
    measured = _measure(fill)
    assert measured <= cache.bytes <= 1.3 * measured, (measured / n, cache.bytes / n)


def test_query_page_estimate_covers_measured_memory() -> None:
    n = 3000
    docs = [orjson.dumps({"Items": [{"pk": {"S": f"p{i}"}, "sk": {"N": str(j)}, "v": {"S": "abc"}}
                                    for j in range(10)], "Count": 10, "ScannedCount": 10}) for i in range(n)]
    cache = QueryCache(1 << 40, time.monotonic)

    def fill() -> None:
        for i, d in enumerate(docs):
            req = {"TableName": "t", "KeyConditionExpression": "pk = :p",
                   "ExpressionAttributeValues": {":p": {"S": f"p{i}"}}}
            cache.put((1, query_key("Query", req)), (1, f"p{i}".encode()), orjson.loads(d), 60)
    measured = _measure(fill)
    assert measured <= cache.bytes <= 1.3 * measured, (measured / n, cache.bytes / n)


def test_process_memory_stays_near_the_bound_when_filled_far_past_it() -> None:
    bound = 32 * 1024 * 1024
    out = subprocess.run([sys.executable, "tests/cache_memory_fill.py", str(bound), "8"], cwd=ROOT,
                         capture_output=True, text=True, check=True, timeout=300).stdout
    result = json.loads(out)
    total_bound = result["bound"]  # item bound + query bound
    assert result["evicted"] > 4 * total_bound  # it really went far past the bound
    assert result["item_bytes"] + result["query_bytes"] > 0.9 * total_bound  # and the cache is full
    for rss in (result["end_rss"], result["peak_rss"]):
        growth = rss - result["start_rss"]
        assert growth <= 1.15 * total_bound + 12 * 1024 * 1024, (growth / total_bound, result)
