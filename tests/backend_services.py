"""Storage factories for the server-backed backends (PostgreSQL, Redis, Redis Cluster) used by the tests.

The PostgreSQL and Redis servers are shared with other test runs and CI jobs, so every factory call
makes its own schema / key prefix (random suffix) and removes it afterwards; nothing here ever stops
or reconfigures those servers. Where a server is unreachable the test is skipped, except under
``CI=true``, where it fails: CI must not go green by skipping a backend.

Environment: ``ACCEL_PG_DSN`` (default ``postgresql://postgres@127.0.0.1:5432/test``), ``ACCEL_REDIS_URL``
(default ``redis://127.0.0.1:6379/0``).
"""

from __future__ import annotations

import asyncio
import atexit
import os
import secrets
import socket
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

import pytest

from accelerator.core.errors import BackendUnavailable
from accelerator.core.protocols import Storage

__all__ = [
    "IN_CI",
    "pg_dsn",
    "redis_url",
    "unique_name",
    "unavailable",
    "postgres_storage",
    "redis_storage",
    "redis_cluster_storage",
    "open_postgres",
    "open_redis",
    "postgres_e2e_backend",
    "redis_e2e_backend",
    "redis_cluster_e2e_backend",
]

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def pg_dsn() -> str:
    return os.environ.get("ACCEL_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")


def redis_url() -> str:
    return os.environ.get("ACCEL_REDIS_URL", "redis://127.0.0.1:6379/0")


def unique_name(prefix: str) -> str:
    """A name no concurrent run uses: ``prefix`` plus pid and random hex."""
    return f"{prefix}_{os.getpid()}_{secrets.token_hex(4)}"


def unavailable(reason: str) -> NoReturn:
    """Skip the test (fail it under CI) because a service it needs is missing."""
    if IN_CI:
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason)


@asynccontextmanager
async def open_postgres(**options: Any) -> AsyncIterator[Any]:
    """An opened PostgresStorage in a fresh schema (dropped on exit)."""
    from backends.postgres import PostgresStorage

    name = unique_name("accel_test")
    options.setdefault("schema", name)
    options.setdefault("application_name", name)
    options.setdefault("pool_size", 4)
    options.setdefault("connect_timeout", 2.0)
    storage = PostgresStorage(options.pop("dsn", pg_dsn()), **options)
    try:
        await storage.open()
    except BackendUnavailable as exc:
        unavailable(f"PostgreSQL unreachable at {pg_dsn()}: {exc}")
    try:
        yield storage
    finally:
        try:
            await storage.drop()
        finally:
            await storage.close()


@asynccontextmanager
async def open_redis(**options: Any) -> AsyncIterator[Any]:
    """An opened RedisStorage (standalone, or a cluster given ``cluster_nodes``) under a fresh prefix."""
    from backends.redis import RedisStorage

    options.setdefault("prefix", unique_name("accel-test"))
    if "cluster_nodes" not in options:
        options.setdefault("url", redis_url())
    storage = RedisStorage(**options)
    try:
        await storage.open()
    except BackendUnavailable as exc:
        where = options.get("cluster_nodes") or options.get("url")
        unavailable(f"Redis unreachable at {where}: {exc}")
    try:
        yield storage
    finally:
        try:
            await storage.drop()
        finally:
            await storage.close()


def postgres_storage(tmp_path: Path) -> AbstractAsyncContextManager[Storage]:
    return open_postgres()


def redis_storage(tmp_path: Path) -> AbstractAsyncContextManager[Storage]:
    return open_redis()


def redis_cluster_storage(tmp_path: Path) -> AbstractAsyncContextManager[Storage]:
    from tests.redis_cluster import shared_cluster

    return open_redis(cluster_nodes=shared_cluster().nodes)


# ----- end-to-end: [backend] config sections for accelerator server processes (tests/e2e_backends.py)

_made: list[tuple[str, dict[str, Any]]] = []  # (kind, options) to drop at interpreter exit


def _drop_made() -> None:
    from backends import open_storage

    async def drop(kind: str, options: dict[str, Any]) -> None:
        storage = open_storage(kind, **options)
        try:
            await storage.open()
            await storage.drop()  # type: ignore[attr-defined]
        except BackendUnavailable:
            pass  # the service went away: nothing left to clean from here
        finally:
            await storage.close()

    while _made:
        kind, options = _made.pop()
        asyncio.run(drop(kind, options))


def _remember(kind: str, options: dict[str, Any]) -> dict[str, Any]:
    if not _made:
        atexit.register(_drop_made)
    _made.append((kind, options))
    return {"kind": kind, **options}


def _reachable(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=2).close()
    except OSError:
        return False
    return True


def postgres_e2e_backend() -> dict[str, Any]:
    """A fresh schema on the shared PostgreSQL (dropped at exit); servers started with it share it."""
    url = urlsplit(pg_dsn())
    if not _reachable(url.hostname or "127.0.0.1", url.port or 5432):
        unavailable(f"PostgreSQL unreachable at {pg_dsn()}")
    name = unique_name("accel_e2e")
    return _remember("postgres", {"dsn": pg_dsn(), "schema": name, "application_name": name, "pool_size": 8})


def redis_e2e_backend() -> dict[str, Any]:
    """A fresh key prefix on the shared Redis (its keys deleted at exit)."""
    url = urlsplit(redis_url())
    if not _reachable(url.hostname or "127.0.0.1", url.port or 6379):
        unavailable(f"Redis unreachable at {redis_url()}")
    return _remember("redis", {"url": redis_url(), "prefix": unique_name("accel-e2e")})


def redis_cluster_e2e_backend() -> dict[str, Any]:
    """A fresh key prefix on this test process's throwaway cluster (killed at exit)."""
    from tests.redis_cluster import shared_cluster

    return {"kind": "redis-cluster", "cluster_nodes": shared_cluster().nodes, "prefix": unique_name("accel-e2e")}
