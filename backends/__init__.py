"""Storage backends, chosen by name; each module is imported only when its backend is chosen."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any

from accelerator.core.protocols import KEEP, KeyRef, Storage

__all__ = ["STORAGE_KINDS", "open_storage", "check_new_values"]

# name -> (module, class). Lazy on purpose: asyncpg and redis are imported only by the backend that uses them.
_REGISTRY: dict[str, tuple[str, str]] = {
    "memory": ("backends.memory", "MemoryStorage"),
    "sqlite": ("backends.sqlite", "SqliteStorage"),
    "postgres": ("backends.postgres", "PostgresStorage"),
    "redis": ("backends.redis", "RedisStorage"),
    "redis-cluster": ("backends.redis", "RedisClusterStorage"),
}

STORAGE_KINDS: tuple[str, ...] = tuple(_REGISTRY)


def open_storage(kind: str, **options: Any) -> Storage:
    """Construct the storage backend named ``kind`` with ``options``; the caller awaits ``open()``."""
    try:
        module_name, class_name = _REGISTRY[kind]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise ValueError(f"unknown storage backend {kind!r} (known: {known})") from None
    cls = getattr(importlib.import_module(module_name), class_name)
    storage: Storage = cls(**options)
    return storage


def check_new_values(keys: Sequence[KeyRef], new: Sequence[Any]) -> Sequence[Any]:
    """Reject an ``apply`` result that is not one bytes / None / KEEP per key (a bug in the caller)."""
    if len(new) != len(keys):
        raise ValueError(f"apply returned {len(new)} values for {len(keys)} keys")
    for value in new:
        if value is not None and value is not KEEP and type(value) is not bytes:
            raise TypeError(f"apply must return bytes, None or KEEP, not {type(value).__name__}")
    return new

