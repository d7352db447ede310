"""Multi-attribute index keys, and the order-preserving byte form of a tuple of key values.

A global secondary index may key on up to four HASH and up to four RANGE attributes (DynamoDB, November
2025). Backends compare keys as bytes, so a tuple is stored as the concatenation of its elements, each in
the byte form of ``accelerator.core.keys`` (N numeric, S by UTF-8 bytes, B by bytes) and *escaped*:
``esc(e) = e.replace(00, 00 ff) + 00 01``. Why that sorts as DynamoDB sorts a multi-attribute sort key
(element by element, each with its own type order):

- if ``a < b`` as bytes then ``esc(a) + x < esc(b) + y`` for any tails ``x``, ``y``: the first difference
  lies inside the escaped bodies (escaping maps bytes one to one and keeps their order), or ``a`` is a
  proper prefix of ``b`` and ``a``'s terminator ``00 01`` meets either a non-zero byte of ``b`` or ``b``'s
  escaped zero ``00 ff``, both greater;
- equal leading elements give a common byte prefix, so "equality on the first k elements, then a range
  on the next one" is a single byte range (see :func:`tuple_range`).

A key of one HASH attribute keeps the plain element bytes as the partition (what single-attribute indexes
always stored); only a multi-attribute partition is a tuple.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from accelerator.core.keys import KeySchema, prefix_successor
from accelerator.core.protocols import Bound

__all__ = ["CompositeKey", "MAX_KEY_ATTRIBUTES", "escape", "encode_tuple", "tuple_range"]

MAX_KEY_ATTRIBUTES = 4
"""At most this many HASH, and this many RANGE, attributes in a global secondary index's key."""


def escape(data: bytes) -> bytes:
    """Self-delimiting, order-preserving form of one element of a tuple."""
    return data.replace(b"\x00", b"\x00\xff") + b"\x00\x01"


def encode_tuple(parts: Sequence[bytes]) -> bytes:
    """Bytes of a tuple of encoded key values, ordered element by element."""
    return b"".join(escape(p) for p in parts)


def tuple_range(prefix: bytes, lower: bytes | None, lower_inclusive: bool, upper: bytes | None,
                upper_inclusive: bool) -> tuple[Bound | None, Bound | None]:
    """Byte bounds of every tuple that starts with the escaped ``prefix`` and whose next element lies
    between ``lower`` and ``upper`` (encoded values; None: unbounded on that side)."""
    if lower is None:
        lo = Bound(prefix, True) if prefix else None
    else:
        esc = prefix + escape(lower)
        lo = Bound(esc, True) if lower_inclusive else Bound(_after(esc), True)
    if upper is None:
        end = prefix_successor(prefix) if prefix else None
        hi = Bound(end, False) if end is not None else None
    else:
        esc = prefix + escape(upper)
        hi = Bound(_after(esc), False) if upper_inclusive else Bound(esc, False)
    return lo, hi


def _after(escaped: bytes) -> bytes:
    # An escaped element ends in 00 01, so its successor is that tuple with the last byte raised: every
    # tuple continuing it sorts below (they continue with 00 01 ... or a terminator at most 00 01).
    return escaped[:-1] + b"\x02"


@dataclass(frozen=True, slots=True)
class CompositeKey:
    """An index key: one to four HASH attributes, then zero to four RANGE attributes, each (name, type)."""

    hashes: tuple[tuple[str, str], ...]
    ranges: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, schema: KeySchema) -> CompositeKey:
        """The single-attribute form of a table's key schema."""
        ranges = () if schema.range_name is None else ((schema.range_name, str(schema.range_type)),)
        return cls(((schema.hash_name, schema.hash_type),), ranges)

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> CompositeKey:
        """From an index's stored form: ``hashes``/``ranges``, or the older ``key`` four-tuple."""
        if "hashes" in spec:
            return cls(tuple((n, t) for n, t in spec["hashes"]), tuple((n, t) for n, t in spec["ranges"]))
        hash_name, hash_type, range_name, range_type = spec["key"]
        return cls(((hash_name, hash_type),), () if range_name is None else ((range_name, range_type),))

    def to_spec(self) -> dict[str, Any]:
        """The stored form; a single-attribute key also keeps the older ``key`` member older code reads."""
        if self.multi:
            return {"hashes": [list(h) for h in self.hashes], "ranges": [list(r) for r in self.ranges]}
        (hash_name, hash_type), = self.hashes
        range_name, range_type = self.ranges[0] if self.ranges else (None, None)
        return {"key": [hash_name, hash_type, range_name, range_type]}

    @property
    def multi(self) -> bool:
        """Whether the key has more than one HASH or more than one RANGE attribute."""
        return len(self.hashes) > 1 or len(self.ranges) > 1

    @property
    def hash_names(self) -> tuple[str, ...]:
        return tuple(n for n, _ in self.hashes)

    @property
    def range_names(self) -> tuple[str, ...]:
        return tuple(n for n, _ in self.ranges)

    @property
    def names(self) -> tuple[str, ...]:
        return self.hash_names + self.range_names

    def single(self) -> KeySchema:
        """The KeySchema of a key with one HASH and at most one RANGE attribute."""
        assert not self.multi
        (hash_name, hash_type), = self.hashes
        if not self.ranges:
            return KeySchema(hash_name, hash_type)
        (range_name, range_type), = self.ranges
        return KeySchema(hash_name, hash_type, range_name, range_type)

    def partition(self, parts: Sequence[bytes]) -> bytes:
        """Partition bytes of the encoded HASH values, in KeySchema order."""
        return parts[0] if len(self.hashes) == 1 else encode_tuple(parts)

    def key_schema(self) -> list[dict[str, str]]:
        """The KeySchema DynamoDB describes: HASH elements, then RANGE elements, in declared order."""
        return ([{"AttributeName": n, "KeyType": "HASH"} for n in self.hash_names]
                + [{"AttributeName": n, "KeyType": "RANGE"} for n in self.range_names])
