"""The base of the storage wrappers (index maintenance, the change log, encryption): every call of the
``Storage`` and ``ChangeLog`` contracts handed to ``inner`` unchanged, so a wrapper writes only what it changes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from accelerator.core.changelog import ChangeLog
from accelerator.core.protocols import ApplyFn, Bound, KeyRef, Storage
from accelerator.core.tables import TableDef

__all__ = ["PassThroughStorage"]


class PassThroughStorage:
    """A ``Storage`` (and ``ChangeLog``, when ``inner`` is one) that changes nothing."""

    def __init__(self, inner: Storage) -> None:
        self.inner = inner

    async def open(self) -> None:
        await self.inner.open()

    async def close(self) -> None:
        await self.inner.close()

    async def create_table(self, table: TableDef) -> None:
        await self.inner.create_table(table)

    async def delete_table(self, name: str) -> None:
        await self.inner.delete_table(name)

    async def get_table(self, name: str) -> TableDef | None:
        return await self.inner.get_table(name)

    async def list_tables(self) -> list[str]:
        return await self.inner.list_tables()

    async def get(self, table: str, pk: bytes, sk: bytes) -> bytes | None:
        return await self.inner.get(table, pk, sk)

    async def get_many(self, keys: Sequence[KeyRef]) -> list[bytes | None]:
        return await self.inner.get_many(keys)

    async def query(self, table: str, pk: bytes, *, lo: Bound | None, hi: Bound | None, forward: bool,
                    start: bytes | None, limit: int) -> list[tuple[bytes, bytes]]:
        return await self.inner.query(table, pk, lo=lo, hi=hi, forward=forward, start=start, limit=limit)

    async def scan(self, table: str, *, segment: int, total_segments: int, start: tuple[bytes, bytes] | None,
                   limit: int) -> list[tuple[bytes, bytes, bytes]]:
        return await self.inner.scan(table, segment=segment, total_segments=total_segments, start=start, limit=limit)

    async def transact(self, keys: Sequence[KeyRef], apply: ApplyFn) -> list[bytes | None]:
        return await self.inner.transact(keys, apply)

    async def read_log(self, table: str, after: int, limit: int) -> list[tuple[int, bytes]]:
        return await cast(ChangeLog, self.inner).read_log(table, after, limit)

    async def log_head(self, table: str) -> int:
        return await cast(ChangeLog, self.inner).log_head(table)

    async def trim_log(self, table: str, before: int) -> int:
        return await cast(ChangeLog, self.inner).trim_log(table, before)
