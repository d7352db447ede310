"""The one list of storage backends the contract suite runs against.

To add a backend, write an async context manager ``factory(tmp_path)`` that yields an OPENED, EMPTY
``Storage`` (a fresh schema, key prefix or database per call) and removes what it made on exit, then add
it to ``BACKENDS``. A backend whose server is not reachable should ``pytest.skip(...)`` inside its factory,
so the suite still runs where only some services exist.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import pytest

from accelerator.core.protocols import Storage
from accelerator.encryption import EncryptedStorage, KeyRing
from backends.memory import MemoryStorage
from backends.sqlite import SqliteStorage
from tests.backend_services import postgres_storage, redis_cluster_storage, redis_storage

__all__ = ["BACKENDS", "StorageFactory", "storage_test"]

StorageFactory = Callable[[Path], AbstractAsyncContextManager[Storage]]


@asynccontextmanager
async def _opened(storage: Storage) -> AsyncIterator[Storage]:
    await storage.open()
    try:
        yield storage
    finally:
        await storage.close()


def memory_storage(tmp_path: Path) -> AbstractAsyncContextManager[Storage]:
    return _opened(MemoryStorage())


def sqlite_storage(tmp_path: Path) -> AbstractAsyncContextManager[Storage]:
    return _opened(SqliteStorage(tmp_path / "storage.db"))


def encrypted_sqlite_storage(tmp_path: Path) -> AbstractAsyncContextManager[Storage]:
    """SQLite under the encryption codec: sealing must keep every contract point."""
    ring = KeyRing((bytes(range(32)),))
    return _opened(EncryptedStorage(SqliteStorage(tmp_path / "storage.db"), ring))


# name -> factory.
BACKENDS: dict[str, StorageFactory] = {
    "memory": memory_storage,
    "sqlite": sqlite_storage,
    "sqlite-encrypted": encrypted_sqlite_storage,
    "postgres": postgres_storage,
    "redis": redis_storage,
    "redis-cluster": redis_cluster_storage,
}

StorageBody = Callable[[Storage], Awaitable[None]]


def storage_test(body: StorageBody) -> Callable[[str, Path], None]:
    """Turn ``async def test_x(storage)`` into a pytest test run once per backend (fixture ``backend``)."""

    def test(backend: str, tmp_path: Path) -> None:
        async def main() -> None:
            async with BACKENDS[backend](tmp_path) as storage:
                await body(storage)

        asyncio.run(main())

    test.__name__ = body.__name__
    test.__qualname__ = body.__qualname__
    test.__doc__ = body.__doc__
    test.__module__ = body.__module__
    return test


@pytest.fixture(params=list(BACKENDS))
def backend(request: pytest.FixtureRequest) -> str:
    """The name of the backend under test; a module using ``storage_test`` imports this fixture."""
    name: str = request.param
    return name
