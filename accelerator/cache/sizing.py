"""Estimates of the Python memory a cache entry really holds, for the caches' byte bounds.

``deep_size`` walks an item in wire form (dicts, lists, strings, booleans) with ``sys.getsizeof``. It
skips one-character dict keys (the type tags "S", "N", "M", ...: orjson and CPython share them) and
counts every other string once per occurrence, so it over-estimates when attribute names are shared
between items (orjson caches short keys). One-character *values* are counted: orjson creates them anew.
``ENTRY_OVERHEAD`` is the bookkeeping an item-cache entry costs beyond the key and the value: its slot
and link in the ``OrderedDict``, the entry tuple and its expiry float. It was measured with tracemalloc
(``tests/test_cache_memory.py`` checks the estimate stays at or above the measured figure).
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["deep_size", "bytes_size", "ENTRY_OVERHEAD", "QUERY_ENTRY_OVERHEAD"]

_getsizeof = sys.getsizeof

ENTRY_OVERHEAD = 240
"""Bytes per item-cache entry besides key bytes and item (measured ~190 on CPython 3.11, 64-bit)."""

QUERY_ENTRY_OVERHEAD = 800
"""Bytes per query-cache entry besides its response: a ``TLRUCache`` entry's slots in its four maps and
its heap node, the 16-byte key digest and its
tuple, the scope tuple and its slot in the scope index (measured ~770)."""


def bytes_size(data: bytes) -> int:
    return _getsizeof(data)


def deep_size(value: Any) -> int:
    """Approximate bytes held by a wire-form value and everything it references."""
    kind = type(value)
    if kind is dict:
        size = _getsizeof(value)
        for name, child in value.items():
            if len(name) > 1:
                size += _getsizeof(name)
            if type(child) is dict and len(child) == 1:  # an attribute value: {"S": "..."}, {"M": {...}}, ...
                for tag, inner in child.items():
                    size += _getsizeof(child) + (_getsizeof(tag) if len(tag) > 1 else 0)
                    size += _getsizeof(inner) if type(inner) is str else deep_size(inner)
            else:
                size += deep_size(child)
        return size
    if kind is list:
        return _getsizeof(value) + sum(deep_size(child) for child in value)
    if kind is str:
        return _getsizeof(value)
    if kind is bool or value is None:
        return 0  # singletons
    return int(_getsizeof(value))
