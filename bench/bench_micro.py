"""Micro-benchmarks of the hot-path pieces: key encoding, the item codec, validation, cache get/put.

Run: ``pytest bench/bench_micro.py --benchmark-only`` (pin with ``taskset -c 0`` for steadier figures).
"""

from __future__ import annotations

import copy
import time
from typing import Any

import orjson

from accelerator.cache.items import ItemCache
from accelerator.core.keys import KeySchema, encode_number
from accelerator.core.values import item_size, normalize_number, validate_item

SCHEMA = KeySchema("pk", "S", "sk", "N")
KEY = {"pk": {"S": "user#12345"}, "sk": {"N": "1700000000.25"}}
ITEM: dict[str, Any] = {
    **KEY,
    "name": {"S": "Ada Lovelace"},
    "visits": {"N": "42"},
    "tags": {"SS": ["a", "b", "c"]},
    "profile": {"M": {"city": {"S": "London"}, "langs": {"L": [{"S": "en"}, {"S": "fr"}]}}},
    "active": {"BOOL": True},
    "blob": {"B": "AAECAwQFBgcICQ=="},
}
DATA = orjson.dumps(ITEM)


def test_encode_number(benchmark: Any) -> None:
    assert benchmark(encode_number, "-1234.5678")[0] == 0x01


def test_key_of_request(benchmark: Any) -> None:
    assert benchmark(SCHEMA.key_of_request, KEY)[0] == b"user#12345"


def test_normalize_number(benchmark: Any) -> None:
    assert benchmark(normalize_number, "0012.500") == "12.5"


def test_item_decode(benchmark: Any) -> None:
    assert benchmark(orjson.loads, DATA)["visits"] == {"N": "42"}


def test_item_encode(benchmark: Any) -> None:
    assert benchmark(orjson.dumps, ITEM) == DATA


def test_validate_item(benchmark: Any) -> None:
    items = [copy.deepcopy(ITEM) for _ in range(2000)]
    it = iter(items * 1000)
    assert benchmark(lambda: validate_item(next(it))) == item_size(ITEM)


def test_cache_get_hit(benchmark: Any) -> None:
    cache = ItemCache(64 * 1024 * 1024, time.monotonic)
    key = (1, b"user#12345", b"\x03")
    cache.put(key, ITEM, 300.0)
    assert benchmark(cache.get, key) is not None


def test_cache_put(benchmark: Any) -> None:
    cache = ItemCache(64 * 1024 * 1024, time.monotonic)
    counter = iter(range(10**9))
    benchmark(lambda: cache.put((1, b"k%d" % next(counter), b""), ITEM, 300.0))
    assert cache.entries > 0
