"""Storage backends, chosen by name; each module is imported only when its backend is chosen."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any

from accelerator.core.changelog import Logged
from accelerator.core.protocols import KEEP, KeyRef, Storage

__all__ = ["STORAGE_KINDS", "open_storage", "check_new_values", "split_logged"]

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
    """Reject an ``apply`` result that is not one bytes / None / KEEP / Logged per key (a bug in the caller)."""
    if len(new) != len(keys):
        raise ValueError(f"apply returned {len(new)} values for {len(keys)} keys")
    for value in new:
        if value is not None and value is not KEEP and type(value) is not bytes and type(value) is not Logged:
            raise TypeError(f"apply must return bytes, None, KEEP or Logged, not {type(value).__name__}")
    return new


def split_logged(keys: Sequence[KeyRef], new: Sequence[Any]) -> tuple[list[Any], list[tuple[str, bytes, bytes]]]:
    """The plain values of an ``apply`` result, and its log records as (table, pk, record) in key order."""
    values: list[Any] = []
    records: list[tuple[str, bytes, bytes]] = []
    for ref, value in zip(keys, new, strict=True):
        if type(value) is Logged:
            records.append((ref.table, ref.pk, value.record))
            value = value.value
        values.append(value)
    return values, records

