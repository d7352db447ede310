"""The storage backends the end-to-end suite runs against, as server [backend] config sections.

Each entry returns the section for one server process; backends that need a shared service
(PostgreSQL, Redis) are added here with their own isolation (a schema / key prefix per run).
"""

from __future__ import annotations

import atexit
import os
import tempfile
from collections.abc import Callable
from typing import Any

from tests.backend_services import postgres_e2e_backend, redis_cluster_e2e_backend, redis_e2e_backend
from tests.moto_upstream import dynamodb_upstream_backend

__all__ = ["E2E_BACKENDS", "OPT_IN_BACKENDS", "SHARED_BACKENDS"]

E2E_BACKENDS: dict[str, Callable[[], dict[str, Any]]] = {
    "memory": lambda: {"kind": "memory"},
    "sqlite": lambda: {"kind": "sqlite"},
    "dynamodb-upstream": dynamodb_upstream_backend,  # the dynamodb backend over a moto server (one per session)
    "postgres": postgres_e2e_backend,  # a schema per call on the shared PostgreSQL
    "redis": redis_e2e_backend,  # a key prefix per call on the shared Redis
    "redis-cluster": redis_cluster_e2e_backend,  # a key prefix per call on a throwaway 3-node cluster
}



def _key_file() -> str:
    """A fresh encryption key file (removed at exit)."""
    from accelerator.encryption import generate_key

    fd, path = tempfile.mkstemp(prefix="accel-key-")  # mode 0600
    os.write(fd, (generate_key() + "\n").encode())
    os.close(fd)
    atexit.register(os.unlink, path)
    return path


# Run only when named in ACCEL_TEST_BACKENDS: the whole end-to-end suite again over encryption at rest.
OPT_IN_BACKENDS: dict[str, Callable[[], dict[str, Any]]] = {
    "sqlite-encrypted": lambda: {"kind": "sqlite", "encryption_key_file": _key_file()},
    "redis-encrypted": lambda: {**redis_e2e_backend(), "encryption_key_file": _key_file()},
}

# Backends on which several accelerator processes can share one store (multi-process tests).
SHARED_BACKENDS: list[str] = ["sqlite", "postgres", "redis", "redis-cluster"]
