"""Unmodified DynamoDB clients other than boto3's low-level client: PynamoDB and the AWS CLI (tables, items,
Streams, backups). The JavaScript SDK has its own module, tests/test_js_sdk.py."""

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

from tests.backup_helpers import wait_for
from tests.server_process import ServerProcess

_ENV = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    proc = ServerProcess({"kind": "sqlite"}).start()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def url(server: ServerProcess) -> str:
    return server.url


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


def _aws(url: str, *args: str, service: str = "dynamodb") -> Any:
    exe = shutil.which("aws", path=str(Path(sys.executable).parent)) or shutil.which("aws")
    assert exe, "the AWS CLI is installed with the dev extra"
    out = subprocess.run([exe, service, *args, "--endpoint-url", url, "--output", "json"],
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


def _cli_table(url: str, name: str, *extra: str) -> Any:
    return _aws(url, "create-table", "--table-name", name, "--billing-mode", "PAY_PER_REQUEST", "--attribute-definitions",
                "AttributeName=pk,AttributeType=S", "--key-schema", "AttributeName=pk,KeyType=HASH",
                *extra)["TableDescription"]


def test_aws_cli_dynamodbstreams(url: str) -> None:
    arn = _cli_table(url, "cli_streamed", "--stream-specification",
                     "StreamEnabled=true,StreamViewType=NEW_AND_OLD_IMAGES")["LatestStreamArn"]
    _aws(url, "put-item", "--table-name", "cli_streamed", "--item", '{"pk": {"S": "a"}, "v": {"N": "1"}}')
    _aws(url, "update-item", "--table-name", "cli_streamed", "--key", '{"pk": {"S": "a"}}',
         "--update-expression", "SET v = v + :one", "--expression-attribute-values", '{":one": {"N": "1"}}')
    _aws(url, "delete-item", "--table-name", "cli_streamed", "--key", '{"pk": {"S": "a"}}')
    listed = _aws(url, "list-streams", "--table-name", "cli_streamed", service="dynamodbstreams")["Streams"]
    assert [(s["StreamArn"], s["TableName"]) for s in listed] == [(arn, "cli_streamed")]
    desc = _aws(url, "describe-stream", "--stream-arn", arn, service="dynamodbstreams")["StreamDescription"]
    assert (desc["StreamStatus"], desc["StreamViewType"]) == ("ENABLED", "NEW_AND_OLD_IMAGES")
    records: list[dict[str, Any]] = []
    for shard in desc["Shards"]:  # one shard here: the server rolls shards over every few hours by default
        iterator = _aws(url, "get-shard-iterator", "--stream-arn", arn, "--shard-id", shard["ShardId"],
                        "--shard-iterator-type", "TRIM_HORIZON", service="dynamodbstreams")["ShardIterator"]
        page = _aws(url, "get-records", "--shard-iterator", iterator, service="dynamodbstreams")
        records += page["Records"]
        assert page["NextShardIterator"]  # the shard is open: a reader may come back for more
    assert [(r["eventName"], r["dynamodb"].get("OldImage"), r["dynamodb"].get("NewImage")) for r in records] == [
        ("INSERT", None, {"pk": {"S": "a"}, "v": {"N": "1"}}),
        ("MODIFY", {"pk": {"S": "a"}, "v": {"N": "1"}}, {"pk": {"S": "a"}, "v": {"N": "2"}}),
        ("REMOVE", {"pk": {"S": "a"}, "v": {"N": "2"}}, None),
    ]
    assert all(r["eventSource"] == "aws:dynamodb" and r["dynamodb"]["Keys"] == {"pk": {"S": "a"}} for r in records)


def test_aws_cli_backup_and_restore(url: str) -> None:
    _cli_table(url, "cli_backed")
    _aws(url, "batch-write-item", "--request-items", json.dumps({"cli_backed": [
        {"PutRequest": {"Item": {"pk": {"S": key}}}} for key in ("a", "b")]}))
    details = _aws(url, "create-backup", "--table-name", "cli_backed", "--backup-name", "nightly")["BackupDetails"]
    assert details["BackupName"] == "nightly" and details["BackupStatus"] in ("CREATING", "AVAILABLE")
    arn = details["BackupArn"]
    wait_for(lambda: _aws(url, "describe-backup", "--backup-arn", arn)["BackupDescription"]["BackupDetails"]
             ["BackupStatus"] == "AVAILABLE", "backup AVAILABLE")
    _aws(url, "put-item", "--table-name", "cli_backed", "--item", '{"pk": {"S": "after"}}')  # not in the backup
    summaries = _aws(url, "list-backups", "--table-name", "cli_backed")["BackupSummaries"]
    assert [(s["BackupArn"], s["BackupName"], s["TableName"], s["BackupStatus"], s["BackupType"])
            for s in summaries] == [(arn, "nightly", "cli_backed", "AVAILABLE", "USER")]
    restored = _aws(url, "restore-table-from-backup", "--target-table-name", "cli_restored",
                    "--backup-arn", arn)["TableDescription"]
    assert restored["TableName"] == "cli_restored" and restored["RestoreSummary"]["SourceBackupArn"] == arn
    _aws(url, "wait", "table-exists", "--table-name", "cli_restored")
    scanned = _aws(url, "scan", "--table-name", "cli_restored", "--consistent-read")["Items"]
    assert sorted(item["pk"]["S"] for item in scanned) == ["a", "b"]
    _aws(url, "delete-backup", "--backup-arn", arn)
    assert _aws(url, "list-backups", "--table-name", "cli_backed")["BackupSummaries"] == []


def test_aws_cli_export_and_import(server: ServerProcess) -> None:
    url = server.url
    (server.dir / "data" / "exports" / "cli-bucket").mkdir(parents=True)  # a bucket exists before an export
    arn = _cli_table(url, "cli_exported")["TableArn"]
    items = [{"pk": {"S": key}, "n": {"N": str(i)}} for i, key in enumerate(("a", "b", "c"))]
    _aws(url, "batch-write-item", "--request-items", json.dumps({"cli_exported": [
        {"PutRequest": {"Item": item}} for item in items]}))
    _aws(url, "update-continuous-backups", "--table-name", "cli_exported",
         "--point-in-time-recovery-specification", "PointInTimeRecoveryEnabled=true")
    # A bucket name (under [backend] export_root): the CLI would read a file:// value as a parameter file.
    export = _aws(url, "export-table-to-point-in-time", "--table-arn", arn, "--s3-bucket", "cli-bucket")
    export_arn = export["ExportDescription"]["ExportArn"]
    done = wait_for(lambda: (d := _aws(url, "describe-export", "--export-arn", export_arn)["ExportDescription"])
                    ["ExportStatus"] != "IN_PROGRESS" and d, "export finished")
    assert (done["ExportStatus"], done["ItemCount"], done["S3Bucket"]) == ("COMPLETED", 3, "cli-bucket"), done
    data = done["ExportManifest"].rpartition("/")[0] + "/data/"
    started = _aws(url, "import-table", "--s3-bucket-source", f"S3Bucket=cli-bucket,S3KeyPrefix={data}",
                   "--input-format", "DYNAMODB_JSON", "--input-compression-type", "GZIP",
                   "--table-creation-parameters", "TableName=cli_imported,BillingMode=PAY_PER_REQUEST,"
                   "AttributeDefinitions=[{AttributeName=pk,AttributeType=S}],"
                   "KeySchema=[{AttributeName=pk,KeyType=HASH}]")
    import_arn = started["ImportTableDescription"]["ImportArn"]
    imported = wait_for(lambda: (d := _aws(url, "describe-import", "--import-arn", import_arn)
                                 ["ImportTableDescription"])["ImportStatus"] != "IN_PROGRESS" and d, "import finished")
    assert (imported["ImportStatus"], imported["ImportedItemCount"], imported["ErrorCount"]) == (
        "COMPLETED", 3, 0), imported
    scanned = _aws(url, "scan", "--table-name", "cli_imported", "--consistent-read")["Items"]
    assert sorted(scanned, key=lambda item: item["pk"]["S"]) == items
