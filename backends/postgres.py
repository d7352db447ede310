"""PostgreSQL storage on an asyncpg pool.

Options (``configs/postgres.toml`` ``[backend]`` keys, passed to the constructor as they are):
``dsn`` (default ``postgresql://postgres@127.0.0.1:5432/test``), ``schema`` (``"accelerator"``),
``pool_size`` (10), ``batch_slots`` (write transactions in flight, at most ``pool_size``; default 2),
``partitions`` (0: a plain table; N >= 2: ``items`` hash-partitioned into N),
``application_name`` (``"accelerator"``; what ``pg_stat_activity`` shows), ``connect_timeout`` (5 s),
``command_timeout`` (10 s), ``lock_timeout`` (5 s), ``synchronous_commit`` (None: the server's setting;
``"off"`` trades the last few hundred ms of acknowledged writes on a server crash for no WAL flush wait per
commit), ``retry`` (a ``RetryPolicy`` or a table of its fields, for deadlocks, serialization failures and
lock timeouts).

Layout, in a schema of its own: ``tables(name, def)`` and ``items(tbl, h, pk, sk, val)`` with primary
key (tbl, h, pk, sk), where h = partition_hash(pk) and pk/sk are the order-preserving key bytes (bytea
compares as memcmp). That one B-tree serves a point read, a partition's sort-key range (``query``: h and
pk fixed, an index range scan on sk) and a segment of a scan (an index range on h, read in (h, pk, sk)
order). With ``partitions=N`` the table is ``PARTITION BY HASH (h)``; partitioning is fixed when the schema
is first created (a different ``partitions`` later is logged and ignored). Statements go through
asyncpg's per-connection prepared-statement cache.

The atomic unit: a READ COMMITTED transaction that first takes transaction-scoped advisory locks, then
reads, runs ``apply``, writes and commits. Why advisory locks: ``SELECT ... FOR UPDATE`` cannot lock a
row that does not exist yet (a conditional put of a new item), placeholder rows would leak into every
read, and SERIALIZABLE turns a hot counter into a storm of serialization failures and retries. An
advisory lock on a 64-bit hash of (schema, table, pk, sk) exists whether or not the row does, lives in
the lock manager (no tuple writes) and is released at commit, after the commit is visible. Under READ
COMMITTED each statement takes a new snapshot, so the read that follows the lock sees every write of the
previous holder. Locks are taken in ascending id order (duplicates and hash collisions merge), so two
transactions cannot deadlock on them; every transaction first takes a shared lock on its tables' ids and
``delete_table`` an exclusive one, so a table is never dropped under a running write and no item is
left behind. Deadlocks, serialization failures and lock timeouts (which only other clients can cause)
are retried under ``retry``; ``apply`` therefore runs once per try.

Errors: every driver error (asyncpg errors, OSError, timeouts of the pool or a command) becomes
``BackendUnavailable`` at this boundary. A connection the server closed is replaced by the pool on the
next acquire, so the backend recovers by itself when the server is back.

Why one module over 400 lines: the schema, the lock protocol and the statements that rely on it are one
design (the atomic unit is correct only with this layout and this lock order); split, a change to one
would silently break another.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import logging
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from functools import lru_cache
from typing import Any

import asyncpg

from accelerator.core.errors import (
    BackendUnavailable,
    TableExists,
    TableMissing,
    TransactionConflictException,
)
from accelerator.core.keys import partition_hash, segment_bounds
from accelerator.core.protocols import KEEP, ApplyFn, Bound, KeyRef
from accelerator.core.retry import RetryPolicy
from accelerator.core.tables import TableDef
from backends import check_new_values, split_logged
from backends.group_commit import GroupCommit, Unit
from backends.tasks import enter_task

__all__ = ["PostgresStorage", "DEFAULT_DSN"]

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/test"
DEFAULT_BATCH_SLOTS = 2
_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}\Z")
_RETRY_STATES = frozenset({"40001", "40P01", "55P03"})  # serialization, deadlock, lock timeout
_DRIVER_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError, OSError, TimeoutError)
_KEYS = "unnest($1::text[], $2::int8[], $3::bytea[], $4::bytea[])"
_EXISTING_PARTITIONS = (
    "SELECT CASE c.relkind WHEN 'p' THEN (SELECT count(*)::int FROM pg_inherits WHERE inhparent = c.oid) ELSE 0 END"
    " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = 'items'"
)
log = logging.getLogger("accelerator.backends.postgres")


def _signed64(data: bytes, key: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(data, digest_size=8, key=key).digest(), "big", signed=True)


@lru_cache(maxsize=128)
def _query_sql(items: str, lo: bool | None, hi: bool | None, forward: bool, after: bool) -> str:
    """SQL for one shape of partition range; ``lo``/``hi`` are the bounds' inclusiveness (None: open)."""
    sql = f"SELECT sk, val FROM {items} WHERE tbl = $1 AND h = $2 AND pk = $3"
    n = 4
    for bound, inclusive in (("sk >=", lo), ("sk <=", hi)):
        if inclusive is not None:
            sql += f" AND {bound if inclusive else bound[:-1]} ${n}"
            n += 1
    if after:
        sql += f" AND sk {'>' if forward else '<'} ${n}"
        n += 1
    return sql + f" ORDER BY sk{'' if forward else ' DESC'} LIMIT ${n}"


