"""SQLite storage beyond the shared contract: processes and connections sharing a file, SIGKILL, failure paths."""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from accelerator.core.errors import BackendUnavailable, DynamoError, TableExists
from accelerator.core.keys import KeySchema
from accelerator.core.protocols import KeyRef
from accelerator.core.tables import TableDef
from backends.sqlite import SqliteStorage

COUNTER = KeyRef("t", b"counter", b"")


def table_def(name: str = "t") -> TableDef:
    return TableDef(name, KeySchema("pk", "S"), (("pk", "S"),), created=0.0)


def increment(old: list[bytes | None]) -> list[Any]:
    return [str(int(old[0] or b"0") + 1).encode()]


async def _increments(path: str, tasks: int, each: int) -> None:
    storage = SqliteStorage(path)
    await storage.open()  # the processes race to create the file, its schema and the table
    try:
        with contextlib.suppress(TableExists):
            await storage.create_table(table_def())

        async def worker() -> None:
            for _ in range(each):
                await storage.transact([COUNTER], increment)

        await asyncio.gather(*(worker() for _ in range(tasks)))
    finally:
        await storage.close()


def increment_process(path: str, tasks: int, each: int) -> None:
    """Entry point of a spawned process: ``tasks`` concurrent tasks, ``each`` increments per task."""
    asyncio.run(_increments(path, tasks, each))


async def _read_counter(path: Path) -> bytes | None:
    storage = SqliteStorage(path)
    await storage.open()
    try:
        return await storage.get(COUNTER.table, COUNTER.pk, COUNTER.sk)
    finally:
        await storage.close()


def test_processes_increment_one_counter(tmp_path: Path) -> None:
    path = tmp_path / "new dir" / "shared.db"
    processes, tasks, each = 3, 4, 60
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=increment_process, args=(str(path), tasks, each)) for _ in range(processes)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=60)
    # A child's traceback, if any, is in this test's captured stderr.
    assert [proc.exitcode for proc in procs] == [0] * processes
    assert asyncio.run(_read_counter(path)) == str(processes * tasks * each).encode()


async def _count_until_killed(path: str, acks: Any) -> None:
    storage = SqliteStorage(path)
    await storage.open()
    while True:
        (old,) = await storage.transact([COUNTER], increment)
        acks.send(int(old or b"0") + 1)  # only after transact returned: the write was acknowledged


def count_until_killed(path: str, acks: Any) -> None:
    """Entry point of a spawned process that increments until it is SIGKILLed."""
    asyncio.run(_count_until_killed(path, acks))


def test_acknowledged_writes_survive_sigkill(tmp_path: Path) -> None:
    path = tmp_path / "killed.db"
    asyncio.run(_create(path))
    ctx = multiprocessing.get_context("spawn")
    receiver, sender = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=count_until_killed, args=(str(path), sender))
    proc.start()
    acked = 0
    while acked < 300:
        assert receiver.poll(30), "the counting process stopped acknowledging"
        acked = receiver.recv()
    proc.kill()  # SIGKILL. synchronous=NORMAL: no fsync, yet a kill loses nothing committed
    proc.join(timeout=10)
    while receiver.poll(0):
        acked = receiver.recv()
    stored = asyncio.run(_read_counter(path))
    assert stored is not None and int(stored) >= acked


async def _create(path: Path) -> None:
    storage = SqliteStorage(path)
    await storage.open()
    await storage.create_table(table_def())
    await storage.close()


def test_two_instances_in_one_process_share_the_file(tmp_path: Path) -> None:
    async def main() -> None:
        first, second = SqliteStorage(tmp_path / "db"), SqliteStorage(tmp_path / "db")
        await first.open()
        await second.open()
        await first.create_table(table_def())
        await asyncio.gather(*(s.transact([COUNTER], increment) for s in (first, second) for _ in range(50)))
        assert await first.get("t", b"counter", b"") == b"100"
        assert await second.get_table("t") == table_def()
        await first.close()
        await second.close()

    asyncio.run(main())


