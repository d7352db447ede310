"""ExportTableToPointInTime and ImportTable end to end through boto3: DynamoDB's layout, exact round trips."""

from __future__ import annotations

import gzip
import json
import math
import tomllib
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.backup_helpers import HistoryWriter, state_after, wait_for
from tests.conftest import unique_name
from tests.test_e2e_backups import active, seed
from tests.test_e2e_pitr import enable

COUNT = 2000


@pytest.fixture(autouse=True)
def _engine_only(request: pytest.FixtureRequest) -> None:
    if "dynamodb-upstream" in request.node.name:
        pytest.skip("exports and imports go to a local directory; an upstream DynamoDB writes to S3")


def exported(ddb: Any, arn: str) -> dict[str, Any]:
    def done() -> Any:
        desc = ddb.describe_export(ExportArn=arn)["ExportDescription"]
        return desc if desc["ExportStatus"] != "IN_PROGRESS" else None
    desc = wait_for(done, "export finished")
    assert desc["ExportStatus"] == "COMPLETED", desc
    return desc


def imported(ddb: Any, arn: str) -> dict[str, Any]:
    def done() -> Any:
        desc = ddb.describe_import(ImportArn=arn)["ImportTableDescription"]
        return desc if desc["ImportStatus"] != "IN_PROGRESS" else None
    return wait_for(done, "import finished")


def item(i: int) -> dict[str, Any]:
    """Every attribute type, some values varying with ``i``."""
    out: dict[str, Any] = {"pk": {"S": f"user#{i % 37}"}, "sk": {"N": str(i)}, "n": {"N": f"{i}.5"},
                           "b": {"B": bytes([i % 256, 1, 2])}, "flag": {"BOOL": i % 2 == 0},
                           "tags": {"SS": [f"t{i % 5}", "all"]}, "nums": {"NS": ["1", str(i + 2)]},
                           "blobs": {"BS": [b"x", bytes([200 + i % 50])]}, "nested": {"M": {
                               "l": {"L": [{"S": "é€😀"}, {"NULL": True}, {"N": "-0.001"}]}, "deep": {"M": {}}}}}
    if i % 3 == 0:
        out["status"] = {"S": "open" if i % 2 else "closed"}
    return out


def make_source(ddb: Any, cleanup: Any) -> tuple[str, str]:
    name = unique_name("src")
    ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                           {"AttributeName": "sk", "AttributeType": "N"}])
    cleanup(table=name)
    for start in range(0, COUNT, 25):
        ddb.batch_write_item(RequestItems={name: [{"PutRequest": {"Item": item(i)}}
                                                  for i in range(start, min(COUNT, start + 25))]})
    return name, ddb.describe_table(TableName=name)["Table"]["TableArn"]


def scan_all(ddb: Any, table: str) -> list[dict[str, Any]]:
    items = [i for page in ddb.get_paginator("scan").paginate(TableName=table, ConsistentRead=True)
             for i in page["Items"]]
    return sorted(items, key=lambda i: (i["pk"]["S"], int(i["sk"]["N"])))


def read_export(bucket: Path, desc: dict[str, Any]) -> list[dict[str, Any]]:
    """The items of an export, read the way a consumer reads DynamoDB's: summary -> files manifest -> data."""
    summary = json.loads((bucket / desc["ExportManifest"]).read_text())
    lines = (bucket / summary["manifestFilesS3Key"]).read_text().splitlines()
    items = []
    for entry in map(json.loads, lines):
        with gzip.open(bucket / entry["dataFileS3Key"], "rt", encoding="utf-8") as f:
            rows = [json.loads(line)["Item"] for line in f]
        assert len(rows) == entry["itemCount"]
        items += rows
    assert len(items) == summary["itemCount"]
    return items


