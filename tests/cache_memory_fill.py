"""Run as a script: push ``factor`` times the byte bound through a CachedStore; print RSS figures as JSON.

Items arrive as the server sees them (parsed by orjson from request bodies) through write-through puts
and read misses, in several shapes; the inner store keeps nothing, so any growth is the cache's.
"""

from __future__ import annotations

import asyncio
import gc
import json
import sys
from typing import Any

import orjson

from accelerator.cache import CachedStore
from accelerator.config import CacheConfig


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def peak_rss() -> int:
    """VmHWM: this process's peak RSS (ru_maxrss would include the parent's, it survives execve)."""
    with open("/proc/self/status") as f:
        line = next(line for line in f if line.startswith("VmHWM:"))
    return int(line.split()[1]) * 1024


class NullStore:
    """Acknowledges writes, answers reads with a generated item, stores nothing."""

    async def open(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def call(self, operation: str, req: dict[str, Any]) -> dict[str, Any]:
        if operation == "DescribeTable":
            return {"Table": {"KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                              "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}]}}
        if operation == "GetItem":
            return {"Item": orjson.loads(body(req["Key"]["pk"]["S"]))}
        if operation == "Query":
            pk = req["ExpressionAttributeValues"][":p"]["S"]
            return {"Items": [orjson.loads(body(f"{pk}-{j}")) for j in range(5)], "Count": 5, "ScannedCount": 5}
        return {}


def body(pk: str) -> bytes:
    n = int(pk.split("-")[0].lstrip("k"))
    shape = n % 4
    if shape == 0:
        return orjson.dumps({"pk": {"S": pk}, "v": {"N": str(n)}})
    if shape == 1:
        return orjson.dumps({"pk": {"S": pk}, **{f"a{j}": {"S": f"value{j}-{n}"} for j in range(8)}})
    if shape == 2:
        return orjson.dumps({"pk": {"S": pk}, "cart": {"L": [{"M": {"sku": {"S": f"s{j}"}, "q": {"N": "1"}}}
                                                                for j in range(6)]}})
    return orjson.dumps({"pk": {"S": pk}, "blob": {"S": "x" * (2000 + n % 3000)}})


async def main(bound: int, factor: int) -> dict[str, Any]:
    cs = CachedStore(NullStore(), CacheConfig(item_cache_bytes=bound, query_cache_bytes=bound // 4))
    start = rss()
    n = 0
    pushed = 0
    while pushed < factor * bound:
        key = f"k{n}"
        if n % 3 == 0:
            await cs.call("GetItem", orjson.loads(orjson.dumps({"TableName": "tbl", "Key": {"pk": {"S": key}}})))
        elif n % 3 == 1:
            await cs.call("PutItem", {"TableName": "tbl", "Item": orjson.loads(body(key))})
        else:
            await cs.call("Query", {"TableName": "tbl", "KeyConditionExpression": "pk = :p",
                                    "ExpressionAttributeValues": {":p": {"S": key}}})
        n += 1
        if n % 1000 == 0:
            pushed = cs.items.bytes + cs.items.evicted_bytes + cs.queries.bytes + cs.queries.evicted_bytes
    gc.collect()
    peak = peak_rss()
    return {"start_rss": start, "end_rss": rss(), "peak_rss": peak, "bound": bound + bound // 4, "requests": n,
            "item_bytes": cs.items.bytes, "query_bytes": cs.queries.bytes,
            "evicted": cs.items.evicted_bytes + cs.queries.evicted_bytes}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(int(sys.argv[1]), int(sys.argv[2])))))
