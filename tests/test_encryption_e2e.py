"""Encryption at rest end to end: a real server per backend, boto3, and the backend's raw storage read directly.

Each backend's raw reader sees everything the backend keeps: every byte of the SQLite files (WAL included),
every row of every table in the PostgreSQL schema (as text, bytea in hex), every Redis key's content read by
type (not DUMP: its RDB payload may be LZF-compressed, which would hide a plaintext marker). A control test
runs the same readers on a server without a key file and must find the marker, so the absence is meaningful.
"""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from accelerator.core.keys import encode_key_value
from accelerator.core.protocols import KeyRef
from accelerator.encryption import generate_key
from accelerator.encryption.keys import key_id
from backends import open_storage
from tests.backend_services import pg_dsn
from tests.conftest import boto_client
from tests.e2e_backends import E2E_BACKENDS
from tests.server_process import ROOT, ServerProcess

BACKENDS = ["sqlite", "postgres", "redis", "redis-cluster"]
MARKER = "ZEBRA-PLAINTEXT-MARKER-7731"
TABLE = "secrets_table"


def markers(raw: bytes) -> bool:
    """Whether the marker is in ``raw`` as bytes, or hex-encoded (PostgreSQL's bytea text form)."""
    return MARKER.encode() in raw or MARKER.encode().hex().encode() in raw.lower()


def raw_dump(proc: ServerProcess, backend: dict[str, Any]) -> bytes:
    """Everything the backend stores for this server, concatenated."""
    kind = backend["kind"]
    if kind == "sqlite":
        data = proc.dir / "data"
        return b"".join(p.read_bytes() for p in sorted(data.iterdir()) if p.is_file())
    if kind == "postgres":
        return asyncio.run(_postgres_dump(backend["schema"]))
    import redis

    if kind == "redis":
        clients = [redis.Redis.from_url(backend["url"])]
    else:
        clients = [redis.Redis(host=h, port=int(p)) for h, p in (n.rsplit(":", 1) for n in backend["cluster_nodes"])]
    out: list[bytes] = []
    for client in clients:
        with client:
            for key in client.scan_iter(match=backend["prefix"] + ":*", count=1000):
                out.append(key)
                out.extend(_redis_values(client, key))
    assert out, "no keys under the prefix: the reader looks in the wrong place"
    return b"\n".join(out)


def _redis_values(client: Any, key: bytes) -> list[bytes]:
    kind = client.type(key)
    if kind == b"string":
        return [client.get(key)]
    if kind == b"hash":
        return [b for pair in client.hgetall(key).items() for b in pair]
    if kind == b"zset":
        return list(client.zrange(key, 0, -1))
    if kind == b"list":
        return list(client.lrange(key, 0, -1))
    if kind == b"set":
        return list(client.smembers(key))
    raise AssertionError(f"unexpected Redis type {kind!r} at {key!r}")


async def _postgres_dump(schema: str) -> bytes:
    import asyncpg

    conn = await asyncpg.connect(pg_dsn())
    try:
        names = await conn.fetch("SELECT table_name FROM information_schema.tables WHERE table_schema = $1", schema)
        assert {r["table_name"] for r in names} >= {"items", "tables"}
        rows: list[str] = []
        for r in names:
            rows += [row[0] for row in await conn.fetch(f'SELECT t::text FROM "{schema}"."{r["table_name"]}" t')]
        return "\n".join(rows).encode()
    finally:
        await conn.close()


def tamper(backend: dict[str, Any], proc: ServerProcess, pk: str, sk: int) -> None:
    """Flip one bit of an item's stored value, with the backend's own storage (no key)."""
    options = {k: v for k, v in backend.items() if k not in ("kind", "data_dir", "encryption_key_file")}
    if backend["kind"] == "sqlite":
        options["path"] = str(proc.dir / "data" / "accelerator.db")

    async def flip() -> None:
        raw = open_storage(backend["kind"], **options)
        await raw.open()
        try:
            ref = KeyRef(TABLE, encode_key_value("S", pk), encode_key_value("N", str(sk)))
            value = await raw.get(ref.table, ref.pk, ref.sk)
            assert value is not None
            await raw.transact([ref], lambda olds: [value[:-1] + bytes((value[-1] ^ 0x01,))])
        finally:
            await raw.close()

    asyncio.run(flip())


def item(i: int) -> dict[str, Any]:
    return {"pk": {"S": f"user-{i}"}, "sk": {"N": str(i)}, "group": {"S": "g1"},
            "secret": {"S": f"{MARKER} #{i}"}, "nested": {"M": {"deep": {"L": [{"S": MARKER}]}}},
            "blob": {"B": MARKER.encode()}, "set": {"SS": [MARKER, "x"]}}