def test_export_layout_and_exact_round_trip(ddb: Any, cleanup: Any, tmp_path: Path) -> None:
    name, arn = make_source(ddb, cleanup)
    enable(ddb, name)
    started = ddb.export_table_to_point_in_time(TableArn=arn, S3Bucket=f"file://{tmp_path}", S3Prefix="exports/x",
                                                ExportFormat="DYNAMODB_JSON")["ExportDescription"]
    assert started["ExportStatus"] == "IN_PROGRESS" and started["ExportType"] == "FULL_EXPORT"
    desc = exported(ddb, started["ExportArn"])
    assert desc["ItemCount"] == COUNT and desc["BilledSizeBytes"] > 0
    export_id = desc["ExportArn"].rsplit("/", 1)[1]
    home = tmp_path / "exports/x/AWSDynamoDB" / export_id
    assert desc["ExportManifest"] == f"exports/x/AWSDynamoDB/{export_id}/manifest-summary.json"
    assert (home / "_started").exists()
    summary = json.loads((home / "manifest-summary.json").read_text())
    assert summary["exportArn"] == desc["ExportArn"] and summary["tableArn"] == arn
    assert summary["outputFormat"] == "DYNAMODB_JSON" and summary["exportType"] == "FULL_EXPORT"
    assert summary["itemCount"] == COUNT and summary["s3Prefix"] == "exports/x"
    assert summary["exportTime"].endswith("Z")
    assert len(read_export(tmp_path, desc)) == COUNT
    assert desc["ExportArn"] in [e["ExportArn"] for e in ddb.list_exports(TableArn=arn)["ExportSummaries"]]

    target = unique_name("imported")
    cleanup(table=target)
    started_import = ddb.import_table(
        S3BucketSource={"S3Bucket": f"file://{tmp_path}", "S3KeyPrefix": f"exports/x/AWSDynamoDB/{export_id}/data/"},
        InputFormat="DYNAMODB_JSON", InputCompressionType="GZIP",
        TableCreationParameters={
            "TableName": target, "BillingMode": "PAY_PER_REQUEST",
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"},
                                     {"AttributeName": "sk", "AttributeType": "N"},
                                     {"AttributeName": "status", "AttributeType": "S"}],
            "GlobalSecondaryIndexes": [{"IndexName": "by_status", "Projection": {"ProjectionType": "KEYS_ONLY"},
                                        "KeySchema": [{"AttributeName": "status", "KeyType": "HASH"}]}]},
    )["ImportTableDescription"]
    assert started_import["ImportStatus"] == "IN_PROGRESS"
    done = imported(ddb, started_import["ImportArn"])
    assert done["ImportStatus"] == "COMPLETED", done
    assert (done["ImportedItemCount"], done["ProcessedItemCount"], done["ErrorCount"]) == (COUNT, COUNT, 0)
    active(ddb, target)
    assert scan_all(ddb, target) == scan_all(ddb, name)  # every attribute of every item, exactly
    opened = ddb.query(TableName=target, IndexName="by_status", KeyConditionExpression="#s = :s",
                       ExpressionAttributeNames={"#s": "status"}, ExpressionAttributeValues={":s": {"S": "open"}})
    assert opened["Count"] == len([i for i in range(COUNT) if i % 3 == 0 and i % 2])
    summaries = ddb.list_imports()["ImportSummaryList"]
    assert started_import["ImportArn"] in [s["ImportArn"] for s in summaries]


def test_export_is_one_instant_under_writes(ddb: Any, table: str, tmp_path: Path) -> None:
    initial = seed(ddb, table)
    arn = ddb.describe_table(TableName=table)["Table"]["TableArn"]
    with HistoryWriter(ddb, table) as writer:
        writer.wait_acked(20)
        pitr = enable(ddb, table)
        before = writer.acked
        now = ddb.export_table_to_point_in_time(TableArn=arn, S3Bucket=f"file://{tmp_path}")["ExportDescription"]
        after = writer.started
        at = math.ceil(pitr["EarliestRestorableDateTime"].timestamp()) + 1
        wait_for(lambda: writer.acks and writer.acks[-1] > at + 0.3, "writes past the export time")
        past = ddb.export_table_to_point_in_time(TableArn=arn, S3Bucket=f"file://{tmp_path}",
                                                 ExportTime=datetime.fromtimestamp(at, UTC))["ExportDescription"]
    for desc, lower, upper in ((now, before, after), (past, *writer.bounds(at))):
        rows = read_export(tmp_path, exported(ddb, desc["ExportArn"]))
        state = {r["pk"]["S"]: int(r["v"]["N"]) for r in rows}
        assert any(state_after(k, initial) == state for k in range(lower, upper + 1)), (lower, upper)


