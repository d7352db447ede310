"""The two contracts: ``Storage`` (primitive, implemented by storage backends) and ``Store`` (operations).

``Storage`` keeps opaque item bytes under (table, pk, sk) byte keys; see ``accelerator.core.keys`` for
the encoding and the scan order. Every write, conditional or not, goes through ``transact``: an atomic
read-check-write over a set of keys whose ``apply`` is pure and may run more than once (an optimistic
backend retries it on conflict). ``apply`` receives the current values and returns the new ones
(``None`` deletes, ``KEEP`` leaves the key untouched) or raises to abort without writing anything.

``Store`` is the operation level: one coroutine per DynamoDB operation, taking the validated request
body (wire-shaped, so an upstream DynamoDB store can forward it unchanged) and returning the response
body. ``TableEngine`` implements it over a ``Storage``; ``CachedStore`` wraps any ``Store``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from accelerator.core.tables import TableDef

__all__ = ["KEEP", "Blind", "Bound", "KeyRef", "Storage", "Store", "Request", "Response", "ApplyFn", "OPERATIONS"]


class _Keep:
    __slots__ = ()

    def __repr__(self) -> str:
        return "KEEP"


KEEP: Any = _Keep()
"""Returned by ``apply`` for a key it read but does not write."""


@dataclass(frozen=True, slots=True)
class Bound:
    """One end of a sort-key range."""

    key: bytes
    inclusive: bool


@dataclass(frozen=True, slots=True)
class KeyRef:
    """One item's address."""

    table: str
    pk: bytes
    sk: bytes


ApplyFn = Callable[[list[bytes | None]], Sequence[Any]]


@dataclass(frozen=True, slots=True)
class Blind:
    """An ``apply`` whose result does not depend on the old values: it always writes ``values`` (an
    unconditional PutItem or DeleteItem). A backend may write it without reading first (Redis: one round trip
    instead of two) and still returns the old values it replaced. A wrapper that must see the old values
    before the write (index entries, change-log records) calls it like any apply, so it stops being blind."""

    values: tuple[Any, ...]

    def __call__(self, _olds: list[bytes | None]) -> list[Any]:
        return list(self.values)


@runtime_checkable
class Storage(Protocol):
    """Primitive durable storage; every method may raise ``BackendUnavailable``."""

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def create_table(self, table: TableDef) -> None:
        """Store a new table definition; ResourceInUseException if the name exists."""

    async def delete_table(self, name: str) -> None:
        """Drop a table and all its items; ResourceNotFoundException if absent."""

    async def get_table(self, name: str) -> TableDef | None: ...

    async def list_tables(self) -> list[str]:
        """All table names, sorted."""

    async def get(self, table: str, pk: bytes, sk: bytes) -> bytes | None: ...

    async def get_many(self, keys: Sequence[KeyRef]) -> list[bytes | None]:
        """Values of several keys, read as one consistent snapshot."""

    async def query(
        self,
        table: str,
        pk: bytes,
        *,
        lo: Bound | None,
        hi: Bound | None,
        forward: bool,
        start: bytes | None,
        limit: int,
    ) -> list[tuple[bytes, bytes]]:
        """Up to ``limit`` (sk, value) pairs of one partition within [lo, hi], in sk order
        (descending when not ``forward``), strictly after ``start`` in that direction."""

    async def scan(
        self,
        table: str,
        *,
        segment: int,
        total_segments: int,
        start: tuple[bytes, bytes] | None,
        limit: int,
    ) -> list[tuple[bytes, bytes, bytes]]:
        """Up to ``limit`` (pk, sk, value) of one segment, ordered by (partition_hash(pk), pk, sk),
        strictly after the item at ``start``."""

    async def transact(self, keys: Sequence[KeyRef], apply: ApplyFn) -> list[bytes | None]:
        """Atomically: read ``keys``, call ``apply(old_values)``, write its result. Returns the old
        values of the run that committed. Exceptions from ``apply`` propagate; nothing is written."""


Request = dict[str, Any]
Response = dict[str, Any]

OPERATIONS = (
    "CreateTable",
    "DescribeTable",
    "ListTables",
    "DeleteTable",
    "GetItem",
    "PutItem",
    "DeleteItem",
    "UpdateItem",
    "Query",
    "Scan",
    "BatchGetItem",
    "BatchWriteItem",
    "TransactGetItems",
    "TransactWriteItems",
    "UpdateTimeToLive",
    "DescribeTimeToLive",
    "UpdateTable",
    "TagResource",
    "UntagResource",
    "ListTagsOfResource",
    "DescribeLimits",
    "CreateBackup",
    "DescribeBackup",
    "ListBackups",
    "DeleteBackup",
    "RestoreTableFromBackup",
    "UpdateContinuousBackups",
    "DescribeContinuousBackups",
    "RestoreTableToPointInTime",
    "ExportTableToPointInTime",
    "DescribeExport",
    "ListExports",
    "ImportTable",
    "DescribeImport",
    "ListImports",
)


@runtime_checkable
class Store(Protocol):
    """Operation-level store. ``call`` runs one DynamoDB operation on a validated request body."""

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def call(self, operation: str, request: Request) -> Response:
        """Run ``operation`` (a name from OPERATIONS) and return the response body."""
