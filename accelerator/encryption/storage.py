"""EncryptedStorage: a ``Storage`` that seals every value on its way to the backend and opens it on the way back.

It sits between the engine (above ``IndexedStorage``) and the backend, so items, index entries and the
engine's own records (``!meta``: TTL settings, tags, transaction tokens) all reach the backend sealed; keys
stay in the order-preserving encoding so partition ranges and scans still work. A cache hit never gets here.

Change-log records (``Logged`` results of ``apply``) are sealed too, bound to their table's log: the backend
numbers a record inside its unit, so its sequence cannot be part of the associated data, and ``read_log``
returns no item key. Records are immutable, so ``rekey`` cannot re-seal them: it keeps a key that still
seals a record in the canary's list until retention trims the record.

A canary record in the hidden table ``!encryption`` lists the ids of the keys the store's data is sealed
with; opening checks it against the key file, so a wrong or incomplete key file is one startup error line,
never garbage or a 500 at the first read. ``PlainStorage`` is the same check for a server started with no
key file on a store that has one.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Sequence
from typing import Any, cast

import orjson

from accelerator.core.changelog import ChangeLog, Logged
from accelerator.core.errors import InternalServerError, TableExists
from accelerator.core.keys import KeySchema
from accelerator.core.passthrough import PassThroughStorage
from accelerator.core.protocols import KEEP, ApplyFn, Blind, Bound, KeyRef, Storage
from accelerator.core.tables import TableDef
from accelerator.encryption.codec import SealBroken, seal, sealed_key_id, unseal
from accelerator.encryption.keys import EncryptionError, KeyRing

__all__ = ["CANARY", "ENCRYPTION_TABLE", "EncryptedStorage", "PlainStorage", "log_address"]

log = logging.getLogger("accelerator.encryption")

ENCRYPTION_TABLE = "!encryption"  # "!" is not allowed in DynamoDB table names: never listed, never reachable
CANARY = KeyRef(ENCRYPTION_TABLE, b"canary", b"")
_DEFINITION = TableDef(name=ENCRYPTION_TABLE, key=KeySchema("k", "S"), attribute_definitions=(), created=0.0)
_REPORTED_MAX = 1024  # addresses whose broken seal was logged (each is logged once per process)


def log_address(table: str) -> str:
    """The table name a change-log record of ``table`` is sealed for (NUL is in no table name)."""
    return table + "\x00log"


class EncryptedStorage(PassThroughStorage):
    """Seals values with the key ring's newest key; opens values sealed with any of its keys."""

    def __init__(self, inner: Storage, ring: KeyRing, *, migrate: bool = False) -> None:
        self.inner = inner
        self.ring = ring
        self.migrate = migrate  # `accelerator rekey` on a store written without encryption: plaintext opens
        self.broken = 0  # values that failed to open (exported as a metric)
        self.key_ids: list[str] = []  # ids the canary says the data is sealed with, as read at open
        self._reported: set[KeyRef] = set()

    async def open(self) -> None:
        await self.inner.open()
        try:
            await self._check_canary()
        except EncryptionError:
            await self.inner.close()  # the process exits on this error: let the backend's threads end
            raise

    # ----- the canary

    async def _check_canary(self) -> None:
        with contextlib.suppress(TableExists):
            await self.inner.create_table(_DEFINITION)
        data = await self.inner.get(CANARY.table, CANARY.pk, CANARY.sk)
        if data is None:
            if self.migrate:
                return  # rekey writes the canary once every value is sealed
            others = [name for name in await self.inner.list_tables() if name != ENCRYPTION_TABLE]
            if others:
                raise EncryptionError("the store holds data written without encryption: stop every server and "
                                      "run `accelerator rekey --config FILE` once to seal it")
            await self.write_canary(lambda ids: ids or [self.ring.newest.hex()])
            data = await self.inner.get(CANARY.table, CANARY.pk, CANARY.sk)
            assert data is not None
        self.key_ids = self._read_canary(data)
        missing = [k for k in self.key_ids if k not in self.ring.ids()]
        if missing:
            raise EncryptionError(f"the store has data sealed with key {', '.join(missing)}, which is not in "
                                  f"encryption key file {self.ring.source} (its keys: {', '.join(self.ring.ids())})")
        newest = self.ring.newest.hex()
        if newest not in self.key_ids:
            # This process seals with a new key: record it before the first value it seals.
            await self.write_canary(lambda ids: ids if newest in ids else [*ids, newest])

    def _read_canary(self, data: bytes) -> list[str]:
        ident = sealed_key_id(data)
        if ident is None:
            raise EncryptionError(f"the encryption canary ({ENCRYPTION_TABLE}) is damaged: not a sealed value")
        if ident not in self.ring.ciphers:
            raise EncryptionError(f"the store is encrypted with key {ident.hex()}, which is not in encryption key "
                                  f"file {self.ring.source} (its keys: {', '.join(self.ring.ids())})")
        try:
            plain = unseal(self.ring, CANARY.table, CANARY.pk, CANARY.sk, data)
        except SealBroken as exc:
            raise EncryptionError(f"the encryption canary ({ENCRYPTION_TABLE}) does not open: {exc}") from None
        try:
            record = orjson.loads(plain)
        except orjson.JSONDecodeError:
            record = None
        ids = record.get("keys") if isinstance(record, dict) else None
        if not isinstance(ids, list) or not all(isinstance(k, str) for k in ids):
            raise EncryptionError(f"the encryption canary ({ENCRYPTION_TABLE}) is damaged: no key list")
        return ids

    async def write_canary(self, change: Callable[[list[str]], list[str]]) -> list[str]:
        """Atomically replace the canary's key-id list with ``change(current_ids)``; returns the new list."""
        written: list[str] = []

        def apply(olds: list[bytes | None]) -> list[Any]:
            current = self._read_canary(olds[0]) if olds[0] is not None else []
            ids = list(change(current))
            written[:] = ids
            if ids == current and olds[0] is not None:
                return [KEEP]
            plain = orjson.dumps({"keys": ids})
            return [seal(self.ring, CANARY.table, CANARY.pk, CANARY.sk, plain)]

        await self.inner.transact([CANARY], apply)
        self.key_ids = written
        return written

    # ----- opening and sealing

    def _open(self, table: str, pk: bytes, sk: bytes, data: bytes) -> bytes:
        try:
            return unseal(self.ring, table, pk, sk, data)
        except SealBroken as exc:
            if self.migrate and sealed_key_id(data) is None:
                return data  # written before encryption was turned on; rekey seals it now
            self._report(KeyRef(table, pk, sk), exc)
            raise InternalServerError("Internal server error: a stored value failed its integrity check") from None

    def open_value(self, table: str, pk: bytes, sk: bytes, data: bytes) -> bytes:
        """A stored value opened (for readers that get values from the backend directly, e.g. a snapshot)."""
        return self._open(table, pk, sk, data)

    def _report(self, ref: KeyRef, exc: SealBroken) -> None:
        self.broken += 1
        if ref in self._reported:
            return
        if len(self._reported) >= _REPORTED_MAX:
            self._reported.clear()
        self._reported.add(ref)
        log.error("stored value of table %s, key %s/%s does not open: %s", ref.table, ref.pk.hex(), ref.sk.hex(),
                  exc)

    def _seal_all(self, refs: Sequence[KeyRef], values: Sequence[Any]) -> list[Any]:
        return [self._seal(ref, v) for ref, v in zip(refs, values, strict=True)]

    def _seal(self, ref: KeyRef, value: Any) -> Any:
        kind = type(value)
        if kind is bytes:
            return seal(self.ring, ref.table, ref.pk, ref.sk, value)
        if kind is Logged:
            inner = value.value
            return Logged(None if inner is None else seal(self.ring, ref.table, ref.pk, ref.sk, inner),
                          seal(self.ring, log_address(ref.table), b"", b"", value.record))
        if value is None or value is KEEP:
            return value
        # A value kind this codec does not know would reach the backend unsealed: refuse it loudly instead.
        raise TypeError(f"apply must return bytes, None, KEEP or Logged, not {kind.__name__}")

    def _open_all(self, refs: Sequence[KeyRef], values: Sequence[bytes | None]) -> list[bytes | None]:
        return [None if v is None else self._open(ref.table, ref.pk, ref.sk, v) for ref, v in zip(refs, values,
                                                                                                   strict=True)]

    # ----- the Storage contract

    async def list_tables(self) -> list[str]:
        return [name for name in await self.inner.list_tables() if name != ENCRYPTION_TABLE]

    async def get(self, table: str, pk: bytes, sk: bytes) -> bytes | None:
        data = await self.inner.get(table, pk, sk)
        return None if data is None else self._open(table, pk, sk, data)

    async def get_many(self, keys: Sequence[KeyRef]) -> list[bytes | None]:
        return self._open_all(keys, await self.inner.get_many(keys))

    async def query(self, table: str, pk: bytes, *, lo: Bound | None, hi: Bound | None, forward: bool,
                    start: bytes | None, limit: int) -> list[tuple[bytes, bytes]]:
        rows = await self.inner.query(table, pk, lo=lo, hi=hi, forward=forward, start=start, limit=limit)
        return [(sk, self._open(table, pk, sk, value)) for sk, value in rows]

    async def scan(self, table: str, *, segment: int, total_segments: int, start: tuple[bytes, bytes] | None,
                   limit: int) -> list[tuple[bytes, bytes, bytes]]:
        rows = await self.inner.scan(table, segment=segment, total_segments=total_segments, start=start, limit=limit)
        return [(pk, sk, self._open(table, pk, sk, value)) for pk, sk, value in rows]

    async def transact(self, keys: Sequence[KeyRef], apply: ApplyFn) -> list[bytes | None]:
        refs = list(keys)
        if isinstance(apply, Blind):  # sealed once, still blind: the backend may skip its read
            return self._open_all(refs, await self.inner.transact(refs, Blind(tuple(self._seal_all(refs, apply.values)))))
        last: list[tuple[list[bytes | None], list[bytes | None]]] = []  # (sealed olds, opened) of the last run

        def sealed_apply(olds: list[bytes | None]) -> Sequence[Any]:
            plain = self._open_all(refs, olds)
            last[:] = [(olds, plain)]
            return self._seal_all(refs, apply(plain))

        result = await self.inner.transact(refs, sealed_apply)
        if last and last[0][0] == result:
            return last[0][1]  # the committed run's values, opened once already
        return self._open_all(refs, result)

    # ----- the ChangeLog reading API (records opened; sequence numbers and trimming are the backend's)

    async def read_log(self, table: str, after: int, limit: int) -> list[tuple[int, bytes]]:
        rows = await self.raw_log(table, after, limit)
        address = log_address(table)
        return [(seq, self._open(address, b"", b"", record)) for seq, record in rows]

    async def raw_log(self, table: str, after: int, limit: int) -> list[tuple[int, bytes]]:
        """Records as stored (sealed); rekey reads their key ids."""
        return await cast(ChangeLog, self.inner).read_log(table, after, limit)

    # ----- rekey

    async def reseal(self, table: str, pk: bytes, sk: bytes) -> bool:
        """Seal one stored value again with the newest key unless it already is; True when rewritten."""
        ref = KeyRef(table, pk, sk)
        changed = [False]

        def apply(olds: list[bytes | None]) -> list[Any]:
            data = olds[0]
            if data is None or sealed_key_id(data) == self.ring.newest:
                changed[0] = False
                return [KEEP]
            changed[0] = True
            return [seal(self.ring, table, pk, sk, self._open(table, pk, sk, data))]

        await self.inner.transact([ref], apply)
        return changed[0]


class PlainStorage(PassThroughStorage):
    """A storage without encryption that refuses to open a store whose data is sealed (no key file given)."""

    def __getattr__(self, name: str) -> Any:  # the backend's extras (snapshots, ...): nothing to open there
        return getattr(self.inner, name)

    async def open(self) -> None:
        await self.inner.open()
        if await self.inner.get_table(ENCRYPTION_TABLE) is not None:
            await self.inner.close()
            raise EncryptionError("the store is encrypted: set [backend] encryption_key_file to its key file")