def test_csv_import_types_keys_and_counts_errors(ddb: Any, cleanup: Any, tmp_path: Path) -> None:
    data = tmp_path / "bucket" / "csv"
    data.mkdir(parents=True)
    (data / "part1.csv").write_text('id;name;score\n1;"Ann; the first";90\n2;Bob;\nnot-a-number;Eve;1\n')
    (data / "part2.csv").write_text("id;name;score\n3;Cy;7.50\n")
    target = unique_name("csv")
    cleanup(table=target)
    desc = ddb.import_table(
        S3BucketSource={"S3Bucket": f"file://{tmp_path / 'bucket'}", "S3KeyPrefix": "csv/"}, InputFormat="CSV",
        InputFormatOptions={"Csv": {"Delimiter": ";"}},
        TableCreationParameters={"TableName": target, "BillingMode": "PAY_PER_REQUEST",
                                 "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
                                 "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "N"}]},
    )["ImportTableDescription"]
    done = imported(ddb, desc["ImportArn"])
    assert (done["ImportStatus"], done["ImportedItemCount"], done["ErrorCount"]) == ("COMPLETED", 3, 1)
    items = {int(i["id"]["N"]): i for i in ddb.scan(TableName=target)["Items"]}
    assert items == {1: {"id": {"N": "1"}, "name": {"S": "Ann; the first"}, "score": {"S": "90"}},
                     2: {"id": {"N": "2"}, "name": {"S": "Bob"}},
                     3: {"id": {"N": "3"}, "name": {"S": "Cy"}, "score": {"S": "7.50"}}}


def test_import_of_nothing_completes_with_the_empty_table(ddb: Any, tmp_path: Path) -> None:
    # DynamoDB: a prefix that matches no object is a COMPLETED import, and the table it asked for stays.
    target = unique_name("empty")
    desc = ddb.import_table(
        S3BucketSource={"S3Bucket": f"file://{tmp_path}", "S3KeyPrefix": "nothing-here/"},
        InputFormat="DYNAMODB_JSON",
        TableCreationParameters={"TableName": target, "BillingMode": "PAY_PER_REQUEST",
                                 "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
                                 "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}]},
    )["ImportTableDescription"]
    assert "ProcessedSizeBytes" not in desc and "EndTime" not in desc
    done = imported(ddb, desc["ImportArn"])
    assert done["ImportStatus"] == "COMPLETED" and "FailureMessage" not in done
    assert (done["ProcessedItemCount"], done["ImportedItemCount"], done["ErrorCount"]) == (0, 0, 0)
    assert "ProcessedSizeBytes" not in done  # nothing was read
    try:
        active(ddb, target)
        assert ddb.scan(TableName=target)["Items"] == []
    finally:
        ddb.delete_table(TableName=target)


def _export_root(server: Any) -> Path:
    backend = tomllib.loads(Path(server.config).read_text())["backend"]
    return Path(backend.get("export_root") or Path(backend["data_dir"]) / "exports")


def test_export_to_a_bucket_that_does_not_exist_fails_as_s3_would(ddb: Any, server: Any, table: str) -> None:
    enable(ddb, table)
    arn = ddb.describe_table(TableName=table)["Table"]["TableArn"]
    ddb.put_item(TableName=table, Item={"pk": {"S": "one"}})
    missing = f"no-such-bucket-{uuid.uuid4().hex[:8]}"
    # Accepted (DynamoDB does not look at the bucket up front), then FAILED with S3's code; nothing is made.
    started = ddb.export_table_to_point_in_time(TableArn=arn, S3Bucket=missing)["ExportDescription"]
    assert started["ExportStatus"] == "IN_PROGRESS"

    def done() -> Any:
        desc = ddb.describe_export(ExportArn=started["ExportArn"])["ExportDescription"]
        return desc if desc["ExportStatus"] != "IN_PROGRESS" else None
    failed = wait_for(done, "export ended")
    assert (failed["ExportStatus"], failed["FailureCode"], failed["FailureMessage"]) == (
        "FAILED", "S3NoSuchBucket", "The specified bucket does not exist")
    assert "EndTime" in failed and "ExportManifest" not in failed
    assert not (_export_root(server) / missing).exists()
    # Once the bucket exists (a directory under export_root), the same request completes into it.
    made = _export_root(server) / f"made-{uuid.uuid4().hex[:8]}"
    made.mkdir(parents=True)
    desc = exported(ddb, ddb.export_table_to_point_in_time(TableArn=arn, S3Bucket=made.name)["ExportDescription"]
                    ["ExportArn"])
    assert desc["ItemCount"] == 1 and (made / desc["ExportManifest"]).is_file()
