"""The key file: AES-256 keys, one base64 line each, newest first; the first seals, every one opens.

A key's id is the first 4 bytes of SHA-256 over a label and the key: stored beside each sealed value, it
names the key that opens it without revealing anything usable about the key itself.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = ["KEY_BYTES", "EncryptionError", "KeyRing", "generate_key", "key_id", "load_key_file"]

log = logging.getLogger("accelerator.encryption")

KEY_BYTES = 32  # AES-256
_ID_LABEL = b"accelerator key id v1\x00"


class EncryptionError(Exception):
    """A configuration or store state that stops encryption at rest from working (said in one line)."""


def key_id(key: bytes) -> bytes:
    """The 4-byte id stored beside every value this key seals."""
    return hashlib.sha256(_ID_LABEL + key).digest()[:4]


def generate_key() -> str:
    """A fresh random key as one key-file line."""
    return base64.b64encode(os.urandom(KEY_BYTES)).decode()


@dataclass(frozen=True)
class KeyRing:
    """The keys of one key file: ``keys[0]`` seals, any of them opens a value sealed under its id."""

    keys: tuple[bytes, ...]
    source: str = "<keys>"
    ciphers: dict[bytes, AESGCM] = field(init=False, repr=False, compare=False)
    newest: bytes = field(init=False, repr=False, compare=False)  # the id of the key that seals

    def __post_init__(self) -> None:
        if not self.keys:
            raise EncryptionError(f"encryption key file {self.source} holds no key")
        ciphers: dict[bytes, AESGCM] = {}
        for key in self.keys:
            if len(key) != KEY_BYTES:
                raise EncryptionError(f"encryption key file {self.source}: a key must be {KEY_BYTES} bytes, "
                                      f"not {len(key)}")
            ident = key_id(key)
            if ident in ciphers:
                raise EncryptionError(f"encryption key file {self.source}: key {ident.hex()} appears twice")
            ciphers[ident] = AESGCM(key)
        object.__setattr__(self, "ciphers", ciphers)
        object.__setattr__(self, "newest", key_id(self.keys[0]))

    def ids(self) -> list[str]:
        return [key_id(k).hex() for k in self.keys]


def load_key_file(path: str | Path) -> KeyRing:
    """Read a key file; every problem is an ``EncryptionError`` with a one-line message."""
    try:
        text = Path(path).read_text(encoding="ascii")
    except FileNotFoundError:
        raise EncryptionError(f"encryption key file {path} does not exist (make one: accelerator keygen > FILE)") \
            from None
    except (OSError, UnicodeDecodeError) as exc:
        raise EncryptionError(f"encryption key file {path} cannot be read: {exc}") from None
    keys: list[bytes] = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            keys.append(base64.b64decode(line, validate=True))
        except (binascii.Error, ValueError):
            raise EncryptionError(f"encryption key file {path}, line {number}: not base64") from None
        if len(keys[-1]) != KEY_BYTES:
            raise EncryptionError(f"encryption key file {path}, line {number}: a key must be {KEY_BYTES} bytes "
                                  f"(44 base64 characters), not {len(keys[-1])}")
    ring = KeyRing(tuple(keys), str(path))
    mode = stat.S_IMODE(os.stat(path).st_mode)
    if mode & 0o077:
        log.warning("encryption key file %s can be read by other users (mode %o): chmod 600 it", path, mode)
    return ring