def fill(ddb: Any) -> None:
    ddb.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              {"AttributeName": "sk", "AttributeType": "N"},
                              {"AttributeName": "group", "AttributeType": "S"}],
        GlobalSecondaryIndexes=[{"IndexName": "by_group", "Projection": {"ProjectionType": "ALL"},
                                 "KeySchema": [{"AttributeName": "group", "KeyType": "HASH"},
                                               {"AttributeName": "sk", "KeyType": "RANGE"}]}],
        BillingMode="PAY_PER_REQUEST")
    for i in range(5):
        ddb.put_item(TableName=TABLE, Item=item(i))
    ddb.update_item(TableName=TABLE, Key={"pk": {"S": "user-0"}, "sk": {"N": "0"}},
                    UpdateExpression="SET note = :m", ExpressionAttributeValues={":m": {"S": MARKER}})
    arn = ddb.describe_table(TableName=TABLE)["Table"]["TableArn"]
    ddb.tag_resource(ResourceArn=arn, Tags=[{"Key": "owner", "Value": MARKER}])


def check_reads(ddb: Any) -> None:
    got = ddb.get_item(TableName=TABLE, Key={"pk": {"S": "user-0"}, "sk": {"N": "0"}}, ConsistentRead=True)
    assert got["Item"]["secret"] == {"S": f"{MARKER} #0"} and got["Item"]["note"] == {"S": MARKER}
    by_group = ddb.query(TableName=TABLE, IndexName="by_group", KeyConditionExpression="#g = :g",
                         ExpressionAttributeNames={"#g": "group"}, ExpressionAttributeValues={":g": {"S": "g1"}})
    assert [i["secret"]["S"] for i in by_group["Items"]] == [f"{MARKER} #{i}" for i in range(5)]
    scanned = ddb.scan(TableName=TABLE, ConsistentRead=True)["Items"]
    assert len(scanned) >= 5 and {i["blob"]["B"] for i in scanned} == {MARKER.encode()}
    arn = ddb.describe_table(TableName=TABLE)["Table"]["TableArn"]
    assert ddb.list_tags_of_resource(ResourceArn=arn)["Tags"] == [{"Key": "owner", "Value": MARKER}]


def serve(args: list[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "accelerator.cli", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, "PYTHONUNBUFFERED": "1"})


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> dict[str, Any]:
    section: dict[str, Any] = E2E_BACKENDS[request.param]()
    return section


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "keys"
    path.write_text(generate_key() + "\n")
    path.chmod(0o600)  # else every start logs a warning about it
    return path


@pytest.fixture
def sealed_server(backend: dict[str, Any], key_file: Path, tmp_path: Path) -> Iterator[ServerProcess]:
    (tmp_path / "srv").mkdir()
    proc = ServerProcess({**backend, "encryption_key_file": str(key_file)}, data_dir=str(tmp_path / "srv"))
    proc.start()
    yield proc
    proc.stop()


def test_no_value_written_through_the_api_is_in_the_backend(sealed_server: ServerProcess,
                                                             backend: dict[str, Any]) -> None:
    ddb = boto_client(sealed_server.url)
    fill(ddb)
    check_reads(ddb)
    raw = raw_dump(sealed_server, backend)
    assert b"user-3" in raw or b"user-3".hex().encode() in raw  # key attributes stay clear (range scans)
    assert not markers(raw)
    sealed_server.restart()  # the same key reads everything back
    check_reads(boto_client(sealed_server.url))


def test_the_raw_readers_find_plaintext_without_a_key(backend: dict[str, Any], tmp_path: Path) -> None:
    (tmp_path / "plain").mkdir()
    proc = ServerProcess(backend, data_dir=str(tmp_path / "plain")).start()
    try:
        fill(boto_client(proc.url))
        assert markers(raw_dump(proc, backend))
    finally:
        proc.stop()


def test_rotation_rekey_then_drop_the_old_key(sealed_server: ServerProcess, backend: dict[str, Any],
                                              key_file: Path) -> None:
    fill(boto_client(sealed_server.url))
    old = key_file.read_text().strip()
    new = generate_key()
    key_file.write_text(f"{new}\n{old}\n")
    sealed_server.restart()
    ddb = boto_client(sealed_server.url)
    check_reads(ddb)
    ddb.put_item(TableName=TABLE, Item={**item(9), "group": {"S": "g2"}})  # sealed with the new key at once
    done = serve(["rekey", "--config", str(sealed_server.config)])
    assert done.returncode == 0, done.stderr
    new_id = key_id(base64.b64decode(new)).hex()
    assert done.stdout.strip().splitlines()[-1].endswith(f"re-sealed; data is sealed with key {new_id}")
    key_file.write_text(f"{new}\n")
    sealed_server.restart()
    ddb = boto_client(sealed_server.url)
    check_reads(ddb)
    got = ddb.get_item(TableName=TABLE, Key={"pk": {"S": "user-9"}, "sk": {"N": "9"}}, ConsistentRead=True)
    assert got["Item"]["secret"] == {"S": f"{MARKER} #9"}
    assert not markers(raw_dump(sealed_server, backend))


