"""Attribute values in DynamoDB's wire form: validation, number normalisation and item size.

Items travel through every layer exactly as they arrive on the wire (``{"name": {"S": "x"}}``): the
server never converts them to Python values, so a cache hit serialises what was parsed once.
Binary values stay base64 text; they are decoded only where bytes matter (keys, size, comparison).
"""

from __future__ import annotations

import base64
import binascii
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from accelerator.core.errors import DynamoError, SerializationException, ValidationException

__all__ = [
    "Item",
    "AttributeValue",
    "MAX_ITEM_BYTES",
    "MAX_DEPTH",
    "TYPES",
    "normalize_number",
    "validate_value",
    "validate_item",
    "item_size",
    "value_size",
    "decode_binary",
    "value_type",
    "MAX_NAME_BYTES",
    "check_attribute_name",
    "check_nesting",
]

Item = dict[str, Any]
AttributeValue = dict[str, Any]

MAX_ITEM_BYTES = 400 * 1024
MAX_DEPTH = 32
MAX_NAME_BYTES = 65535
TYPES = frozenset(("S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS"))

_NUMBER_RE = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\Z", re.ASCII)  # \d: 0-9 only
_INVALID = "One or more parameter values were invalid: "
_NESTING = ("Nesting Levels have exceeded supported limits: Attributes in the item have nested levels beyond "
            "supported limit")


def normalize_number(text: Any) -> str:
    """Return DynamoDB's canonical text for a number, or raise ValidationException."""
    if not isinstance(text, str):
        raise SerializationException("NUMBER_VALUE cannot be converted to String")
    # The common case, an integer already in canonical form (ASCII digits, no leading zero, at most 38 of
    # them), is its own canonical text; everything else goes through Decimal.
    magnitude = text[1:] if text[:1] == "-" else text
    if 0 < len(magnitude) <= 38 and magnitude[0] != "0" and magnitude.isascii() and magnitude.isdigit():
        return text
    if not _NUMBER_RE.match(text):
        raise ValidationException(f"The parameter cannot be converted to a numeric value: {text}")
    try:
        sign, digits, exponent = Decimal(text).as_tuple()
    except InvalidOperation:
        raise ValidationException(f"The parameter cannot be converted to a numeric value: {text}") from None
    assert isinstance(exponent, int)
    start = 0
    while start < len(digits) and digits[start] == 0:
        start += 1
    if start == len(digits):
        return "0"
    end = len(digits)
    while digits[end - 1] == 0:
        end -= 1
        exponent += 1
    sig = digits[start:end]
    if len(sig) > 38:
        raise ValidationException("Attempting to store more than 38 significant digits in a Number")
    adjusted = exponent + len(sig) - 1
    if adjusted > 125:
        raise ValidationException(
            "Number overflow. Attempting to store a number with magnitude larger than supported range"
        )
    if adjusted < -130:
        raise ValidationException(
            "Number underflow. Attempting to store a number with magnitude smaller than supported range"
        )
    body = "".join(map(str, sig))
    if exponent >= 0:
        out = body + "0" * exponent
    elif -exponent < len(body):
        out = body[:exponent] + "." + body[exponent:]
    else:
        out = "0." + "0" * (-exponent - len(body)) + body
    return "-" + out if sign else out


def check_attribute_name(name: str) -> None:
    """Raise DynamoDB's error for an attribute name over 65535 UTF-8 bytes."""
    # Only a name of more than a quarter of the limit in characters can be over it in bytes.
    if len(name) > MAX_NAME_BYTES // 4 and len(name.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        raise ValidationException(
            f"1 validation error detected: Attribute name is too large, must be less than {MAX_NAME_BYTES + 1} bytes"
        )


def decode_binary(text: Any) -> bytes:
    """Decode a wire binary value (canonical, padded base64 text) or raise DynamoDB's SerializationException."""
    if isinstance(text, (bytes, bytearray)):
        return bytes(text)
    if not isinstance(text, str):
        raise _not_blob(text)
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise _bad_base64(text) from None
    # Padding leaves spare low bits in the last data character; DynamoDB wants them zero (canonical form).
    if text.endswith("==") and _B64_ALPHABET.index(text[-3]) & 0xF:
        raise _blob_error(text, _LAST_NON_PAD)
    if text.endswith("=") and not text.endswith("==") and _B64_ALPHABET.index(text[-2]) & 0x3:
        raise _blob_error(text, _LAST_NON_PAD)
    return data


_B64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_B64_BAD_CHAR = re.compile(r"[^A-Za-z0-9+/=]|=[^=]")
_LAST_NON_PAD = "Invalid last non-pad Base64 character dectected"  # sic: DynamoDB's spelling


def _blob_error(text: str, reason: str) -> SerializationException:
    return SerializationException(f"'{text}' can not be converted to a Blob: {reason}")


def _bad_base64(text: str) -> SerializationException:
    """DynamoDB's words for text that is not base64: length first, then the first bad character."""
    if len(text) % 4:
        return _blob_error(text, f"Base64 encoded length is expected a multiple of 4 bytes but found: {len(text)}")
    bad = _B64_BAD_CHAR.search(text)
    if bad is not None:
        return _blob_error(text, f"Invalid Base64 character: '{bad.group()[0]}'")
    return _blob_error(text, _LAST_NON_PAD)