class _Sql:
    """The statements of one schema."""

    def __init__(self, schema: str, partitions: int) -> None:
        s = f'"{schema}"'
        self.items = f"{s}.items"
        self.ddl = [
            f"CREATE SCHEMA IF NOT EXISTS {s}",
            f"CREATE TABLE IF NOT EXISTS {s}.tables (name text PRIMARY KEY, def bytea NOT NULL)",
            f"CREATE TABLE IF NOT EXISTS {s}.items (tbl text NOT NULL, h int8 NOT NULL, pk bytea NOT NULL,"
            " sk bytea NOT NULL, val bytea NOT NULL, PRIMARY KEY (tbl, h, pk, sk))"
            + (" PARTITION BY HASH (h)" if partitions else ""),
        ]
        self.ddl += [
            f"CREATE TABLE IF NOT EXISTS {s}.items_p{i} PARTITION OF {s}.items"
            f" FOR VALUES WITH (MODULUS {partitions}, REMAINDER {i})"
            for i in range(partitions)
        ]
        # The change log (accelerator.core.changelog): records by (table, sequence), each table's last sequence.
        self.log_ddl = [
            f"CREATE TABLE IF NOT EXISTS {s}.log (tbl text NOT NULL, seq int8 NOT NULL, rec bytea NOT NULL,"
            " PRIMARY KEY (tbl, seq))",
            f"CREATE TABLE IF NOT EXISTS {s}.log_heads (tbl text PRIMARY KEY, seq int8 NOT NULL)",
        ]
        # Taking the head row's lock orders every logging transaction of a table by commit; it is the last
        # statement before COMMIT, so the lock is held only for the commit itself.
        self.advance_head = (
            f"INSERT INTO {s}.log_heads AS h (tbl, seq) VALUES ($1, $2) ON CONFLICT (tbl)"
            " DO UPDATE SET seq = h.seq + EXCLUDED.seq RETURNING seq"
        )
        self.append = (
            f"INSERT INTO {s}.log (tbl, seq, rec) SELECT * FROM unnest($1::text[], $2::int8[], $3::bytea[])"
        )
        self.read_log = f"SELECT seq, rec FROM {s}.log WHERE tbl = $1 AND seq > $2 ORDER BY seq LIMIT $3"
        self.log_head = f"SELECT seq FROM {s}.log_heads WHERE tbl = $1"
        self.trim_log = f"DELETE FROM {s}.log WHERE tbl = $1 AND seq < $2"
        self.drop = f"DROP SCHEMA IF EXISTS {s} CASCADE"
        self.create_table = (
            f"INSERT INTO {s}.tables (name, def) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING name"
        )
        self.delete_table = f"DELETE FROM {s}.tables WHERE name = $1 RETURNING name"
        self.delete_items = f"DELETE FROM {s}.items WHERE tbl = $1"
        self.get_table = f"SELECT def FROM {s}.tables WHERE name = $1"
        self.list_tables = f"SELECT name FROM {s}.tables"
        self.get = f"SELECT val FROM {s}.items WHERE tbl = $1 AND h = $2 AND pk = $3 AND sk = $4"
        self.get_many = (
            f"SELECT k.ord, i.val FROM {_KEYS} WITH ORDINALITY AS k(tbl, h, pk, sk, ord)"
            f" JOIN {s}.items i ON i.tbl = k.tbl AND i.h = k.h AND i.pk = k.pk AND i.sk = k.sk"
        )
        self.read = (
            f"SELECT k.ord, t.name IS NOT NULL, i.val FROM {_KEYS} WITH ORDINALITY AS k(tbl, h, pk, sk, ord)"
            f" LEFT JOIN {s}.tables t ON t.name = k.tbl"
            f" LEFT JOIN {s}.items i ON i.tbl = k.tbl AND i.h = k.h AND i.pk = k.pk AND i.sk = k.sk"
        )
        upsert = " ON CONFLICT (tbl, h, pk, sk) DO UPDATE SET val = EXCLUDED.val"
        self.put = f"INSERT INTO {s}.items (tbl, h, pk, sk, val) VALUES ($1, $2, $3, $4, $5)" + upsert
        self.put_many = (
            f"INSERT INTO {s}.items (tbl, h, pk, sk, val)"
            " SELECT * FROM unnest($1::text[], $2::int8[], $3::bytea[], $4::bytea[], $5::bytea[])" + upsert
        )
        self.delete = f"DELETE FROM {s}.items WHERE tbl = $1 AND h = $2 AND pk = $3 AND sk = $4"
        self.delete_many = (
            f"DELETE FROM {s}.items i USING {_KEYS} AS k(tbl, h, pk, sk)"
            " WHERE i.tbl = k.tbl AND i.h = k.h AND i.pk = k.pk AND i.sk = k.sk"
        )
        self.scan = (
            f"SELECT pk, sk, val FROM {s}.items WHERE tbl = $1 AND h >= $2 AND h < $3"
            " ORDER BY h, pk, sk LIMIT $4"
        )
        self.scan_after = (
            f"SELECT pk, sk, val FROM {s}.items WHERE tbl = $1 AND h >= $2 AND h < $3"
            " AND (h, pk, sk) > ($4, $5, $6) ORDER BY h, pk, sk LIMIT $7"
        )


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Pool reset hook: the session holds nothing to reset (locks are transaction-scoped), so skip the
    default reset query and its round trip on every release; an open transaction is still rolled back."""


class PostgresStorage:
    """The ``Storage`` contract over PostgreSQL; safe for many processes sharing one schema."""

    def __init__(
        self,
        dsn: str = DEFAULT_DSN,
        *,
        schema: str = "accelerator",
        pool_size: int = 10,
        partitions: int = 0,
        application_name: str = "accelerator",
        connect_timeout: float = 5.0,
        command_timeout: float = 10.0,
        lock_timeout: float = 5.0,
        synchronous_commit: str | None = None,
        retry: RetryPolicy | Mapping[str, Any] | None = None,
        batch_slots: int | None = None,
    ) -> None:
        if not _SCHEMA_NAME.match(schema):
            raise ValueError(f"schema must match {_SCHEMA_NAME.pattern}, not {schema!r}")
        if pool_size < 1:
            raise ValueError("pool_size must be at least 1")
        if batch_slots is not None and not 1 <= batch_slots <= pool_size:
            raise ValueError("batch_slots must be between 1 and pool_size")
        if partitions < 0 or partitions == 1:
            raise ValueError("partitions must be 0 (no partitioning) or at least 2")
        self.dsn = dsn
        self.schema = schema
        self.pool_size = pool_size
        self.partitions = partitions
        self.application_name = application_name
        self.connect_timeout = connect_timeout
        self.command_timeout = command_timeout
        self.lock_timeout = lock_timeout
        self.synchronous_commit = synchronous_commit
        self.retry = RetryPolicy.of(retry, RetryPolicy(max_attempts=8, base=0.002, cap=0.1))
        self._sql = _Sql(schema, partitions)
        # Write transactions in flight at once, each on a pooled connection; units waiting share the next one.
        # Fewer than the pool: a commit waits on the WAL flush, so fewer, fuller transactions write more per
        # second (bench.write_throughput) and the rest of the pool stays free for reads.
        self.batch_slots = batch_slots if batch_slots is not None else min(DEFAULT_BATCH_SLOTS, pool_size)
        self._group = GroupCommit(self._run_batch, slots=self.batch_slots)
        self._lock_key = hashlib.blake2b(schema.encode(), digest_size=16).digest()
        self._lock_space = _signed64(b"tables", self._lock_key) >> 32  # a signed int4
        self._pool: asyncpg.Pool | None = None

    # ----- lifecycle

    async def open(self) -> None:
        if self._pool is not None:
            return
        await enter_task()
        options: dict[str, Any] = {}
        settings = {"application_name": self.application_name, "lock_timeout": str(int(self.lock_timeout * 1000))}
        if self.synchronous_commit is not None:
            settings["synchronous_commit"] = self.synchronous_commit
        if "reset" in inspect.signature(asyncpg.create_pool).parameters:  # asyncpg >= 0.30
            options["reset"] = _keep_session
        try:
            pool = await asyncpg.create_pool(
                self.dsn,
                min_size=min(2, self.pool_size),
                max_size=self.pool_size,
                timeout=self.connect_timeout,
                command_timeout=self.command_timeout,
                server_settings=settings,
                **options,
            )
        except _DRIVER_ERRORS as exc:
            raise BackendUnavailable(f"postgres: cannot connect: {type(exc).__name__}: {exc}") from exc
        self._pool = pool
        try:
            await self._create_schema()
        except BaseException:
            await self.close()
            raise

    async def _create_schema(self) -> None:
        async with self._connection() as conn, conn.transaction():
            # Serialise concurrent first opens: CREATE ... IF NOT EXISTS races on the catalogs.
            await conn.execute(f"SELECT pg_advisory_xact_lock({self._lock_space}, 0)")
            existing = await conn.fetchval(_EXISTING_PARTITIONS, self.schema)
            ddl = self._sql.ddl
            if existing is not None and existing != self.partitions:
                log.warning(
                    "postgres: %s.items exists with partitions=%d; using it as it is (partitions=%d ignored)",
                    self.schema, existing, self.partitions,
                )
                ddl = ddl[:2]  # the schema and the tables registry only
            for statement in ddl + self._sql.log_ddl:
                await conn.execute(statement)

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        try:
            await asyncio.wait_for(pool.close(), self.command_timeout)
        except Exception:  # a graceful close failed (server gone, timeout): drop the sockets
            pool.terminate()

    async def drop(self) -> None:
        """Drop the schema and everything in it (tests and teardown; not part of ``Storage``)."""
        async with self._connection() as conn:
            await conn.execute(self._sql.drop)

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection; driver errors raised inside become BackendUnavailable."""
        if self._pool is None:
            raise BackendUnavailable("postgres: storage is not open")
        await enter_task()
        try:
            async with self._pool.acquire(timeout=self.connect_timeout) as conn:
                yield conn
        except _DRIVER_ERRORS as exc:
            raise BackendUnavailable(f"postgres: {type(exc).__name__}: {exc}") from exc

    # ----- tables

    def _table_lock(self, name: str) -> str:
        return f"{self._lock_space}, {_signed64(name.encode(), self._lock_key) >> 32}"

    async def create_table(self, table: TableDef) -> None:
        async with self._connection() as conn:
            created = await conn.fetchval(self._sql.create_table, table.name, table.to_bytes())
        if created is None:
            raise TableExists(table.name)

    async def delete_table(self, name: str) -> None:
        async with self._connection() as conn, conn.transaction():
            # Exclusive against the shared lock every transact takes on its tables: no write races the drop.
            await conn.execute(f"SELECT pg_advisory_xact_lock({self._table_lock(name)})")
            deleted = await conn.fetchval(self._sql.delete_table, name)
            if deleted is not None:
                await conn.execute(self._sql.delete_items, name)
        if deleted is None:
            raise TableMissing(name)

    async def get_table(self, name: str) -> TableDef | None:
        async with self._connection() as conn:
            data = await conn.fetchval(self._sql.get_table, name)
        return None if data is None else TableDef.from_bytes(data)

    async def list_tables(self) -> list[str]:
        async with self._connection() as conn:
            rows = await conn.fetch(self._sql.list_tables)
        return sorted(row[0] for row in rows)

    # ----- reads

    async def get(self, table: str, pk: bytes, sk: bytes) -> bytes | None:
        async with self._connection() as conn:
            value: bytes | None = await conn.fetchval(self._sql.get, table, partition_hash(pk), pk, sk)
        return value

    async def get_many(self, keys: Sequence[KeyRef]) -> list[bytes | None]:
        if not keys:
            return []
        async with self._connection() as conn:
            rows = await conn.fetch(self._sql.get_many, *_columns(keys))  # one statement: one snapshot
        out: list[bytes | None] = [None] * len(keys)
        for ordinal, value in rows:
            out[ordinal - 1] = value
        return out

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
        if limit <= 0:
            return []
        sql = _query_sql(
            self._sql.items,
            None if lo is None else lo.inclusive,
            None if hi is None else hi.inclusive,
            forward,
            start is not None,
        )
        args: list[Any] = [table, partition_hash(pk), pk]
        args += [b.key for b in (lo, hi) if b is not None]
        if start is not None:
            args.append(start)
        async with self._connection() as conn:
            rows = await conn.fetch(sql, *args, limit)
        return [(sk, val) for sk, val in rows]

    async def scan(
        self,
        table: str,
        *,
        segment: int,
        total_segments: int,
        start: tuple[bytes, bytes] | None,
        limit: int,
    ) -> list[tuple[bytes, bytes, bytes]]:
        if limit <= 0:
            return []
        lo, hi = segment_bounds(segment, total_segments)
        async with self._connection() as conn:
            if start is None:
                rows = await conn.fetch(self._sql.scan, table, lo, hi, limit)
            else:
                pk, sk = start
                rows = await conn.fetch(self._sql.scan_after, table, lo, hi, partition_hash(pk), pk, sk, limit)
        return [(pk, sk, val) for pk, sk, val in rows]

    async def snapshot(self, table: str) -> _PostgresSnapshot:
        """The table's items as of now, read later from a transaction of its own (``Snapshots``)."""
        return await _PostgresSnapshot.open(self, table)

    # ----- the atomic unit

    def _lock_statement(self, keys: Sequence[KeyRef]) -> str:
        """BEGIN plus every lock in a deterministic order: shared table locks, then key locks."""
        tables = sorted({self._table_lock(ref.table) for ref in keys})
        items = sorted({self._key_lock(ref) for ref in keys})
        parts = ["BEGIN"]
        parts += [f"SELECT pg_advisory_xact_lock_shared({t})" for t in tables]
        parts += [f"SELECT pg_advisory_xact_lock({i})" for i in items]
        return "; ".join(parts)

    def _key_lock(self, ref: KeyRef) -> int:
        data = b"".join((ref.table.encode(), b"\0", len(ref.pk).to_bytes(4, "big"), ref.pk, ref.sk))
        return _signed64(data, self._lock_key)

    async def transact(self, keys: Sequence[KeyRef], apply: ApplyFn) -> list[bytes | None]:
        refs = list(keys)
        if not refs:
            check_new_values(refs, apply([]))
            return []
        return await self._group.submit(refs, apply)

    async def _run_batch(self, batch: list[Unit]) -> list[list[bytes | None] | BaseException]:
        """One transaction for every unit of ``batch`` (see backends.group_commit), retried as a whole."""
        refs = [ref for unit in batch for ref in unit.refs]
        begin = self._lock_statement(refs)
        columns = _columns(refs)
        async for attempt in self.retry.tries():
            async with self._connection() as conn:
                try:
                    return await self._attempt(conn, begin, batch, columns)
                except asyncpg.PostgresError as exc:
                    if getattr(exc, "sqlstate", None) not in _RETRY_STATES:
                        raise
                    await _rollback(conn)
                    if attempt + 1 < self.retry.max_attempts:
                        continue
                    raise TransactionConflictException(
                        f"Transaction is in conflict with other transactions ({exc.sqlstate})"
                    ) from exc
        raise AssertionError("unreachable: RetryPolicy.max_attempts must be at least 1")

    async def _attempt(
        self,
        conn: asyncpg.Connection,
        begin: str,
        batch: list[Unit],
        columns: tuple[list[Any], ...],
    ) -> list[list[bytes | None] | BaseException]:
        """One locked try of a batch: each unit's outcome is its old values, or the error of its ``apply`` (or
        its missing table), which leaves that unit's writes out; the others commit together."""
        await conn.execute(begin)
        rows = await conn.fetch(self._sql.read, *columns)
        count = len(columns[0])
        old: list[bytes | None] = [None] * count
        missing: list[str | None] = [None] * count
        for ordinal, table_exists, value in rows:
            old[ordinal - 1] = value
            if not table_exists:
                missing[ordinal - 1] = columns[0][ordinal - 1]
        outcomes: list[list[bytes | None] | BaseException] = []
        write_refs: list[KeyRef] = []
        write_values: list[Any] = []
        records: list[tuple[str, bytes, bytes]] = []
        offset = 0
        for unit in batch:
            n = len(unit.refs)
            unit_old, gone = old[offset:offset + n], next((m for m in missing[offset:offset + n] if m), None)
            offset += n
            try:
                if gone is not None:
                    raise TableMissing(gone)
                new, logged = split_logged(unit.refs, check_new_values(unit.refs, unit.apply(list(unit_old))))
            except Exception as exc:  # noqa: BLE001 - apply may raise anything; it belongs to its caller
                outcomes.append(exc)
                continue
            outcomes.append(unit_old)
            write_refs += unit.refs
            write_values += new
            records += logged
        if write_refs:
            await self._write(conn, write_refs, write_values)
        if records:
            await self._append(conn, records)
        await conn.execute("COMMIT")
        return outcomes

    async def _append(self, conn: asyncpg.Connection, records: list[tuple[str, bytes, bytes]]) -> None:
        """Advance each table's head (sorted, so two units cannot deadlock on heads) and insert the records."""
        per_table: dict[str, list[bytes]] = {}
        for name, _pk, record in records:
            per_table.setdefault(name, []).append(record)
        names: list[str] = []
        seqs: list[int] = []
        recs: list[bytes] = []
        for name in sorted(per_table):
            batch = per_table[name]
            head = await conn.fetchval(self._sql.advance_head, name, len(batch))
            names += [name] * len(batch)
            seqs += range(head - len(batch) + 1, head + 1)
            recs += batch
        await conn.execute(self._sql.append, names, seqs, recs)

    # ----- the change log (see accelerator.core.changelog)

    async def read_log(self, table: str, after: int, limit: int) -> list[tuple[int, bytes]]:
        if limit <= 0:
            return []
        async with self._connection() as conn:
            rows = await conn.fetch(self._sql.read_log, table, after, limit)
        return [(seq, rec) for seq, rec in rows]

    async def log_head(self, table: str) -> int:
        async with self._connection() as conn:
            head = await conn.fetchval(self._sql.log_head, table)
        return 0 if head is None else int(head)

    async def trim_log(self, table: str, before: int) -> int:
        async with self._connection() as conn:
            status = await conn.execute(self._sql.trim_log, table, before)
        return int(status.split()[-1])

    async def _write(self, conn: asyncpg.Connection, refs: list[KeyRef], new: Sequence[Any]) -> None:
        latest: dict[tuple[str, bytes, bytes], Any] = {}
        for ref, value in zip(refs, new, strict=True):
            if value is not KEEP:
                latest[(ref.table, ref.pk, ref.sk)] = value  # a key named twice: the last value wins
        puts = [(t, partition_hash(pk), pk, sk, v) for (t, pk, sk), v in latest.items() if v is not None]
        deletes = [(t, partition_hash(pk), pk, sk) for (t, pk, sk), v in latest.items() if v is None]
        if len(puts) == 1:
            await conn.execute(self._sql.put, *puts[0])
        elif puts:
            await conn.execute(self._sql.put_many, *map(list, zip(*puts, strict=True)))
        if len(deletes) == 1:
            await conn.execute(self._sql.delete, *deletes[0])
        elif deletes:
            await conn.execute(self._sql.delete_many, *map(list, zip(*deletes, strict=True)))