def test_a_tampered_value_is_an_internal_error_counted_and_logged_once(
        sealed_server: ServerProcess, backend: dict[str, Any]) -> None:
    ddb = boto_client(sealed_server.url, retries=0)  # botocore's max_attempts counts retries: 0 sends once
    fill(ddb)
    key = {"pk": {"S": "user-2"}, "sk": {"N": "2"}}
    ddb.get_item(TableName=TABLE, Key=key)  # a miss fills the item cache
    tamper(backend, sealed_server, "user-2", 2)
    cached = ddb.get_item(TableName=TABLE, Key=key)  # a hit is served from memory: nothing is opened
    assert cached["ResponseMetadata"]["HTTPHeaders"]["x-accelerator-cache"] == "hit"
    assert cached["Item"]["secret"] == {"S": f"{MARKER} #2"}
    for _ in range(2):
        with pytest.raises(ddb.exceptions.InternalServerError, match="failed its integrity check"):
            ddb.get_item(TableName=TABLE, Key={"pk": {"S": "user-2"}, "sk": {"N": "2"}}, ConsistentRead=True)
    assert ddb.get_item(TableName=TABLE, Key={"pk": {"S": "user-1"}, "sk": {"N": "1"}},
                        ConsistentRead=True)["Item"]["secret"] == {"S": f"{MARKER} #1"}
    with urllib.request.urlopen(sealed_server.url + "/metrics", timeout=10) as r:
        metrics = r.read().decode()
    assert "accelerator_encryption_integrity_failures_total 2.0" in metrics
    assert 'accelerator_errors_total{operation="GetItem",type="InternalServerError"} 2.0' in metrics
    log = sealed_server.log.read_text()
    assert log.count("does not open: authentication failed") == 1
    assert "Traceback" not in log


def test_starting_with_a_wrong_or_no_key_file_is_one_line(sealed_server: ServerProcess, backend: dict[str, Any],
                                                          key_file: Path, tmp_path: Path) -> None:
    fill(boto_client(sealed_server.url))
    sealed_server.stop()
    stored = key_id(base64.b64decode(key_file.read_text().strip())).hex()
    key_file.write_text(generate_key() + "\n")
    for workers in ("1", "2"):  # several workers: checked once before they fork, not a traceback from each
        wrong = serve(["serve", "--config", str(sealed_server.config), "--log-level", "warning", "--workers", workers])
        assert wrong.returncode == 2
        assert wrong.stderr.splitlines() == [
            f"accelerator: error: the store is encrypted with key {stored}, which is not in encryption key file "
            f"{key_file} (its keys: {key_id(base64.b64decode(key_file.read_text().strip())).hex()})"]
    plain = ServerProcess(backend, data_dir=str(sealed_server.dir))  # same store, no key file
    unkeyed = serve(["serve", "--config", str(plain.config), "--log-level", "warning"])
    assert unkeyed.returncode == 2
    assert unkeyed.stderr.splitlines() == [
        "accelerator: error: the store is encrypted: set [backend] encryption_key_file to its key file"]


def test_sealing_a_store_written_without_encryption(backend: dict[str, Any], key_file: Path,
                                                    tmp_path: Path) -> None:
    (tmp_path / "srv").mkdir()
    plain = ServerProcess(backend, data_dir=str(tmp_path / "srv")).start()
    try:
        fill(boto_client(plain.url))
    finally:
        plain.stop()
    sealed = ServerProcess({**backend, "encryption_key_file": str(key_file)}, data_dir=str(tmp_path / "srv"))
    refused = serve(["serve", "--config", str(sealed.config), "--log-level", "warning"])
    assert refused.returncode == 2 and refused.stderr.splitlines() == [
        "accelerator: error: the store holds data written without encryption: stop every server and run "
        "`accelerator rekey --config FILE` once to seal it"]
    done = serve(["rekey", "--config", str(sealed.config)])
    assert done.returncode == 0, done.stderr
    assert not markers(raw_dump(sealed, backend))
    sealed.start()
    try:
        check_reads(boto_client(sealed.url))
    finally:
        sealed.stop()
