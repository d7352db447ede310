"""Key schemas and the order-preserving byte encoding of key values.

Every backend stores a partition key and a sort key as two byte strings and compares them as bytes
(memcmp), so the encoding must sort exactly as DynamoDB sorts:

- S: the UTF-8 bytes (DynamoDB orders strings by UTF-8 bytes);
- B: the raw bytes;
- N: a sign byte, then the decimal exponent, then one byte per significant digit, complemented for
  negatives (so -10 < -2 < -0.5 < 0 < 0.5 < 2 < 10), exact for DynamoDB's 38 digits.

A table without a sort key stores the empty byte string as its sort key.
Scans walk partitions in the order of ``partition_hash(pk)`` (then pk, then sk), which is how a
segmented scan splits the key space into disjoint ranges.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from accelerator.core.errors import ValidationException
from accelerator.core.values import decode_binary, normalize_number

__all__ = [
    "KeySchema",
    "schema_from_description",
    "encode_number",
    "decode_number",
    "encode_key_value",
    "decode_key_value",
    "partition_hash",
    "segment_bounds",
    "prefix_successor",
    "HASH_SPACE",
]

HASH_SPACE = 1 << 32
_MAX_PK = 2048
_MAX_SK = 1024
_INVALID = "One or more parameter values were invalid: "


def encode_number(text: str) -> bytes:
    """Order-preserving bytes for a canonical DynamoDB number."""
    sign, digits, exponent = Decimal(text).as_tuple()
    assert isinstance(exponent, int)
    if not any(digits):
        return b"\x02"
    start = 0
    while digits[start] == 0:
        start += 1
    end = len(digits)
    while digits[end - 1] == 0:
        end -= 1
        exponent += 1
    sig = digits[start:end]
    adjusted = exponent + len(sig) - 1 + 130  # 0..255 across DynamoDB's range
    if not 0 <= adjusted <= 255:
        raise ValidationException("Number out of range for a key")
    if sign:
        return bytes([0x01, 255 - adjusted, *(254 - d for d in sig), 0xFF])
    return bytes([0x03, adjusted, *(d + 1 for d in sig)])


def decode_number(data: bytes) -> str:
    """Inverse of :func:`encode_number`, giving canonical number text."""
    if data[0] == 0x02:
        return "0"
    negative = data[0] == 0x01
    if negative:
        adjusted = 255 - data[1] - 130
        digits = [254 - b for b in data[2:-1]]
    else:
        adjusted = data[1] - 130
        digits = [b - 1 for b in data[2:]]
    body = "".join(map(str, digits))
    text = normalize_number(f"{'-' if negative else ''}{body[0]}.{body[1:] or '0'}E{adjusted}")
    return text


def encode_key_value(key_type: str, value: Any) -> bytes:
    """Bytes for one key attribute's wire value (already type-checked)."""
    if key_type == "S":
        return str(value).encode()
    if key_type == "N":
        return encode_number(value)
    return decode_binary(value)


def decode_key_value(key_type: str, data: bytes) -> dict[str, str]:
    """Wire value for stored key bytes."""
    import base64

    if key_type == "S":
        return {"S": data.decode()}
    if key_type == "N":
        return {"N": decode_number(data)}
    return {"B": base64.b64encode(data).decode()}


def partition_hash(pk: bytes) -> int:
    """A stable 32-bit hash of an encoded partition key; scans go in this order."""
    return zlib.crc32(pk)


def segment_bounds(segment: int, total: int) -> tuple[int, int]:
    """Half-open range [lo, hi) of partition hashes that one scan segment covers."""
    return (segment * HASH_SPACE + total - 1) // total, ((segment + 1) * HASH_SPACE + total - 1) // total


def prefix_successor(prefix: bytes) -> bytes | None:
    """The smallest byte string greater than every string starting with ``prefix`` (None: no bound)."""
    trimmed = prefix.rstrip(b"\xff")
    if not trimmed:
        return None
    return trimmed[:-1] + bytes([trimmed[-1] + 1])