def _columns(keys: Sequence[KeyRef]) -> tuple[list[Any], ...]:
    """The four key columns of ``keys`` as arrays, for the unnest(...) statements."""
    return (
        [ref.table for ref in keys],
        [partition_hash(ref.pk) for ref in keys],
        [ref.pk for ref in keys],
        [ref.sk for ref in keys],
    )


async def _rollback(conn: asyncpg.Connection) -> None:
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")



class _PostgresSnapshot:
    """A REPEATABLE READ, read-only transaction on a connection of its own, held until ``close``."""

    def __init__(self, storage: PostgresStorage, conn: asyncpg.Connection, tx: Any, table: str) -> None:
        self.storage = storage
        self.conn: asyncpg.Connection | None = conn
        self.tx = tx
        self.table = table
        self.lo, self.hi = segment_bounds(0, 1)

    @classmethod
    async def open(cls, storage: PostgresStorage, table: str) -> _PostgresSnapshot:
        pool = storage._pool
        if pool is None:
            raise BackendUnavailable("postgres: storage is not open")
        await enter_task()
        try:
            conn = await pool.acquire(timeout=storage.connect_timeout)
        except _DRIVER_ERRORS as exc:
            raise BackendUnavailable(f"postgres: {type(exc).__name__}: {exc}") from exc
        try:
            tx = conn.transaction(isolation="repeatable_read", readonly=True)
            await tx.start()
            await conn.fetchval("SELECT 1")  # the first statement fixes the snapshot
        except BaseException as exc:
            await pool.release(conn)
            if isinstance(exc, _DRIVER_ERRORS):
                raise BackendUnavailable(f"postgres: {type(exc).__name__}: {exc}") from exc
            raise
        return cls(storage, conn, tx, table)

    async def scan(self, start: tuple[bytes, bytes] | None, limit: int) -> list[tuple[bytes, bytes, bytes]]:
        if self.conn is None:
            raise BackendUnavailable("postgres: snapshot is closed")
        sql = self.storage._sql
        try:
            if start is None:
                rows = await self.conn.fetch(sql.scan, self.table, self.lo, self.hi, limit)
            else:
                pk, sk = start
                rows = await self.conn.fetch(sql.scan_after, self.table, self.lo, self.hi, partition_hash(pk), pk,
                                             sk, limit)
        except _DRIVER_ERRORS as exc:
            raise BackendUnavailable(f"postgres: {type(exc).__name__}: {exc}") from exc
        return [(pk, sk, val) for pk, sk, val in rows]

    async def close(self) -> None:
        conn, self.conn = self.conn, None
        if conn is None:
            return
        try:
            await self.tx.rollback()
        except _DRIVER_ERRORS:
            log.warning("postgres: could not end a snapshot's transaction", exc_info=True)
        pool = self.storage._pool
        if pool is not None:
            await pool.release(conn)
