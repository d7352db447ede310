"""The ``Storage`` contract, run against every backend registered in ``storage_backends.BACKENDS``.

Contract points a backend author might miss, each pinned by a test below:
- ``transact`` on a table that does not exist raises TableMissing and writes nothing (so a
  process holding a stale table definition cannot leave orphan items behind a DeleteTable);
- ``apply`` must be pure: a backend may call it more than once (an optimistic one retries on conflict),
  and it may run on another thread (the SQLite writer); only the committed run's old values are returned;
- an ``apply`` result that is not one bytes / None / KEEP per key raises ValueError or TypeError;
- a scan or query resumed from a start key that has since been deleted continues after where it was.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import zlib
from typing import Any

import pytest

from accelerator.core.errors import ConditionFailed, TableExists, TableMissing
from accelerator.core.keys import KeySchema, segment_bounds
from accelerator.core.protocols import KEEP, Blind, Bound, KeyRef, Storage
from accelerator.core.tables import TableDef
from backends import STORAGE_KINDS, open_storage
from backends.memory import MemoryStorage
from tests.storage_backends import backend, storage_test  # noqa: F401  (backend is the parametrized fixture)


def table_def(name: str, sort_key: bool = True) -> TableDef:
    key = KeySchema("pk", "S", "sk", "S") if sort_key else KeySchema("pk", "S")
    attrs = (("pk", "S"), ("sk", "S")) if sort_key else (("pk", "S"),)
    return TableDef(name=name, key=key, attribute_definitions=attrs, created=1_700_000_000.25)


async def put(storage: Storage, table: str, pk: bytes, sk: bytes, value: bytes | None) -> bytes | None:
    """Write (or delete, for None) one key; return its old value."""
    (old,) = await storage.transact([KeyRef(table, pk, sk)], lambda _old: [value])
    return old


async def scan_all(storage: Storage, table: str, segment: int = 0, total: int = 1) -> list[tuple[bytes, ...]]:
    return list(await storage.scan(table, segment=segment, total_segments=total, start=None, limit=1 << 30))


def scan_order(row: tuple[bytes, ...]) -> tuple[int, bytes, bytes]:
    return zlib.crc32(row[0]), row[0], row[1]


class NotAnError(BaseException):
    """Raised by an ``apply`` to check that a non-Exception propagates too."""


# ----- tables


@storage_test
async def test_table_lifecycle(storage: Storage) -> None:
    assert isinstance(storage, Storage)
    assert await storage.list_tables() == []
    for name in ("b", "a", "C"):
        await storage.create_table(table_def(name))
    assert await storage.list_tables() == ["C", "a", "b"]
    assert await storage.get_table("a") == table_def("a")
    assert await storage.get_table("missing") is None
    with pytest.raises(TableExists):
        await storage.create_table(table_def("a", sort_key=False))
    assert await storage.get_table("a") == table_def("a")
    await storage.delete_table("a")
    assert await storage.get_table("a") is None
    assert await storage.list_tables() == ["C", "b"]
    with pytest.raises(TableMissing):
        await storage.delete_table("a")


@storage_test
async def test_delete_table_removes_its_items_only(storage: Storage) -> None:
    await storage.create_table(table_def("t"))
    await storage.create_table(table_def("u"))
    for i in range(20):
        await put(storage, "t", b"p%d" % (i % 5), b"s%d" % i, b"v")
    await put(storage, "u", b"p0", b"s0", b"kept")
    await storage.delete_table("t")
    await storage.create_table(table_def("t"))
    assert await storage.get("t", b"p0", b"s0") is None
    assert await scan_all(storage, "t") == []
    assert await storage.query("t", b"p0", lo=None, hi=None, forward=True, start=None, limit=100) == []
    assert await storage.get("u", b"p0", b"s0") == b"kept"


# ----- single items through transact


@storage_test
async def test_put_get_overwrite_delete(storage: Storage) -> None:
    await storage.create_table(table_def("t"))
    assert await storage.get("t", b"a", b"1") is None
    assert await put(storage, "t", b"a", b"1", b"one") is None
    assert await storage.get("t", b"a", b"1") == b"one"
    assert await put(storage, "t", b"a", b"1", b"uno") == b"one"
    assert await storage.get("t", b"a", b"1") == b"uno"
    assert await put(storage, "t", b"a", b"1", None) == b"uno"
    assert await storage.get("t", b"a", b"1") is None
    assert await put(storage, "t", b"a", b"1", None) is None  # deleting an absent key is a no-op
    assert await storage.get("t", b"a", b"1") is None


@storage_test
async def test_blind_units_return_what_they_replaced(storage: Storage) -> None:
    """A ``Blind`` unit (an unconditional put or delete; Redis writes it without reading first) is atomic like
    any other: each one returns exactly the value it replaced, also when many race on one key beside
    ordinary units, and it finds a missing table."""
    await storage.create_table(table_def("bl"))
    a = KeyRef("bl", b"a", b"")
    assert await storage.transact([a], Blind((b"1",))) == [None]
    assert await storage.transact([a], Blind((b"2",))) == [b"1"]
    written = [b"%d" % n for n in range(3, 23)]
    others = [KeyRef("bl", b"o%d" % n, b"") for n in range(5)]
    results = await asyncio.gather(*(storage.transact([a], Blind((value,))) for value in written),
                                   *(storage.transact([ref], lambda _o: [b"x"]) for ref in others))
    replaced = [r[0] for r in results[:len(written)]]
    last = await storage.get("bl", b"a", b"")
    assert last in written
    assert sorted(replaced + [last]) == sorted([b"2", *written]), "each value replaced exactly once, in a chain"
    assert [await storage.get("bl", ref.pk, b"") for ref in others] == [b"x"] * len(others)
    assert await storage.transact([a], Blind((None,))) == [last]
    assert await storage.get("bl", b"a", b"") is None
    assert await storage.transact([a], Blind((None,))) == [None]
    await storage.delete_table("bl")
    with pytest.raises(TableMissing):
        await storage.transact([a], Blind((b"1",)))


@storage_test
async def test_bytes_round_trip_exactly(storage: Storage) -> None:
    await storage.create_table(table_def("t"))
    keys = [b"\x00", b"\x00\x00", b"\xff", b"a\x00b", bytes(range(256))]
    values = [b"", b"\x00", bytes(range(256)) * 4, b"x" * (400 * 1024)]
    for key, value in zip(keys, itertools.cycle(values)):
        await put(storage, "t", key, key, value)
    for key, value in zip(keys, itertools.cycle(values)):
        assert await storage.get("t", key, key) == value
        assert await storage.get("t", key, key + b"\x00") is None


@storage_test
async def test_keep_leaves_keys_untouched(storage: Storage) -> None:
    await storage.create_table(table_def("t"))
    await put(storage, "t", b"a", b"1", b"one")
    keys = [KeyRef("t", b"a", b"1"), KeyRef("t", b"a", b"2"), KeyRef("t", b"a", b"3")]
    old = await storage.transact(keys, lambda _old: [KEEP, KEEP, b"three"])
    assert old == [b"one", None, None]
    assert await storage.get_many(keys) == [b"one", None, b"three"]


@storage_test
async def test_apply_sees_old_values_in_key_order(storage: Storage) -> None:
    await storage.create_table(table_def("t"))
    await storage.create_table(table_def("u"))
    await put(storage, "t", b"a", b"1", b"t-a1")
    await put(storage, "u", b"a", b"1", b"u-a1")
    keys = [KeyRef("u", b"a", b"1"), KeyRef("t", b"b", b"1"), KeyRef("t", b"a", b"1")]
    seen: list[list[bytes | None]] = []

    def apply(old: list[bytes | None]) -> list[Any]:
        seen.append(list(old))
        return [None, b"new", (old[2] or b"") + b"+"]

    old = await storage.transact(keys, apply)
    assert old == [b"u-a1", None, b"t-a1"]
    assert seen[-1] == old
    assert await storage.get_many(keys) == [None, b"new", b"t-a1+"]


@storage_test
async def test_apply_raising_writes_nothing(storage: Storage) -> None:
    await storage.create_table(table_def("t"))
    await storage.create_table(table_def("u"))
    await put(storage, "t", b"a", b"1", b"before")
    keys = [KeyRef("t", b"a", b"1"), KeyRef("t", b"b", b"1"), KeyRef("u", b"a", b"1")]

    def refuse(_old: list[bytes | None]) -> list[Any]:
        raise ConditionFailed({"why": "no"})

    with pytest.raises(ConditionFailed) as info:
        await storage.transact(keys, refuse)
    assert info.value.payload == {"why": "no"}

    def broken(_old: list[bytes | None]) -> list[Any]:
        raise ZeroDivisionError("bug in apply")

    with pytest.raises(ZeroDivisionError):
        await storage.transact(keys, broken)

    def exits(_old: list[bytes | None]) -> list[Any]:
        raise NotAnError  # a BaseException, not an Exception: it too belongs to the caller

    with pytest.raises(NotAnError):
        await storage.transact(keys, exits)
    assert await storage.get_many(keys) == [b"before", None, None]
    # The storage is still usable after failed units.
    await storage.transact(keys, lambda _old: [b"1", b"2", b"3"])
    assert await storage.get_many(keys) == [b"1", b"2", b"3"]


@storage_test
async def test_malformed_apply_result_writes_nothing(storage: Storage) -> None:
    await storage.create_table(table_def("t"))
    keys = [KeyRef("t", b"a", b"1"), KeyRef("t", b"a", b"2")]
    with pytest.raises(ValueError):
        await storage.transact(keys, lambda _old: [b"only one"])
    with pytest.raises(TypeError):
        await storage.transact(keys, lambda _old: [b"ok", "text is not bytes"])
    assert await storage.get_many(keys) == [None, None]


@storage_test
async def test_transact_on_missing_table_raises(storage: Storage) -> None:
    await storage.create_table(table_def("t"))
    keys = [KeyRef("t", b"a", b"1"), KeyRef("gone", b"a", b"1")]
    with pytest.raises(TableMissing):
        await storage.transact(keys, lambda _old: [b"x", b"y"])
    assert await storage.get("t", b"a", b"1") is None
    await storage.create_table(table_def("gone"))
    assert await scan_all(storage, "gone") == []


@storage_test
async def test_concurrent_increments_serialise(storage: Storage) -> None:
    """Each committed run sees a distinct old value; apply may run more than once (it must be pure)."""
    await storage.create_table(table_def("t"))
    key = KeyRef("t", b"counter", b"")
    calls = 0

    def increment(old: list[bytes | None]) -> list[Any]:
        nonlocal calls
        calls += 1
        return [str(int(old[0] or b"0") + 1).encode()]

    olds = await asyncio.gather(*(storage.transact([key], increment) for _ in range(60)))
    assert await storage.get("t", b"counter", b"") == b"60"
    assert sorted(int(o or b"0") for (o,) in olds) == list(range(60))
    assert calls >= 60


@storage_test
async def test_concurrent_units_fail_independently(storage: Storage) -> None:
    await storage.create_table(table_def("t"))
    key = KeyRef("t", b"counter", b"")

    def make(fail: bool) -> Any:
        def apply(old: list[bytes | None]) -> list[Any]:
            if fail:
                raise ConditionFailed(None)
            return [str(int(old[0] or b"0") + 1).encode()]

        return apply

    outcomes = await asyncio.gather(
        *(storage.transact([key], make(i % 3 == 0)) for i in range(30)), return_exceptions=True
    )
    assert sum(isinstance(o, ConditionFailed) for o in outcomes) == 10
    assert await storage.get("t", b"counter", b"") == b"20"


@storage_test
async def test_get_many_is_a_consistent_snapshot(storage: Storage) -> None:
    await storage.create_table(table_def("t"))
    keys = [KeyRef("t", b"acct", b"a"), KeyRef("t", b"other", b"b")]
    await storage.transact(keys, lambda _old: [b"50", b"50"])
    rng = random.Random(7)

    async def transfer(amount: int) -> None:
        def move(old: list[bytes | None]) -> list[Any]:
            a, b = int(old[0] or b"0"), int(old[1] or b"0")
            return [str(a - amount).encode(), str(b + amount).encode()]

        await storage.transact(keys, move)

    async def audit() -> list[int]:
        sums = []
        for _ in range(20):
            values = await storage.get_many(keys)
            sums.append(sum(int(v or b"0") for v in values))
            await asyncio.sleep(0)
        return sums

    audits = [asyncio.ensure_future(audit()) for _ in range(2)]
    await asyncio.gather(*(transfer(rng.randint(-9, 9)) for _ in range(40)))
    for task in audits:
        assert set(await task) == {100}
    assert await storage.get_many([]) == []
    assert await storage.get_many([KeyRef("missing", b"a", b"b")]) == [None]


@storage_test
async def test_every_read_sees_the_last_write(storage: Storage) -> None:
    await storage.create_table(table_def("t"))
    for n in range(5):
        value = b"v%d" % n
        await put(storage, "t", b"p", b"s", value)
        assert await storage.get("t", b"p", b"s") == value
        assert await storage.get_many([KeyRef("t", b"p", b"s")]) == [value]
        assert await storage.query("t", b"p", lo=None, hi=None, forward=True, start=None, limit=9) == [
            (b"s", value)
        ]
        assert await scan_all(storage, "t") == [(b"p", b"s", value)]


# ----- query


SORT_KEYS = [b"\x00", b"a", b"a\x00", b"ab", b"b", b"b\xff", b"c", b"\xff", b"\xff\xff"]
PROBES = [b"\x00", b"a\x00", b"aa", b"b\xff", b"\xff\x00"]  # some stored, some between, the ends
STARTS = [None, b"a", b"aa", b"b\xff", b"\xff\xff"]


def expected_query(
    lo: Bound | None, hi: Bound | None, forward: bool, start: bytes | None, limit: int
) -> list[bytes]:
    chosen = [
        k
        for k in sorted(SORT_KEYS)
        if (lo is None or k > lo.key or (lo.inclusive and k == lo.key))
        and (hi is None or k < hi.key or (hi.inclusive and k == hi.key))
        and (start is None or (k > start if forward else k < start))
    ]
    return (chosen if forward else chosen[::-1])[:limit]


def bounds() -> list[Bound | None]:
    return [None] + [Bound(key, inclusive) for key in PROBES for inclusive in (True, False)]


@storage_test
async def test_query_ranges_both_directions(storage: Storage) -> None:
    await storage.create_table(table_def("t"))
    for sk in SORT_KEYS:
        await put(storage, "t", b"p", sk, b"value of " + sk)
    # Neighbouring partitions whose keys extend or prefix b"p" must never leak in.
    for pk in (b"o\xff", b"p\x00", b"pp", b"q"):
        await put(storage, "t", pk, b"a", b"neighbour")
    for lo, hi, forward, start, limit in itertools.product(
        bounds(), bounds(), (True, False), STARTS, (2, 100)
    ):
        rows = await storage.query("t", b"p", lo=lo, hi=hi, forward=forward, start=start, limit=limit)
        want = expected_query(lo, hi, forward, start, limit)
        assert rows == [(k, b"value of " + k) for k in want], (lo, hi, forward, start, limit)


@storage_test
async def test_query_pages_through_a_partition(storage: Storage) -> None:
    await storage.create_table(table_def("t"))
    sks = [b"%03d" % i for i in range(37)]
    for sk in sks:
        await put(storage, "t", b"p", sk, sk)
    for forward in (True, False):
        got: list[bytes] = []
        start = None
        for _ in range(100):  # bounded, as in paged_scan
            page = await storage.query("t", b"p", lo=None, hi=None, forward=forward, start=start, limit=5)
            if not page:
                break
            got += [sk for sk, _ in page]
            start = page[-1][0]
            await put(storage, "t", b"p", start, None)  # resuming after a deleted start key still works
        assert got == (sks if forward else sks[::-1])
        for sk in sks:
            await put(storage, "t", b"p", sk, sk)
    assert await storage.query("t", b"nope", lo=None, hi=None, forward=True, start=None, limit=5) == []


@storage_test
async def test_table_without_sort_key(storage: Storage) -> None:
    await storage.create_table(table_def("h", sort_key=False))
    for i in range(10):
        await put(storage, "h", b"k%d" % i, b"", b"v%d" % i)
    assert await storage.get("h", b"k3", b"") == b"v3"
    assert await storage.query("h", b"k3", lo=None, hi=None, forward=False, start=None, limit=10) == [
        (b"", b"v3")
    ]
    rows = await scan_all(storage, "h")
    assert sorted(rows) == [(b"k%d" % i, b"", b"v%d" % i) for i in range(10)]
    assert rows == sorted(rows, key=scan_order)
    assert await put(storage, "h", b"k3", b"", None) == b"v3"
    assert await storage.get("h", b"k3", b"") is None


# ----- scan


async def fill_for_scan(storage: Storage) -> set[tuple[bytes, bytes, bytes]]:
    await storage.create_table(table_def("t"))
    await storage.create_table(table_def("other"))
    items = set()
    for i in range(90):
        pk = b"user#%d" % i
        for j in range(1 + i % 3):
            sk = b"s%d" % j
            items.add((pk, sk, pk + b"/" + sk))
    await asyncio.gather(*(put(storage, "t", pk, sk, v) for pk, sk, v in items))
    await put(storage, "other", b"user#1", b"s0", b"elsewhere")
    return items


@storage_test
async def test_scan_segments_cover_every_item_once_in_order(storage: Storage) -> None:
    items = await fill_for_scan(storage)
    for total in (1, 2, 3, 7, 64):
        seen: list[tuple[bytes, ...]] = []
        for segment in range(total):
            rows = await scan_all(storage, "t", segment, total)
            lo, hi = segment_bounds(segment, total)
            assert all(lo <= zlib.crc32(pk) < hi for pk, _sk, _v in rows)
            assert rows == sorted(rows, key=scan_order)
            seen += rows
        assert len(seen) == len(items) and set(seen) == items, total


async def paged_scan(storage: Storage, segment: int, total: int, limit: int) -> list[tuple[bytes, ...]]:
    got: list[tuple[bytes, ...]] = []
    start: tuple[bytes, bytes] | None = None
    for _ in range(1000):  # bounded: a start key that is not excluded would page forever
        page = await storage.scan("t", segment=segment, total_segments=total, start=start, limit=limit)
        assert len(page) <= limit
        if not page:
            return got
        got += page
        start = (page[-1][0], page[-1][1])
    raise AssertionError("scan pagination does not end")


@storage_test
async def test_scan_pagination_matches_one_pass(storage: Storage) -> None:
    await fill_for_scan(storage)
    for total, limit in ((1, 1), (1, 7), (3, 4), (5, 1000)):
        for segment in range(total):
            assert await paged_scan(storage, segment, total, limit) == await scan_all(
                storage, "t", segment, total
            )


@storage_test
async def test_scan_resumes_after_a_deleted_start(storage: Storage) -> None:
    await fill_for_scan(storage)
    full = await scan_all(storage, "t")
    # Item 10 alone, then every item of the partition of item 40: the start key no longer exists.
    start_item = full[10]
    await put(storage, "t", start_item[0], start_item[1], None)
    rest = await storage.scan(
        "t", segment=0, total_segments=1, start=(start_item[0], start_item[1]), limit=1 << 20
    )
    assert rest == full[11:]
    pk = full[40][0]
    for row in full:
        if row[0] == pk:
            await put(storage, "t", row[0], row[1], None)
    rest = await storage.scan("t", segment=0, total_segments=1, start=(pk, full[40][1]), limit=1 << 20)
    assert rest == [row for row in full[41:] if row[0] != pk]


# ----- the registry


def test_open_storage_builds_registered_backends(tmp_path: Any) -> None:
    assert {"memory", "sqlite"} <= set(STORAGE_KINDS)
    assert isinstance(open_storage("memory"), MemoryStorage)
    sqlite = open_storage("sqlite", path=tmp_path / "x.db", synchronous="full")
    assert isinstance(sqlite, Storage) and sqlite.__class__.__name__ == "SqliteStorage"
    with pytest.raises(ValueError, match="unknown storage backend"):
        open_storage("tape")
