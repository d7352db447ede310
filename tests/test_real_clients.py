"""Unmodified DynamoDB clients other than boto3's low-level client: PynamoDB and the AWS CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pynamodb.attributes import (
    MapAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
)
from pynamodb.connection import Connection
from pynamodb.exceptions import PutError
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from tests.server_process import ServerProcess

_ENV = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    proc = ServerProcess({"kind": "sqlite"}).start()
    yield proc.url
    proc.stop()


def _models(url: str) -> tuple[type[Model], Any]:
    class ByUser(GlobalSecondaryIndex["Thing"]):
        class Meta:
            index_name = "by_user"
            projection = AllProjection()
        user = UnicodeAttribute(hash_key=True)
        n = NumberAttribute(range_key=True)

    class Thing(Model):
        class Meta:
            table_name = "pynamodb_things"
            host = url
            region = "us-east-1"
            aws_access_key_id = "test"
            aws_secret_access_key = "test"
            billing_mode = "PAY_PER_REQUEST"
        pk = UnicodeAttribute(hash_key=True)
        sk = NumberAttribute(range_key=True)
        user = UnicodeAttribute()
        n = NumberAttribute(default=0)
        tags = UnicodeSetAttribute(null=True)
        extra = MapAttribute(null=True)  # type: ignore[var-annotated]
        expires = TTLAttribute(null=True)
        by_user = ByUser()

    return Thing, ByUser


def test_pynamodb_model_round_trip(url: str) -> None:
    thing, _ = _models(url)
    thing.create_table(wait=True)
    try:
        item = thing("a", 1, user="ada", n=5, tags={"x", "y"}, extra={"k": "v"}, expires=timedelta(hours=1))
        item.save(thing.pk.does_not_exist())
        with pytest.raises(PutError):
            item.save(thing.pk.does_not_exist())
        item.update(actions=[thing.n.add(2), thing.tags.add({"z"})])
        got = thing.get("a", 1)
        assert got.n == 7 and got.tags == {"x", "y", "z"} and got.extra.as_dict() == {"k": "v"}
        with thing.batch_write() as batch:
            for i in range(2, 40):
                batch.save(thing("a", i, user="bob", n=i))
        assert [x.sk for x in thing.query("a", thing.sk.between(3, 5))] == [3, 4, 5]
        assert thing.count("a") == 39
        assert sorted(x.sk for x in thing.by_user.query("bob", thing.n >= 38)) == [38, 39]
        assert len(list(thing.batch_get([("a", i) for i in range(1, 45)]))) == 39
        connection = Connection(host=url, region="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")
        with TransactWrite(connection=connection) as tx:
            tx.update(thing("a", 1), actions=[thing.n.set(100)], condition=thing.n == 7)
        assert thing.get("a", 1).n == 100
        assert len(list(thing.scan(thing.n > 30))) == 10
    finally:
        thing.delete_table()


def _aws(url: str, *args: str) -> Any:
    exe = shutil.which("aws", path=str(Path(sys.executable).parent)) or shutil.which("aws")
    assert exe, "the AWS CLI is installed with the dev extra"
    out = subprocess.run([exe, "dynamodb", *args, "--endpoint-url", url, "--output", "json"],
                         env={**os.environ, **_ENV}, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout) if out.stdout.strip() else None


def test_aws_cli(url: str) -> None:
    _aws(url, "create-table", "--table-name", "cli_things", "--billing-mode", "PAY_PER_REQUEST",
         "--attribute-definitions", "AttributeName=pk,AttributeType=S", "--key-schema", "AttributeName=pk,KeyType=HASH")
    _aws(url, "wait", "table-exists", "--table-name", "cli_things")
    _aws(url, "put-item", "--table-name", "cli_things", "--item", '{"pk": {"S": "a"}, "n": {"N": "1.50"}}')
    assert _aws(url, "get-item", "--table-name", "cli_things", "--key", '{"pk": {"S": "a"}}')["Item"]["n"] == {"N": "1.5"}
    assert _aws(url, "scan", "--table-name", "cli_things")["Count"] == 1
    assert "cli_things" in _aws(url, "list-tables")["TableNames"]
    _aws(url, "delete-table", "--table-name", "cli_things")
