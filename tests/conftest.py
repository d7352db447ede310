"""Shared fixtures: real server processes per backend and boto3 clients pointed at them."""

from __future__ import annotations

import contextlib
import itertools
import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config

from tests.e2e_backends import E2E_BACKENDS, OPT_IN_BACKENDS
from tests.moto_upstream import mark_moto_differences
from tests.server_process import ServerProcess

_only = os.environ.get("ACCEL_TEST_BACKENDS")
_ALL_BACKENDS = {**E2E_BACKENDS, **OPT_IN_BACKENDS}
BACKENDS = [b for b in _ALL_BACKENDS if b in _only.split(",")] if _only else list(E2E_BACKENDS)


def boto_client(url: str, retries: int = 1) -> Any:
    return boto3.client(
        "dynamodb", endpoint_url=url, region_name="us-east-1", aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": retries, "mode": "standard"}, connect_timeout=5, read_timeout=30),
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    mark_moto_differences(items)  # cases where moto itself differs from DynamoDB, on the dynamodb-upstream server


@pytest.fixture(scope="session", params=BACKENDS)
def server(request: pytest.FixtureRequest) -> Iterator[ServerProcess]:
    """One accelerator server process per backend, shared by the session."""
    proc = ServerProcess(_ALL_BACKENDS[request.param]()).start()
    yield proc
    proc.stop()


@pytest.fixture(scope="session")
def ddb(server: ServerProcess) -> Any:
    return boto_client(server.url)


_counter = itertools.count()


def unique_name(prefix: str = "t") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}_{next(_counter)}"


@pytest.fixture
def make_table(ddb: Any) -> Iterator[Callable[..., str]]:
    """Create tables with unique names; they are deleted after the test."""
    created: list[str] = []

    def make(hash_key: tuple[str, str] = ("pk", "S"), range_key: tuple[str, str] | None = None) -> str:
        name = unique_name()
        schema = [{"AttributeName": hash_key[0], "KeyType": "HASH"}]
        attrs = [{"AttributeName": hash_key[0], "AttributeType": hash_key[1]}]
        if range_key is not None:
            schema.append({"AttributeName": range_key[0], "KeyType": "RANGE"})
            attrs.append({"AttributeName": range_key[0], "AttributeType": range_key[1]})
        ddb.create_table(TableName=name, KeySchema=schema, AttributeDefinitions=attrs,
                         BillingMode="PAY_PER_REQUEST")
        created.append(name)
        return name

    yield make
    for name in created:
        with contextlib.suppress(ddb.exceptions.ResourceNotFoundException):
            ddb.delete_table(TableName=name)


@pytest.fixture
def table(make_table: Callable[..., str]) -> str:
    """A table with a string partition key ``pk``."""
    return make_table()


@pytest.fixture
def range_table(make_table: Callable[..., str]) -> str:
    """A table with string ``pk`` and numeric sort key ``sk``."""
    return make_table(range_key=("sk", "N"))


@pytest.fixture
def ordered(ddb: Any, make_table: Callable[..., str]) -> str:
    """Partition "p" with ten numeric sort keys (negatives, decimals, 1E+20), plus one other partition."""
    name = make_table(range_key=("sk", "N"))
    values = ["-100", "-2.5", "-1", "0", "0.5", "1", "2", "10", "100", "1E+20"]
    ddb.batch_write_item(RequestItems={name: [
        {"PutRequest": {"Item": {"pk": {"S": "p"}, "sk": {"N": v}, "odd": {"BOOL": i % 2 == 1}}}}
        for i, v in enumerate(values)]})
    ddb.put_item(TableName=name, Item={"pk": {"S": "other"}, "sk": {"N": "1"}})
    return name


@pytest.fixture
def indexed(ddb: Any) -> Iterator[str]:
    """A table (user S, ts N) with a KEYS_ONLY LSI by_score, an ALL GSI by_status and an INCLUDE GSI."""
    name = unique_name("ix")
    ddb.create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "user", "KeyType": "HASH"}, {"AttributeName": "ts", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "user", "AttributeType": "S"},
                              {"AttributeName": "ts", "AttributeType": "N"},
                              {"AttributeName": "status", "AttributeType": "S"},
                              {"AttributeName": "score", "AttributeType": "N"}],
        LocalSecondaryIndexes=[{"IndexName": "by_score", "Projection": {"ProjectionType": "KEYS_ONLY"},
                                "KeySchema": [{"AttributeName": "user", "KeyType": "HASH"},
                                              {"AttributeName": "score", "KeyType": "RANGE"}]}],
        GlobalSecondaryIndexes=[
            {"IndexName": "by_status", "Projection": {"ProjectionType": "ALL"},
             "KeySchema": [{"AttributeName": "status", "KeyType": "HASH"},
                           {"AttributeName": "score", "KeyType": "RANGE"}]},
            {"IndexName": "status_only", "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["note"]},
             "KeySchema": [{"AttributeName": "status", "KeyType": "HASH"}]},
        ])
    yield name
    ddb.delete_table(TableName=name)


@pytest.fixture
def cleanup(ddb: Any) -> Iterator[Callable[..., None]]:
    """Register tables and backups (``cleanup(table=..., backup=...)``) to delete after the test."""
    tables: list[str] = []
    backups: list[str] = []

    def add(table: str | None = None, backup: str | None = None) -> None:
        if table:
            tables.append(table)
        if backup:
            backups.append(backup)

    yield add
    for arn in backups:
        with contextlib.suppress(Exception):
            ddb.delete_backup(BackupArn=arn)
    for name in tables:
        with contextlib.suppress(Exception):
            ddb.delete_table(TableName=name)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Accelerator servers a test started and did not stop (a test that failed before its teardown) do not
    outlive the run: each is named, so the leak is seen and fixed, and stopped. (Session services such as the
    shared Redis Cluster and moto stop at exit, after their data is dropped.)"""
    import psutil

    leftovers = []
    for proc in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if "accelerator.cli" in " ".join(proc.cmdline()):
                leftovers.append(proc)
    for proc in leftovers:
        with contextlib.suppress(psutil.Error):
            print(f"\nstopping a server a test left running: {' '.join(proc.cmdline())[:160]}")
            proc.terminate()
    _, alive = psutil.wait_procs(leftovers, timeout=10)
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()