@dataclass(frozen=True, slots=True)
class KeySchema:
    """A table's (or index's) key: partition key name/type and optional sort key name/type."""

    hash_name: str
    hash_type: str
    range_name: str | None = None
    range_type: str | None = None
    names: tuple[str, ...] = field(init=False, repr=False, compare=False)
    """The key attribute names, hash first (worked out once: every keyed request reads it)."""
    name_set: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        names = (self.hash_name,) if self.range_name is None else (self.hash_name, self.range_name)
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "name_set", frozenset(names))

    def _part(self, name: str, key_type: str, value: Any, is_hash: bool) -> bytes:
        if not isinstance(value, dict) or len(value) != 1:
            raise ValidationException("The provided key element does not match the schema")
        (tag,) = value
        if tag != key_type:
            raise ValidationException(
                f"{_INVALID}Type mismatch for key {name} expected: {key_type} actual: {tag}"
            )
        raw = value[tag]
        if tag == "N":
            raw = value["N"] = normalize_number(raw)
        elif not isinstance(raw, str):
            raise ValidationException("The provided key element does not match the schema")
        encoded = encode_key_value(key_type, raw)
        if not encoded:
            kind = "string" if key_type == "S" else "binary"
            raise ValidationException(
                "One or more parameter values are not valid. The AttributeValue for a key attribute "
                f"cannot contain an empty {kind} value. Key: {name}"
            )
        if is_hash and len(encoded) > _MAX_PK:
            raise ValidationException(
                f"{_INVALID}Size of hashkey has exceeded the maximum size limit of2048 bytes"
            )
        if not is_hash and len(encoded) > _MAX_SK:
            raise ValidationException(
                f"{_INVALID}Aggregated size of all range keys has exceeded the size limit of 1024 bytes"
            )
        return encoded

    def encode_hash(self, value: Any) -> bytes:
        """Encoded partition key from its wire value, checked against the schema."""
        return self._part(self.hash_name, self.hash_type, value, True)

    def encode_range(self, value: Any) -> bytes:
        """Encoded sort key from its wire value, checked against the schema."""
        assert self.range_name is not None and self.range_type is not None
        return self._part(self.range_name, self.range_type, value, False)

    def key_of_item(self, item: dict[str, Any]) -> tuple[bytes, bytes]:
        """Encoded (pk, sk) of a full item, checking presence and types of the key attributes."""
        value = item.get(self.hash_name)
        if value is None:
            raise ValidationException(f"{_INVALID}Missing the key {self.hash_name} in the item")
        pk = self._part(self.hash_name, self.hash_type, value, True)
        if self.range_name is None:
            return pk, b""
        value = item.get(self.range_name)
        if value is None:
            raise ValidationException(f"{_INVALID}Missing the key {self.range_name} in the item")
        assert self.range_type is not None
        return pk, self._part(self.range_name, self.range_type, value, False)

    def key_of_request(self, key: Any) -> tuple[bytes, bytes]:
        """Encoded (pk, sk) of a request's Key map, which must hold exactly the key attributes."""
        if not isinstance(key, dict) or key.keys() != self.name_set:
            raise ValidationException("The provided key element does not match the schema")
        return self.key_of_item(key)

    def key_item(self, item: dict[str, Any]) -> dict[str, Any]:
        """The key attributes of an item, as a wire Key map."""
        return {name: item[name] for name in self.names}

    def decode(self, pk: bytes, sk: bytes) -> dict[str, Any]:
        """Wire Key map for encoded key bytes."""
        key = {self.hash_name: decode_key_value(self.hash_type, pk)}
        if self.range_name is not None:
            assert self.range_type is not None
            key[self.range_name] = decode_key_value(self.range_type, sk)
        return key


def schema_from_description(table: dict[str, Any]) -> KeySchema:
    """The table's primary key schema from a DescribeTable ``Table`` member."""
    types = {d["AttributeName"]: d["AttributeType"] for d in table["AttributeDefinitions"]}
    hash_name = next(e["AttributeName"] for e in table["KeySchema"] if e["KeyType"] == "HASH")
    range_name = next((e["AttributeName"] for e in table["KeySchema"] if e["KeyType"] == "RANGE"), None)
    return KeySchema(hash_name, types[hash_name], range_name, types[range_name] if range_name else None)
