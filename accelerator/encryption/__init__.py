"""Encryption at rest: values sealed with AES-256-GCM between the engine and the storage backend.

    keys     the key file (newest key first), key ids, ``accelerator keygen``
    codec    the sealed format and its associated data (the item's address)
    storage  EncryptedStorage (the codec as a ``Storage``), the canary, PlainStorage
    rekey    ``accelerator rekey``: everything re-sealed with the newest key
"""

from accelerator.encryption.keys import EncryptionError, KeyRing, generate_key, load_key_file
from accelerator.encryption.rekey import RekeyReport, rekey
from accelerator.encryption.storage import ENCRYPTION_TABLE, EncryptedStorage, PlainStorage

__all__ = ["ENCRYPTION_TABLE", "EncryptedStorage", "EncryptionError", "KeyRing", "PlainStorage", "RekeyReport",
           "generate_key", "load_key_file", "rekey"]