def _not_blob(value: Any) -> DynamoError:
    """DynamoDB's error for a B member that is not a JSON string."""
    if value is None:  # a null member is an absent one: the value has no type
        return ValidationException("Supplied AttributeValue is empty, must contain exactly one of the supported datatypes")
    if isinstance(value, bool):
        return SerializationException("class java.lang.Boolean can not be converted to a Blob")
    if isinstance(value, (int, float)):
        return SerializationException(
            "class com.amazon.coral.value.json.numbers.TruncatingBigNumber can not be converted to a Blob")
    if isinstance(value, list):
        return SerializationException("Start of list found where not expected")
    return SerializationException("Start of structure or map found where not expected.")


def value_type(value: Any) -> str:
    """The single type tag of an attribute value, or raise ValidationException."""
    if not isinstance(value, dict) or not value:
        raise ValidationException(
            "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes"
        )
    if len(value) != 1:
        raise ValidationException(
            "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes"
        )
    (tag,) = value
    if tag not in TYPES:
        raise ValidationException(
            "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes"
        )
    return tag


def _check_set(tag: str, items: Any) -> None:
    if not isinstance(items, list):
        raise ValidationException(f"{tag} must be a list")
    if not items:
        kind = {"SS": "An string set ", "NS": "An number set "}.get(tag)
        if kind is None:
            raise ValidationException(_INVALID + "Binary sets should not be empty")
        raise ValidationException(_INVALID + kind + " may not be empty")


def validate_value(value: Any, depth: int = 1) -> None:
    """Validate one attribute value in place (numbers are rewritten to canonical text).

    A member of the wrong JSON type (``{"N": 5}``) is a SerializationException, as in DynamoDB: the body
    does not deserialize; everything else is a ValidationException.
    """
    if depth > MAX_DEPTH:
        raise ValidationException(_NESTING)
    tag = value_type(value)
    inner = value[tag]
    if tag == "S":
        if not isinstance(inner, str):
            raise SerializationException("STRING_VALUE cannot be converted to String")
    elif tag == "N":
        value["N"] = normalize_number(inner)
    elif tag == "B":
        decode_binary(inner)
    elif tag == "BOOL":
        if not isinstance(inner, bool):
            raise SerializationException("BOOLEAN_VALUE cannot be converted to Boolean")
    elif tag == "NULL":
        if inner is not True:
            raise ValidationException(_INVALID + "Null attribute value types must have the value of true")
    elif tag == "M":
        if not isinstance(inner, dict):
            raise SerializationException("MAP_VALUE cannot be converted to Map")
        for name, child in inner.items():
            check_attribute_name(name)
            validate_value(child, depth + 1)
    elif tag == "L":
        if not isinstance(inner, list):
            raise SerializationException("LIST_VALUE cannot be converted to List")
        for child in inner:
            validate_value(child, depth + 1)
    else:
        _check_set(tag, inner)
        if tag == "SS":
            if not all(isinstance(s, str) for s in inner):
                raise SerializationException("STRING_SET_VALUE cannot be converted to String")
            seen: Any = inner
        elif tag == "NS":
            seen = [normalize_number(n) for n in inner]
            inner[:] = seen
        else:
            if any(b is None for b in inner):
                raise ValidationException(_INVALID + "Binary sets may not contain null or empty values")
            seen = [decode_binary(b) for b in inner]
        if len(set(seen)) != len(seen):
            raise ValidationException(
                _INVALID + "Input collection " + _render_list(inner) + " contains duplicates."
            )


def check_nesting(item: Item) -> None:
    """Reject an item nested deeper than MAX_DEPTH: an update can build one from valid parts (``SET a.b = a``)."""
    stack = [(value, 1) for value in item.values()]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ValidationException(_NESTING)
        children = value.get("M")
        if children is not None:
            stack.extend((child, depth + 1) for child in children.values())
        elif (elements := value.get("L")) is not None:
            stack.extend((child, depth + 1) for child in elements)


def _render_list(items: list[Any]) -> str:
    return "[" + ", ".join(str(i) for i in items) + "]"


def validate_item(item: Any) -> int:
    """Validate every attribute of an item in place; return its DynamoDB size in bytes."""
    if not isinstance(item, dict):
        raise ValidationException("Item must be a map of attribute names to values")
    for name, value in item.items():
        if not name:
            raise ValidationException(_INVALID + "An AttributeName cannot be empty")
        check_attribute_name(name)
        validate_value(value)
    size = item_size(item)
    if size > MAX_ITEM_BYTES:
        raise ValidationException("Item size has exceeded the maximum allowed size")
    return size


def _number_size(text: str) -> int:
    digits = text.lstrip("-").replace(".", "").strip("0")
    return (len(digits) + 1) // 2 + 1


def value_size(value: AttributeValue) -> int:
    """Size in bytes of one attribute value, as DynamoDB counts it."""
    ((tag, inner),) = value.items()
    if tag == "S":
        return len(inner.encode())
    if tag == "N":
        return _number_size(inner)
    if tag == "B":
        return len(decode_binary(inner))
    if tag in ("BOOL", "NULL"):
        return 1
    if tag == "M":
        return 3 + sum(len(k.encode()) + value_size(v) + 1 for k, v in inner.items())
    if tag == "L":
        return 3 + sum(value_size(v) + 1 for v in inner)
    if tag == "SS":
        return sum(len(s.encode()) for s in inner)
    if tag == "NS":
        return sum(_number_size(n) for n in inner)
    return sum(len(decode_binary(b)) for b in inner)


def item_size(item: Item) -> int:
    """Size in bytes of an item: attribute names plus values."""
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())