def test_writes_survive_close_and_reopen(tmp_path: Path) -> None:
    async def main() -> None:
        storage = SqliteStorage(tmp_path / "db", synchronous="full")
        await storage.open()
        await storage.create_table(table_def())
        # Submitted but not awaited before close: close must drain them, not drop them.
        pending = [asyncio.ensure_future(storage.transact([COUNTER], increment)) for _ in range(100)]
        await asyncio.sleep(0)
        await storage.close()
        await asyncio.gather(*pending)
        with pytest.raises(BackendUnavailable):
            await storage.get("t", b"counter", b"")
        with pytest.raises(BackendUnavailable):
            await storage.transact([COUNTER], increment)
        await storage.open()
        assert await storage.get("t", b"counter", b"") == b"100"
        assert await storage.list_tables() == ["t"]
        await storage.close()

    asyncio.run(main())


def test_job_failing_mid_write_leaves_nothing(tmp_path: Path) -> None:
    async def main() -> None:
        storage = SqliteStorage(tmp_path / "db")
        await storage.open()
        await storage.create_table(table_def())
        # White box: cap the writer's blob size so the second write of a unit fails after the first.
        await storage._write(lambda conn: conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 1000))
        keys = [KeyRef("t", b"a", b""), KeyRef("t", b"b", b"")]
        with pytest.raises(DynamoError) as info:
            await storage.transact(keys, lambda _old: [b"small", b"x" * 5000])
        assert isinstance(info.value.__cause__, sqlite3.Error)
        assert await storage.get_many(keys) == [None, None]
        await storage.transact(keys, lambda _old: [b"small", b"also small"])
        assert await storage.get_many(keys) == [b"small", b"also small"]
        await storage.close()

    asyncio.run(main())


def test_get_many_snapshot_against_another_writer(tmp_path: Path) -> None:
    """Transfers from another thread's loop keep a + b == 100; every get_many must see that."""
    path = tmp_path / "db"
    keys = [KeyRef("t", b"a", b""), KeyRef("t", b"b", b"")]
    stop = threading.Event()

    def move(old: list[bytes | None]) -> list[Any]:
        a, b = int(old[0] or b"0"), int(old[1] or b"0")
        return [str(a - 1).encode(), str(b + 1).encode()]

    moved = 0

    async def transfers() -> None:
        nonlocal moved
        storage = SqliteStorage(path)
        await storage.open()
        while not stop.is_set():
            await storage.transact(keys, move)
            moved += 1
        await storage.close()

    async def main() -> None:
        storage = SqliteStorage(path)
        await storage.open()
        await storage.create_table(table_def())
        await storage.transact(keys, lambda _old: [b"100", b"0"])
        writer = threading.Thread(target=asyncio.run, args=(transfers(),))
        writer.start()
        try:
            sums = set()
            deadline = time.monotonic() + 30
            while moved < 300 and time.monotonic() < deadline:  # audit while the other writer works
                sums.add(sum(int(v or b"0") for v in await storage.get_many(keys)))
        finally:
            stop.set()
            writer.join()
        assert moved >= 300
        assert sums == {100}
        await storage.close()

    asyncio.run(main())


def test_open_failures_are_backend_errors(tmp_path: Path) -> None:
    blocker = tmp_path / "a file"
    blocker.write_bytes(b"not a directory")
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not an SQLite database at all" * 100)

    async def main() -> None:
        for path in (blocker / "db", garbage):
            storage = SqliteStorage(path)
            with pytest.raises(DynamoError) as info:
                await storage.open()
            assert info.value.retryable
            await storage.close()

    asyncio.run(main())


def test_bad_options_are_rejected() -> None:
    with pytest.raises(ValueError):
        SqliteStorage("x.db", synchronous="sometimes")
    with pytest.raises(ValueError):
        SqliteStorage(":memory:")
