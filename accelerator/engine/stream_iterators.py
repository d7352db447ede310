"""Shard iterators: opaque, tamper-proof tokens naming a position in a shard.

A token is ``<base64url payload>.<base64url MAC>``; the payload is (table, stream label, shard start,
position, issued at ms) and the MAC a keyed BLAKE2s over it. The key is random, made once per backend and
kept in the meta table, so every accelerator process on the backend accepts the others' iterators. A token
that does not decode or whose MAC does not match is DynamoDB's ValidationException; one older than
``ITERATOR_SECONDS`` is ExpiredIteratorException.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

import orjson

from accelerator.core.errors import ExpiredIteratorException, ValidationException
from accelerator.core.protocols import KEEP, KeyRef, Storage

__all__ = ["Position", "IteratorCodec", "ITERATOR_SECONDS"]

ITERATOR_SECONDS = 15 * 60
_KEY_REF = KeyRef("!meta", b"streams:iterator-key", b"")


@dataclass(frozen=True, slots=True)
class Position:
    """Where a reader is: after sequence ``after`` in the shard starting at ``shard`` of a stream."""

    table: str
    label: str
    shard: int
    after: int
    issued_ms: int


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class IteratorCodec:
    """Signs and checks shard iterators with the backend's shared key."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self._key: bytes | None = None

    async def _secret(self) -> bytes:
        if self._key is None:
            fresh = secrets.token_bytes(32)

            def apply(olds: list[bytes | None]) -> list[Any]:
                return [KEEP if olds[0] is not None else fresh]

            (old,) = await self.storage.transact([_KEY_REF], apply)
            self._key = old if old is not None else fresh
        return self._key

    async def encode(self, position: Position) -> str:
        payload = orjson.dumps([position.table, position.label, position.shard, position.after, position.issued_ms])
        mac = hashlib.blake2s(payload, key=await self._secret(), digest_size=16).digest()
        return f"{_b64(payload)}.{_b64(mac)}"

    async def decode(self, token: str, now_ms: int) -> Position:
        """The position a token names; ValidationException if it is not one of ours, expired if too old."""
        try:
            head, _, tail = token.partition(".")
            payload, mac = _unb64(head), _unb64(tail)
        except (binascii.Error, ValueError):
            raise ValidationException("Invalid ShardIterator") from None
        expected = hashlib.blake2s(payload, key=await self._secret(), digest_size=16).digest()
        if not hmac.compare_digest(mac, expected):
            raise ValidationException("Invalid ShardIterator")
        table, label, shard, after, issued = orjson.loads(payload)
        if now_ms - issued > ITERATOR_SECONDS * 1000:
            raise ExpiredIteratorException(
                f"Iterator expired. The iterator was created at time {issued} while right now it is {now_ms} which "
                f"is further in the future than the tolerated delay of {ITERATOR_SECONDS * 1000} milliseconds.")
        return Position(table, label, int(shard), int(after), int(issued))
