"""Encryption at rest, in process: the sealed format, the key file, EncryptedStorage, the canary and rekey.

The end-to-end proofs (a real server on every backend, raw storage grepped) are in test_encryption_e2e.py.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import orjson
import pytest

from accelerator.app import build_store
from accelerator.cli import main as cli_main
from accelerator.config import BackendConfig, Config, load_config
from accelerator.core.changelog import LogRecord
from accelerator.core.errors import InternalServerError
from accelerator.core.keys import KeySchema
from accelerator.core.protocols import KEEP, KeyRef, Storage
from accelerator.core.tables import TableDef
from accelerator.encryption import (
    ENCRYPTION_TABLE,
    EncryptedStorage,
    EncryptionError,
    KeyRing,
    PlainStorage,
    generate_key,
    load_key_file,
    rekey,
)
from accelerator.encryption.codec import HEADER, OVERHEAD, SealBroken, seal, sealed_key_id, unseal
from accelerator.encryption.keys import key_id
from accelerator.engine import TableEngine
from accelerator.engine.changelog import LoggingStorage
from accelerator.engine.snapshot import open_view
from backends.memory import MemoryStorage
from backends.sqlite import SqliteStorage

K1, K2 = bytes(range(32)), bytes(range(100, 132))
RING = KeyRing((K1,))
TABLE = TableDef(name="things", key=KeySchema("pk", "S", "sk", "S"), attribute_definitions=(("pk", "S"),),
                 created=0.0)
MARKER = b'{"v":{"S":"PLAINTEXT-MARKER"}}'


def run(body: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(body())


async def put(storage: Storage, table: str, pk: bytes, sk: bytes, value: bytes | None) -> None:
    await storage.transact([KeyRef(table, pk, sk)], lambda olds: [value])


# ----- the sealed format


def test_seal_round_trip_and_format() -> None:
    sealed = seal(RING, "t", b"pk", b"sk", MARKER)
    assert sealed[0] == 1 and sealed[1:5] == key_id(K1) and len(sealed) == len(MARKER) + OVERHEAD
    assert MARKER not in sealed and b"PLAINTEXT" not in sealed
    assert unseal(RING, "t", b"pk", b"sk", sealed) == MARKER
    assert seal(RING, "t", b"pk", b"sk", MARKER) != sealed  # a fresh nonce each time


@pytest.mark.parametrize("address", [("u", b"pk", b"sk"), ("t", b"pK", b"sk"), ("t", b"pk", b"sK"),
                                     ("t", b"pks", b""), ("tp", b"k", b"sk")])
def test_a_sealed_value_does_not_open_at_another_address(address: tuple[str, bytes, bytes]) -> None:
    sealed = seal(RING, "t", b"pk", b"sk", MARKER)
    with pytest.raises(SealBroken, match="authentication failed"):
        unseal(RING, *address, sealed)


@pytest.mark.parametrize("position", [0, 1, 5, HEADER, -1])
def test_any_flipped_byte_is_detected(position: int) -> None:
    sealed = bytearray(seal(RING, "t", b"pk", b"", MARKER))
    sealed[position] ^= 0x01
    with pytest.raises(SealBroken):
        unseal(RING, "t", b"pk", b"", bytes(sealed))


@pytest.mark.parametrize("data, reason", [(MARKER, "not a sealed value"), (b"", "not a sealed value"),
                                          (b"\x01" + b"\x00" * 31, "not a sealed value")])
def test_what_is_not_a_sealed_value(data: bytes, reason: str) -> None:
    assert sealed_key_id(data) is None
    with pytest.raises(SealBroken, match=reason):
        unseal(RING, "t", b"pk", b"", data)


def test_a_value_sealed_by_an_unknown_key_names_the_key() -> None:
    sealed = seal(KeyRing((K2,)), "t", b"pk", b"", MARKER)
    with pytest.raises(SealBroken, match=f"key {key_id(K2).hex()}, which is not in the key file"):
        unseal(RING, "t", b"pk", b"", sealed)
    assert unseal(KeyRing((K1, K2)), "t", b"pk", b"", sealed) == MARKER  # an older key still opens


# ----- the key file


def test_key_file_newest_first_with_comments(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    new, old = generate_key(), generate_key()
    path.write_text(f"# rotated today\n{new}\n\n  {old}  \n")
    ring = load_key_file(path)
    assert ring.keys == (base64.b64decode(new), base64.b64decode(old))
    assert ring.newest == key_id(base64.b64decode(new))
    assert len(base64.b64decode(generate_key())) == 32 and generate_key() != generate_key()


@pytest.mark.parametrize("text, message", [
    ("", "holds no key"),
    ("# only a comment\n", "holds no key"),
    ("not base64!\n", "line 1: not base64"),
    (base64.b64encode(b"k" * 16).decode() + "\n", "line 1: a key must be 32 bytes (44 base64 characters), not 16"),
    (base64.b64encode(b"k" * 32).decode()[:-2] + "\n", "line 1: not base64"),
    (base64.b64encode(b"k" * 32).decode() + "\n" + base64.b64encode(b"k" * 32).decode(), "appears twice"),
    ("\u00e9\n", "cannot be read"),
])
def test_bad_key_files_are_one_line_errors(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "keys"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(EncryptionError, match=message.replace("(", r"\(").replace(")", r"\)")) as info:
        load_key_file(path)
    assert "\n" not in str(info.value)


def test_a_key_file_others_can_read_is_warned_about(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "keys"
    path.write_text(generate_key() + "\n")
    path.chmod(0o600)
    with caplog.at_level(logging.WARNING, logger="accelerator.encryption"):
        load_key_file(path)
        assert not caplog.records
        path.chmod(0o644)
        load_key_file(path)
    assert [r.getMessage() for r in caplog.records] == [
        f"encryption key file {path} can be read by other users (mode 644): chmod 600 it"]


def test_a_missing_key_file_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(EncryptionError, match="does not exist .make one: accelerator keygen > FILE."):
        load_key_file(tmp_path / "absent")


# ----- EncryptedStorage over a backend


def test_every_value_reaches_the_backend_sealed_and_comes_back_plain() -> None:
    inner = MemoryStorage()

    async def body() -> None:
        storage = EncryptedStorage(inner, RING)
        await storage.open()
        await storage.create_table(TABLE)
        for i in range(5):
            await put(storage, "things", b"p", b"s%d" % i, MARKER)
        olds = await storage.transact([KeyRef("things", b"p", b"s0"), KeyRef("things", b"p", b"s9")],
                                      lambda olds: [KEEP, olds[0]])
        assert olds == [MARKER, None]
        assert await storage.get("things", b"p", b"s9") == MARKER
        rows = await storage.query("things", b"p", lo=None, hi=None, forward=False, start=None, limit=10)
        assert [sk for sk, _ in rows] == [b"s9", b"s4", b"s3", b"s2", b"s1", b"s0"]
        assert {v for _, v in rows} == {MARKER}
        scanned = await storage.scan("things", segment=0, total_segments=1, start=None, limit=100)
        assert len(scanned) == 6 and {v for _, _, v in scanned} == {MARKER}
        assert await storage.get_many([KeyRef("things", b"p", b"s1"), KeyRef("things", b"q", b"")]) == [MARKER, None]
        assert await storage.list_tables() == ["things"]  # the canary's table is hidden
        for value in await _all_values(inner):
            assert b"PLAINTEXT" not in value and sealed_key_id(value) == RING.newest

    run(body)


async def _all_values(inner: Storage) -> list[bytes]:
    out: list[bytes] = []
    for name in await inner.list_tables():
        rows = await inner.scan(name, segment=0, total_segments=1, start=None, limit=1 << 30)
        out.extend(value for _, _, value in rows)
    return out


def test_a_tampered_value_is_an_internal_error_counted_and_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    inner = MemoryStorage()

    async def body() -> None:
        storage = EncryptedStorage(inner, RING)
        await storage.open()
        await storage.create_table(TABLE)
        await put(storage, "things", b"a", b"", MARKER)
        await put(storage, "things", b"b", b"", b'{"v":{"S":"other"}}')
        moved = await inner.get("things", b"b", b"")
        await put(inner, "things", b"a", b"", moved)  # b's value copied over a's: must not read as a's
        for _ in range(3):
            with pytest.raises(InternalServerError, match="failed its integrity check"):
                await storage.get("things", b"a", b"")
        with pytest.raises(InternalServerError):
            await storage.scan("things", segment=0, total_segments=1, start=None, limit=10)
        with pytest.raises(InternalServerError):  # a write over it reads it first: refused, nothing written
            await storage.transact([KeyRef("things", b"a", b"")], lambda olds: [b"new"])
        assert await inner.get("things", b"a", b"") == moved
        assert storage.broken == 5

    with caplog.at_level(logging.ERROR, logger="accelerator.encryption"):
        run(body)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "table things, key 61/" in lines[0] and "authentication failed" in lines[0]


# ----- the canary


def test_canary_refuses_another_key_file() -> None:
    inner = MemoryStorage()

    async def body() -> None:
        await EncryptedStorage(inner, RING).open()
        with pytest.raises(EncryptionError, match=f"encrypted with key {key_id(K1).hex()}, which is not in"):
            await EncryptedStorage(inner, KeyRing((K2,))).open()
        await EncryptedStorage(inner, KeyRing((K2, K1))).open()  # a new key in front: accepted and recorded
        with pytest.raises(EncryptionError, match=f"encrypted with key {key_id(K2).hex()}, which is not in"):
            await EncryptedStorage(inner, RING).open()  # the new key was dropped again before a rekey
        k3 = bytes(range(200, 232))
        await EncryptedStorage(inner, KeyRing((k3, K2, K1))).open()
        with pytest.raises(EncryptionError, match=f"has data sealed with key {key_id(K2).hex()}, which is not in"):
            await EncryptedStorage(inner, KeyRing((k3, K1))).open()  # K2 sealed data and is gone

    run(body)


def test_canary_refuses_a_plaintext_store_and_plain_storage_refuses_an_encrypted_one() -> None:
    async def body() -> None:
        plain = MemoryStorage()
        await PlainStorage(plain).open()
        await plain.create_table(TABLE)
        with pytest.raises(EncryptionError, match="written without encryption: stop every server and run "
                                                  "`accelerator rekey"):
            await EncryptedStorage(plain, RING).open()
        sealed = MemoryStorage()
        await EncryptedStorage(sealed, RING).open()
        with pytest.raises(EncryptionError, match=r"the store is encrypted: set \[backend\] encryption_key_file"):
            await PlainStorage(sealed).open()

    run(body)


def test_canary_damage_is_a_startup_error() -> None:
    inner = MemoryStorage()

    async def body() -> None:
        await EncryptedStorage(inner, RING).open()
        canary = await inner.get(ENCRYPTION_TABLE, b"canary", b"")
        assert canary is not None
        await put(inner, ENCRYPTION_TABLE, b"canary", b"", canary[:-1] + bytes((canary[-1] ^ 1,)))
        with pytest.raises(EncryptionError, match="canary .!encryption. does not open: authentication failed"):
            await EncryptedStorage(inner, RING).open()
        await put(inner, ENCRYPTION_TABLE, b"canary", b"", b"{}")
        with pytest.raises(EncryptionError, match="damaged: not a sealed value"):
            await EncryptedStorage(inner, RING).open()
        for plain in (b"[]", b"not json", b'{"keys": [1]}'):
            await put(inner, ENCRYPTION_TABLE, b"canary", b"", seal(RING, ENCRYPTION_TABLE, b"canary", b"", plain))
            with pytest.raises(EncryptionError, match="damaged: no key list"):
                await EncryptedStorage(inner, RING).open()

    run(body)


# ----- rekey


def test_rotation_add_a_key_rekey_drop_the_old_one() -> None:
    inner = MemoryStorage()
    progress: list[str] = []

    async def body() -> None:
        old = EncryptedStorage(inner, KeyRing((K1,)))
        await old.open()
        await old.create_table(TABLE)
        for i in range(40):
            await put(old, "things", b"p%d" % i, b"", MARKER)
        both = EncryptedStorage(inner, KeyRing((K2, K1)))
        await both.open()
        await put(both, "things", b"new", b"", MARKER)  # sealed with K2 at once
        report = await rekey(both, progress.append, page=7)
        assert (report.scanned, report.resealed, report.failed) == (41, 40, 0)
        assert both.key_ids == [key_id(K2).hex()]
        again = await rekey(both, progress.append)
        assert again.resealed == 0  # a rerun rewrites nothing
        only_new = EncryptedStorage(inner, KeyRing((K2,)))
        await only_new.open()
        for i in range(40):
            assert await only_new.get("things", b"p%d" % i, b"") == MARKER
        assert {sealed_key_id(v) for v in await _all_values(inner)} == {key_id(K2)}

    run(body)
    assert progress[-1].startswith("done: 1 tables, 41 values scanned, 0 re-sealed")


def test_rekey_seals_a_store_written_without_encryption() -> None:
    inner = MemoryStorage()

    async def body() -> None:
        await inner.create_table(TABLE)
        await put(inner, "things", b"a", b"", MARKER)
        storage = EncryptedStorage(inner, RING, migrate=True)
        await storage.open()
        report = await rekey(storage, lambda line: None)
        assert report.resealed == 1
        assert all(b"PLAINTEXT" not in v for v in await _all_values(inner))
        reopened = EncryptedStorage(inner, RING)
        await reopened.open()
        assert await reopened.get("things", b"a", b"") == MARKER

    run(body)


def test_rekey_leaves_the_key_list_when_a_value_does_not_open() -> None:
    inner = MemoryStorage()

    async def body() -> None:
        storage = EncryptedStorage(inner, KeyRing((K1,)))
        await storage.open()
        await storage.create_table(TABLE)
        await put(storage, "things", b"a", b"", MARKER)
        await put(storage, "things", b"b", b"", MARKER)
        moved = await inner.get("things", b"b", b"")
        await put(inner, "things", b"a", b"", moved)
        both = EncryptedStorage(inner, KeyRing((K2, K1)))
        await both.open()
        lines: list[str] = []
        report = await rekey(both, lines.append)
        assert (report.resealed, report.failed) == (1, 1)
        assert both.key_ids == [key_id(K1).hex(), key_id(K2).hex()]
        assert "did not open with any key" in lines[-1]

    run(body)


def test_change_log_records_are_sealed_and_rekey_keeps_the_key_they_need() -> None:
    inner = MemoryStorage()

    async def body() -> None:
        storage = EncryptedStorage(inner, KeyRing((K1,)))
        logging_storage = LoggingStorage(storage)
        await logging_storage.open()
        await storage.create_table(TABLE)
        await storage.create_table(TableDef(name="!meta", key=KeySchema("k", "S"), attribute_definitions=(),
                                            created=0.0))
        await put(storage, "!meta", b"stream:things", b"", b'{"log":true}')
        await put(logging_storage, "things", b"a", b"", MARKER)
        (seq, record), = await storage.read_log("things", 0, 10)
        assert LogRecord.decode(seq, record).new == {"v": {"S": "PLAINTEXT-MARKER"}}
        (_, raw), = await inner.read_log("things", 0, 10)
        assert b"PLAINTEXT" not in raw and sealed_key_id(raw) == key_id(K1)
        with pytest.raises(SealBroken):  # bound to its table's log: not an item value
            unseal(RING, "things", b"a", b"", raw)
        rotated = EncryptedStorage(inner, KeyRing((K2, K1)))
        await rotated.open()
        lines: list[str] = []
        report = await rekey(rotated, lines.append)
        assert report.log_keys == {key_id(K1).hex(): 1}
        assert f"key {key_id(K1).hex()} still seals 1 change-log records" in lines[0]
        assert rotated.key_ids == [key_id(K2).hex(), key_id(K1).hex()]
        with pytest.raises(EncryptionError, match=f"has data sealed with key {key_id(K1).hex()}"):
            await EncryptedStorage(inner, KeyRing((K2,))).open()
        await rotated.trim_log("things", seq + 1)  # retention took the record: the old key may go
        await rekey(rotated, lines.append)
        assert rotated.key_ids == [key_id(K2).hex()]
        await EncryptedStorage(inner, KeyRing((K2,))).open()

    run(body)


# ----- configuration and command line


def test_config_takes_the_key_file_out_of_the_backend_options(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[backend]\nkind = "sqlite"\nencryption_key_file = "/etc/accel/keys"\nsynchronous = "FULL"\n')
    backend = load_config(path).backend
    assert backend.encryption_key_file == "/etc/accel/keys" and backend.options == {"synchronous": "FULL"}
    path.write_text('[backend]\nencryption_key_file = 3\n')
    with pytest.raises(ValueError, match=r"\[backend\] encryption_key_file: expected a string, got 3"):
        load_config(path)


def test_a_dynamodb_upstream_refuses_a_key_file(tmp_path: Path) -> None:
    config = Config(backend=BackendConfig(kind="dynamodb", encryption_key_file=str(tmp_path / "keys")))
    with pytest.raises(EncryptionError, match="a DynamoDB upstream encrypts at rest itself"):
        build_store(config)


def test_keygen_prints_one_fresh_key(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["keygen"]) == 0 and cli_main(["keygen"]) == 0
    first, second = capsys.readouterr().out.splitlines()
    assert len(base64.b64decode(first, validate=True)) == 32 and first != second


class _NoSnapshots(MemoryStorage):
    """A backend without read snapshots (like Redis): backups scan and roll forward with the change log."""

    snapshot = None  # type: ignore[assignment]  # a None member is no Snapshots to runtime_checkable isinstance

    def __init__(self) -> None:
        super().__init__()
        self.after_scan: Callable[[str], Coroutine[Any, Any, None]] | None = None

    async def scan(self, table: str, *, segment: int, total_segments: int, start: tuple[bytes, bytes] | None,
                   limit: int) -> list[tuple[bytes, bytes, bytes]]:
        rows = await super().scan(table, segment=segment, total_segments=total_segments, start=start, limit=limit)
        if self.after_scan is not None:
            await self.after_scan(table)
        return rows


def test_a_rolled_back_backup_view_reads_the_log_opened() -> None:
    backend = _NoSnapshots()
    engine = TableEngine(EncryptedStorage(backend, RING))
    wrote: list[bool] = []

    async def write_once(table: str) -> None:
        if table == "things" and not wrote:  # a write lands while the view is being taken
            wrote.append(True)
            await engine.call("PutItem", {"TableName": "things", "Item": {"pk": {"S": "late"}, "v": {"S": "x"}}})

    backend.after_scan = write_once

    async def body() -> None:
        await engine.open()
        try:
            await engine.call("CreateTable", {
                "TableName": "things", "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
                "BillingMode": "PAY_PER_REQUEST"})
            await put(engine.storage, "!meta", b"pitr:things", b"", b'{"log":true}')
            engine.forget_table("things")
            await engine.call("PutItem", {"TableName": "things", "Item": {"pk": {"S": "early"}, "v": {"S": "x"}}})
            table = await engine.storage.get_table("things")
            assert table is not None
            view = await open_view(engine.storage, table)
            rows = await view.scan(None, 100)
            # the write after the view opened is rolled back with its (opened) log record
            assert wrote and sorted(orjson.loads(v)["pk"]["S"] for _, _, v in rows) == ["early"]
        finally:
            await engine.close()

    run(body)


def test_rekey_reports_progress_by_its_clock() -> None:
    inner = MemoryStorage()
    ticks = iter(range(0, 10_000, 2))  # two "seconds" per reading: every page is worth a line

    async def body() -> None:
        storage = EncryptedStorage(inner, KeyRing((K1,)))
        await storage.open()
        await storage.create_table(TABLE)
        for i in range(10):
            await put(storage, "things", b"p%d" % i, b"", MARKER)
        rotated = EncryptedStorage(inner, KeyRing((K2, K1)))
        await rotated.open()
        lines: list[str] = []
        await rekey(rotated, lines.append, clock=lambda: float(next(ticks)), page=4)
        assert lines == ["things: 4 values scanned, 4 re-sealed", "things: 8 values scanned, 8 re-sealed",
                         "things: 10 values scanned, 10 re-sealed",
                         f"done: 1 tables, 10 values scanned, 10 re-sealed; data is sealed with key "
                         f"{key_id(K2).hex()}"]

    run(body)


def test_rekey_while_writes_continue_loses_none(tmp_path: Path) -> None:
    async def body() -> None:
        old = EncryptedStorage(SqliteStorage(tmp_path / "s.db"), KeyRing((K1,)))
        await old.open()
        await old.create_table(TABLE)
        for i in range(200):
            await put(old, "things", b"p%d" % i, b"", b'{"n":0}')
        await old.close()
        server = EncryptedStorage(SqliteStorage(tmp_path / "s.db"), KeyRing((K2, K1)))
        rekeyer = EncryptedStorage(SqliteStorage(tmp_path / "s.db"), KeyRing((K2, K1)))
        await server.open()
        await rekeyer.open()

        async def writes() -> None:
            for n in range(1, 4):
                for i in range(200):
                    ref = KeyRef("things", b"p%d" % i, b"")
                    await put(server, ref.table, ref.pk, ref.sk, b'{"n":%d}' % n)
                    await asyncio.sleep(0)

        report, _ = await asyncio.gather(rekey(rekeyer, lambda line: None, page=16), writes())
        assert report.failed == 0
        rows = await server.scan("things", segment=0, total_segments=1, start=None, limit=1000)
        assert len(rows) == 200 and {v for _, _, v in rows} == {b'{"n":3}'}
        raw = await server.inner.scan("things", segment=0, total_segments=1, start=None, limit=1000)
        assert {sealed_key_id(v) for _, _, v in raw} == {key_id(K2)}
        await server.close()
        await rekeyer.close()

    run(body)


def test_rekey_command_line_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "c.toml"
    config.write_text(f'[backend]\nkind = "sqlite"\ndata_dir = "{tmp_path / "data"}"\n')
    assert cli_main(["rekey", "--config", str(config)]) == 2
    assert capsys.readouterr().err == (
        "accelerator: error: rekey needs a storage backend with [backend] encryption_key_file\n")
    (tmp_path / "bad.toml").write_text("[backend\n")
    assert cli_main(["rekey", "--config", str(tmp_path / "bad.toml")]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    (tmp_path / "down.toml").write_text('[backend]\nkind = "redis"\nurl = "redis://127.0.0.1:1/0"\n'
                                        f'encryption_key_file = "{tmp_path / "k0"}"\n')
    (tmp_path / "k0").write_text(generate_key() + "\n")
    (tmp_path / "k0").chmod(0o600)
    assert cli_main(["rekey", "--config", str(tmp_path / "down.toml")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("accelerator: error: cannot open the redis backend at 127.0.0.1:1") and err.count("\n") == 1
    for name in ("k1", "k2"):
        (tmp_path / name).write_text(generate_key() + "\n")
        (tmp_path / name).chmod(0o600)
    config.write_text(config.read_text() + f'encryption_key_file = "{tmp_path / "k1"}"\n')
    assert cli_main(["rekey", "--config", str(config)]) == 0  # a new store: its canary under k1
    assert capsys.readouterr().out.startswith("done: 0 tables")
    config.write_text(config.read_text().replace("k1", "k2"))
    assert cli_main(["rekey", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("accelerator: error: the store is encrypted with key ") and err.count("\n") == 1
