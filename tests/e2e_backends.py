"""The storage backends the end-to-end suite runs against, as server [backend] config sections.

Each entry returns the section for one server process; backends that need a shared service
(PostgreSQL, Redis) are added here with their own isolation (a schema / key prefix per run).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.moto_upstream import dynamodb_upstream_backend

__all__ = ["E2E_BACKENDS", "SHARED_BACKENDS"]

E2E_BACKENDS: dict[str, Callable[[], dict[str, Any]]] = {
    "memory": lambda: {"kind": "memory"},
    "sqlite": lambda: {"kind": "sqlite"},
    "dynamodb-upstream": dynamodb_upstream_backend,  # the dynamodb backend over a moto server (one per session)
}

# Backends on which several accelerator processes can share one store (multi-process tests).
SHARED_BACKENDS: list[str] = ["sqlite"]
