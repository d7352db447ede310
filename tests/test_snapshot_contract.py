"""Consistent table views (``accelerator.engine.snapshot.open_view``) on every storage backend."""

from __future__ import annotations

import time
from typing import Any

from accelerator.core.changelog import Logged, encode_record
from accelerator.core.keys import KeySchema
from accelerator.core.protocols import KeyRef, Storage
from accelerator.core.tables import TableDef
from accelerator.engine.snapshot import open_view, pages
from tests.storage_backends import backend, storage_test  # noqa: F401  (backend is the parametrized fixture)

TABLE = TableDef(name="snap", key=KeySchema("pk", "S", "sk", "S"), attribute_definitions=(), created=1.0)
COUNT = 1200  # more than two pages


def _image(pk: bytes, sk: bytes, v: int) -> bytes:
    return b'{"pk":{"S":"%s"},"sk":{"S":"%s"},"v":{"N":"%d"}}' % (pk, sk, v)


async def _put(storage: Storage, pk: bytes, sk: bytes, value: bytes | None) -> None:
    """Write as the engine does with the table's log on: the value and its log record in one unit."""
    def apply(olds: list[bytes | None]) -> list[Any]:
        return [Logged(value, encode_record(int(time.time() * 1000), olds[0], value, False))]
    await storage.transact([KeyRef(TABLE.name, pk, sk)], apply)


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
        expected[key] = _image(*key, i)
        await _put(storage, *key, expected[key])
    view = await open_view(storage, TABLE)
    try:
        for i in range(0, COUNT, 7):  # changes, deletions and new items after the view was opened
            pk, sk = f"p{i % 97}".encode(), f"s{i}".encode()
            await _put(storage, pk, sk, None if i % 2 else _image(pk, sk, -1))
            await _put(storage, b"new", f"n{i}".encode(), _image(b"new", f"n{i}".encode(), 0))
        assert await _read(view) == expected
    finally:
        await view.close()


@storage_test
async def test_view_of_an_empty_table(storage: Storage) -> None:
    await storage.create_table(TABLE)
    view = await open_view(storage, TABLE)
    await _put(storage, b"a", b"b", _image(b"a", b"b", 0))
    assert await _read(view) == {}
    await view.close()


class _ScanWithWrites:
    """A backend seen without its read snapshots, whose scan lets writes (logged, as the engine logs them)
    land between its pages: the case the rolled-forward view exists for."""

    def __init__(self, inner: Any, writes: list[tuple[bytes, bytes, bytes | None]]) -> None:
        self.base = inner
        self.clustered = getattr(inner, "clustered", False)
        self.writes = writes
        self.pages = 0

    async def scan(self, table: str, **kwargs: Any) -> Any:
        page = await self.base.scan(table, **kwargs)
        self.pages += 1
        if self.pages == 2:  # the first page is read; change items before and after it in scan order
            for pk, sk, value in self.writes:
                def apply(olds: list[bytes | None], value: bytes | None = value) -> list[Any]:
                    record = encode_record(int(time.time() * 1000), olds[0], value, False)
                    return [Logged(value, record)]
                await self.base.transact([KeyRef(TABLE.name, pk, sk)], apply)
        return page

    async def log_head(self, table: str) -> int:
        return int(await self.base.log_head(table))

    async def read_log(self, table: str, after: int, limit: int) -> Any:
        return await self.base.read_log(table, after, limit)


@storage_test
async def test_scan_rolled_back_with_the_log(storage: Storage) -> None:
    await storage.create_table(TABLE)
    current: dict[tuple[bytes, bytes], bytes] = {}
    for i in range(COUNT):
        key = (f"p{i % 97}".encode(), f"s{i}".encode())
        current[key] = b'{"pk":{"S":"p%d"},"sk":{"S":"s%d"},"v":{"N":"%d"}}' % (i % 97, i, i)
        await _put(storage, *key, current[key])
    scan_order = [(pk, sk) for pk, sk, _ in await storage.scan(TABLE.name, segment=0, total_segments=1, start=None,
                                                                 limit=COUNT)]
    writes: list[tuple[bytes, bytes, bytes | None]] = []
    for key in (scan_order[0], scan_order[1], scan_order[-1]):  # one already read, and one read later
        writes.append((*key, current[key].replace(b'"v":{"N"', b'"w":{"N":"1"},"v":{"N"')))
    writes.append((*scan_order[2], None))
    writes.append((*scan_order[-2], None))  # not read yet when deleted: put back in its place
    writes.append((b"p1", b"zz-new", b'{"pk":{"S":"p1"},"sk":{"S":"zz-new"}}'))
    expected = dict(current)  # the view is the table as of its opening: none of the writes below
    wrapper = _ScanWithWrites(storage, writes)
    view = await open_view(wrapper, TABLE)
    try:
        assert await _read(view) == expected
        assert wrapper.pages > 2  # the writes did land during the scan
    finally:
        await view.close()
