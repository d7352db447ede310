"""DynamoDB's comparison rules on wire-form attribute values.

- Values of different types are never equal and never ordered.
- N compares numerically (Decimal). Equality compares canonical text, which the core guarantees for every
  number that reaches here (items are validated on write, request values in ``ExpressionContext``).
- S compares by code point, which is the same order as UTF-8 bytes, DynamoDB's order.
- B compares the decoded bytes, unsigned.
- Sets are equal regardless of element order; lists element-wise; maps key-wise.
"""

from __future__ import annotations

import base64
from decimal import Decimal
from typing import Any

__all__ = [
    "ORDERABLE",
    "tag_of",
    "equal",
    "sort_key",
    "size_of",
    "contains",
    "begins_with",
    "b64_bytes",
]

AV = dict[str, Any]
ORDERABLE = frozenset(("S", "N", "B"))


def tag_of(value: AV) -> str:
    """The type tag of a wire value (its only key)."""
    for tag in value:
        return tag
    return ""


def b64_bytes(text: Any) -> bytes:
    """Bytes of a wire binary value (already validated base64 text, or bytes)."""
    if isinstance(text, (bytes, bytearray)):
        return bytes(text)
    return base64.b64decode(text)


def equal(a: AV, b: AV) -> bool:
    """DynamoDB equality of two wire values."""
    if a is b:
        return True
    ta = tag_of(a)
    if ta not in b:
        return False
    x, y = a[ta], b[ta]
    if ta in ("S", "N", "BOOL", "NULL"):
        return bool(x == y)
    if ta == "B":
        return x == y or b64_bytes(x) == b64_bytes(y)
    if ta in ("SS", "NS"):
        return len(x) == len(y) and set(x) == set(y)
    if ta == "BS":
        return len(x) == len(y) and {b64_bytes(e) for e in x} == {b64_bytes(e) for e in y}
    if ta == "L":
        return len(x) == len(y) and all(equal(p, q) for p, q in zip(x, y, strict=True))
    if ta == "M":
        return len(x) == len(y) and all(k in y and equal(v, y[k]) for k, v in x.items())
    return False


def sort_key(value: AV) -> tuple[str, Any] | None:
    """(type, comparable) for an orderable value (N, S, B), else None."""
    if "S" in value:
        return "S", value["S"]
    if "N" in value:
        return "N", Decimal(value["N"])
    if "B" in value:
        return "B", b64_bytes(value["B"])
    return None


def _utf16_units(text: str) -> int:
    # DynamoDB's size() counts UTF-16 code units: characters beyond the BMP count twice.
    if text.isascii():
        return len(text)
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def _b64_length(text: Any) -> int:
    if isinstance(text, (bytes, bytearray)):
        return len(text)
    return len(text) * 3 // 4 - text[-2:].count("=")


def size_of(value: AV) -> int | None:
    """DynamoDB's size(): string length, binary bytes, element count of sets, lists and maps; else None."""
    tag = tag_of(value)
    inner = value[tag]
    if tag == "S":
        return _utf16_units(inner)
    if tag == "B":
        return _b64_length(inner)
    if tag in ("SS", "NS", "BS", "L", "M"):
        return len(inner)
    return None


def contains(haystack: AV, needle: AV) -> bool:
    """contains(): substring of S, byte subsequence of B, member of a set of the needle's type, element of L."""
    if "S" in haystack:
        return "S" in needle and needle["S"] in haystack["S"]
    if "SS" in haystack:
        return "S" in needle and needle["S"] in haystack["SS"]
    if "NS" in haystack:
        return "N" in needle and needle["N"] in haystack["NS"]
    if "L" in haystack:
        return any(equal(element, needle) for element in haystack["L"])
    if "B" in haystack:
        return "B" in needle and b64_bytes(needle["B"]) in b64_bytes(haystack["B"])
    if "BS" in haystack:
        if "B" not in needle:
            return False
        target = b64_bytes(needle["B"])
        return any(b64_bytes(element) == target for element in haystack["BS"])
    return False


def begins_with(value: AV, prefix: AV) -> bool:
    """begins_with(): a string prefix of S or a byte prefix of B, same type on both sides."""
    if "S" in value:
        return "S" in prefix and value["S"].startswith(prefix["S"])
    if "B" in value:
        return "B" in prefix and b64_bytes(value["B"]).startswith(b64_bytes(prefix["B"]))
    return False
