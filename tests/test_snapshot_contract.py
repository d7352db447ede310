"""Consistent table views (``accelerator.engine.snapshot.open_view``) on every storage backend."""

from __future__ import annotations

from typing import Any

from accelerator.core.keys import KeySchema
from accelerator.core.protocols import KeyRef, Storage
from accelerator.core.tables import TableDef
from accelerator.engine.snapshot import open_view, pages
from tests.storage_backends import backend, storage_test  # noqa: F401  (backend is the parametrized fixture)

TABLE = TableDef(name="snap", key=KeySchema("pk", "S", "sk", "S"), attribute_definitions=(), created=1.0)
COUNT = 1200  # more than two pages


async def _put(storage: Storage, pk: bytes, sk: bytes, value: bytes | None) -> None:
    await storage.transact([KeyRef(TABLE.name, pk, sk)], lambda olds: [value])


async def _read(view: Any) -> dict[tuple[bytes, bytes], bytes]:
    out: dict[tuple[bytes, bytes], bytes] = {}
    order: list[tuple[bytes, bytes]] = []
    async for page in pages(view):
        for pk, sk, value in page:
            out[pk, sk] = value
            order.append((pk, sk))
    assert len(order) == len(out), "a key came twice"
    return out


@storage_test
async def test_view_holds_the_table_as_of_its_opening(storage: Storage) -> None:
    await storage.create_table(TABLE)
    expected: dict[tuple[bytes, bytes], bytes] = {}
    for i in range(COUNT):
        key = (f"p{i % 97}".encode(), f"s{i}".encode())
        expected[key] = b'{"v":%d}' % i
        await _put(storage, *key, expected[key])
    view = await open_view(storage, TABLE)
    try:
        for i in range(0, COUNT, 7):  # changes, deletions and new items after the view was opened
            await _put(storage, f"p{i % 97}".encode(), f"s{i}".encode(), None if i % 2 else b'{"v":-1}')
            await _put(storage, b"new", f"n{i}".encode(), b"{}")
        assert await _read(view) == expected
    finally:
        await view.close()


@storage_test
async def test_view_of_an_empty_table(storage: Storage) -> None:
    await storage.create_table(TABLE)
    view = await open_view(storage, TABLE)
    await _put(storage, b"a", b"b", b"{}")
    assert await _read(view) == {}
    await view.close()
