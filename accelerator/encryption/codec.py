"""Sealing one stored value: AES-256-GCM bound to the item's address.

    sealed = VERSION (1 byte) | key id (4 bytes) | nonce (12 random bytes) | ciphertext + 16-byte tag

The associated data is the header and the address (table, pk, sk), length-prefixed, so a sealed value
copied to another item, another table or under another key id fails to open instead of reading as the
other item's value. Random 96-bit nonces keep one key safe for ~2^32 seals (NIST SP 800-38D); rotate
with ``accelerator rekey`` long before that.
"""

from __future__ import annotations

import os
import struct

from cryptography.exceptions import InvalidTag

from accelerator.encryption.keys import KeyRing

__all__ = ["VERSION", "HEADER", "OVERHEAD", "SealBroken", "seal", "unseal", "sealed_key_id"]

VERSION = 0x01
_ID = 4
_NONCE = 12
HEADER = 1 + _ID + _NONCE
OVERHEAD = HEADER + 16
_LENGTHS = struct.Struct(">III")


class SealBroken(Exception):
    """A stored value does not open: tampered with, moved, truncated, or sealed by a key not in the file."""


def _aad(header: bytes, table: str, pk: bytes, sk: bytes) -> bytes:
    name = table.encode()
    return header[:1 + _ID] + _LENGTHS.pack(len(name), len(pk), len(sk)) + name + pk + sk


def seal(ring: KeyRing, table: str, pk: bytes, sk: bytes, plain: bytes) -> bytes:
    """``plain`` sealed with the newest key for the address (table, pk, sk)."""
    ident = ring.newest
    header = bytes((VERSION,)) + ident + os.urandom(_NONCE)
    return header + ring.ciphers[ident].encrypt(header[1 + _ID:], plain, _aad(header, table, pk, sk))


def sealed_key_id(sealed: bytes) -> bytes | None:
    """The id of the key that sealed ``sealed``, or None when it is not a sealed value."""
    if len(sealed) < OVERHEAD or sealed[0] != VERSION:
        return None
    return sealed[1:1 + _ID]


def unseal(ring: KeyRing, table: str, pk: bytes, sk: bytes, sealed: bytes) -> bytes:
    """The plaintext of a value sealed for (table, pk, sk); ``SealBroken`` says why it does not open."""
    ident = sealed_key_id(sealed)
    if ident is None:
        raise SealBroken("not a sealed value (written without encryption, or damaged)")
    cipher = ring.ciphers.get(ident)
    if cipher is None:
        raise SealBroken(f"sealed with key {ident.hex()}, which is not in the key file")
    try:
        return cipher.decrypt(sealed[1 + _ID:HEADER], sealed[HEADER:], _aad(sealed, table, pk, sk))
    except InvalidTag:
        raise SealBroken("authentication failed (tampered with, or moved from another item)") from None
