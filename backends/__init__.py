"""Storage backends, chosen by name; each module is imported only when its backend is chosen."""

from __future__ import annotations

import importlib
import inspect
import typing
from collections.abc import Sequence
from typing import Any

from accelerator.core.changelog import Logged
from accelerator.core.protocols import KEEP, KeyRef, Storage

__all__ = ["STORAGE_KINDS", "open_storage", "options_of", "check_new_values", "split_logged"]

# name -> (module, class). Lazy on purpose: asyncpg and redis are imported only by the backend that uses them.
_REGISTRY: dict[str, tuple[str, str]] = {
    "memory": ("backends.memory", "MemoryStorage"),
    "sqlite": ("backends.sqlite", "SqliteStorage"),
    "postgres": ("backends.postgres", "PostgresStorage"),
    "redis": ("backends.redis", "RedisStorage"),
    "redis-cluster": ("backends.redis", "RedisClusterStorage"),
}

STORAGE_KINDS: tuple[str, ...] = tuple(_REGISTRY)
_UPSTREAM = ("backends.dynamodb", "DynamoDBStore")


def options_of(kind: str) -> tuple[dict[str, Any], set[str]]:
    """The keyword options backend ``kind``'s constructor takes (name -> annotation) and those it needs, read
    from its signature so a config can be checked before anything is opened."""
    module_name, class_name = _UPSTREAM if kind == "dynamodb" else _REGISTRY[kind]
    cls = getattr(importlib.import_module(module_name), class_name)
    hints: dict[str, Any] = {}
    required: set[str] = set()
    for klass in cls.__mro__:  # a constructor taking **options passes them on to its base's
        init = vars(klass).get("__init__")
        if init is None:
            continue
        try:
            annotations = typing.get_type_hints(init)
        except Exception:  # noqa: BLE001 - an annotation that does not resolve here: check names only
            annotations = {}
        params = [p for p in list(inspect.signature(init).parameters.values())[1:]
                  if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]
        for p in params:
            hints.setdefault(p.name, annotations.get(p.name, Any))
        if klass is cls:
            required = {p.name for p in params if p.default is p.empty}
        if not any(p.kind is p.VAR_KEYWORD for p in inspect.signature(init).parameters.values()):
            break
    return hints, required


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

