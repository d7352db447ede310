"""Bad inputs to point-in-time recovery, export and import: DynamoDB's error types, and nothing half-made."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from tests.backup_helpers import wait_for
from tests.conftest import unique_name
from tests.test_conformance_backups import error
from tests.test_e2e_pitr import enable

NULL = "failed to satisfy constraint: Member must not be null"
MISSING_EXPORT = "arn:aws:dynamodb:ddblocal:000000000000:table/nope/export/01700000000000-deadbeef"
MISSING_IMPORT = "arn:aws:dynamodb:ddblocal:000000000000:table/nope/import/01700000000000-deadbeef"


@pytest.fixture
def raw(server: Any) -> Any:
    """A client that does not validate parameters, so the server sees what boto3 would refuse to send."""
    return boto3.client("dynamodb", endpoint_url=server.url, region_name="us-east-1", aws_access_key_id="test",
                        aws_secret_access_key="test",
                        config=Config(parameter_validation=False, retries={"max_attempts": 0}))


def one(message: str) -> tuple[str, str]:
    return "ValidationException", "1 validation error detected: " + message


@pytest.mark.parametrize("spec, expected", [
    ({"PointInTimeRecoveryEnabled": True, "RecoveryPeriodInDays": 0},
     one("Value '0' at 'pointInTimeRecoverySpecification.recoveryPeriodInDays' failed to satisfy constraint: "
         "Member must have value greater than or equal to 1")),
    ({"PointInTimeRecoveryEnabled": True, "RecoveryPeriodInDays": 36},
     one("Value '36' at 'pointInTimeRecoverySpecification.recoveryPeriodInDays' failed to satisfy constraint: "
         "Member must have value less than or equal to 35")),
    ({}, one(f"Value null at 'pointInTimeRecoverySpecification.pointInTimeRecoveryEnabled' {NULL}")),
    ({"PointInTimeRecoveryEnabled": False, "RecoveryPeriodInDays": 5},
     ("ValidationException", "RecoveryPeriodInDays can only be specified when PointInTimeRecoveryEnabled is true")),
])
def test_update_continuous_backups_errors(raw: Any, table: str, spec: dict[str, Any],
                                          expected: tuple[str, str]) -> None:
    assert error(raw.update_continuous_backups, TableName=table, PointInTimeRecoverySpecification=spec) == expected
    assert raw.describe_continuous_backups(TableName=table)["ContinuousBackupsDescription"][
        "PointInTimeRecoveryDescription"] == {"PointInTimeRecoveryStatus": "DISABLED"}


def test_continuous_backups_of_a_missing_table(raw: Any) -> None:
    spec = {"PointInTimeRecoveryEnabled": True}
    assert error(raw.update_continuous_backups, TableName="nope_missing", PointInTimeRecoverySpecification=spec) == (
        "TableNotFoundException", "Table not found: nope_missing")
    assert error(raw.describe_continuous_backups, TableName="nope_missing") == (
        "TableNotFoundException", "Table not found: nope_missing")
    assert error(raw.update_continuous_backups, TableName="t_x") == one(
        f"Value null at 'pointInTimeRecoverySpecification' {NULL}")


def test_restore_to_point_in_time_errors(raw: Any, ddb: Any, table: str, make_table: Any) -> None:
    target = unique_name("target")
    latest = {"UseLatestRestorableTime": True}
    assert error(raw.restore_table_to_point_in_time, TargetTableName=target, **latest) == (
        "ValidationException", "Exactly one of SourceTableArn or SourceTableName must be specified")
    assert error(raw.restore_table_to_point_in_time, SourceTableName=table, TargetTableName=target) == (
        "ValidationException", "Either RestoreDateTime or UseLatestRestorableTime must be specified")
    assert error(raw.restore_table_to_point_in_time, SourceTableName=table, TargetTableName=target,
                 RestoreDateTime=datetime.now(UTC), **latest) == (
        "ValidationException", "Only one of RestoreDateTime or UseLatestRestorableTime can be specified")
    assert error(raw.restore_table_to_point_in_time, SourceTableName="nope_missing", TargetTableName=target,
                 **latest) == ("TableNotFoundException", "Table not found: nope_missing")
    assert error(raw.restore_table_to_point_in_time, SourceTableName=table, TargetTableName=target, **latest) == (
        "PointInTimeRecoveryUnavailableException", f"Point in time recovery is not enabled for table '{table}'")
    assert error(raw.restore_table_to_point_in_time, SourceTableName=table, TargetTableName="x", **latest) == one(
        "Value 'x' at 'targetTableName' failed to satisfy constraint: Member must have length greater than or "
        "equal to 3")
    pitr = enable(ddb, table)
    too_early = pitr["EarliestRestorableDateTime"] - timedelta(seconds=5)
    for when in (too_early, datetime.now(UTC) + timedelta(hours=1)):
        assert error(raw.restore_table_to_point_in_time, SourceTableName=table, TargetTableName=target,
                     RestoreDateTime=when) == (
            "InvalidRestoreTimeException",
            "RestoreDateTime must be between EarliestRestorableDateTime and LatestRestorableDateTime")
    other = make_table()
    assert error(raw.restore_table_to_point_in_time, SourceTableName=table, TargetTableName=other, **latest) == (
        "TableAlreadyExistsException", f"Table already exists: {other}")
    assert error(raw.restore_table_to_point_in_time, SourceTableName=table, TargetTableName=target,
                 BillingModeOverride="PROVISIONED", **latest)[0] == "ValidationException"
    assert target not in ddb.list_tables()["TableNames"]


def test_export_errors(raw: Any, ddb: Any, table: str, tmp_path: Path) -> None:
    arn = ddb.describe_table(TableName=table)["Table"]["TableArn"]
    bucket = f"file://{tmp_path}"
    missing = arn.rsplit("/", 1)[0] + "/nope_missing"
    assert error(raw.export_table_to_point_in_time, TableArn=missing, S3Bucket=bucket) == (
        "TableNotFoundException", "Table not found: nope_missing")
    assert error(raw.export_table_to_point_in_time, TableArn=arn, S3Bucket=bucket) == (
        "PointInTimeRecoveryUnavailableException", f"Point in time recovery is not enabled for table '{table}'")
    assert error(raw.export_table_to_point_in_time, TableArn=arn) == one(f"Value null at 's3Bucket' {NULL}")
    assert error(raw.export_table_to_point_in_time, TableArn=arn, S3Bucket="bad bucket!") == one(
        "Value 'bad bucket!' at 's3Bucket' failed to satisfy constraint: Member must satisfy regular expression "
        "pattern: ^[a-z0-9A-Z]+[\\.\\-\\w]*[a-z0-9A-Z]+$")
    assert error(raw.export_table_to_point_in_time, TableArn=arn, S3Bucket="file://relative/dir")[0] == (
        "ValidationException")
    assert error(raw.export_table_to_point_in_time, TableArn=arn, S3Bucket=bucket, ExportFormat="CSV") == one(
        "Value 'CSV' at 'exportFormat' failed to satisfy constraint: Member must satisfy enum value set: "
        "[DYNAMODB_JSON, ION]")
    assert error(raw.export_table_to_point_in_time, TableArn=arn, S3Bucket=bucket, ExportFormat="ION")[0] == (
        "ValidationException")
    assert error(raw.export_table_to_point_in_time, TableArn=arn, S3Bucket=bucket,
                 ExportType="INCREMENTAL_EXPORT")[0] == "ValidationException"
    assert error(raw.export_table_to_point_in_time, TableArn=arn, S3Bucket=bucket, ClientToken="a$b") == one(
        "Value 'a$b' at 'clientToken' failed to satisfy constraint: Member must satisfy regular expression "
        "pattern: ^[^\\$]+$")
    enable(ddb, table)
    assert error(raw.export_table_to_point_in_time, TableArn=arn, S3Bucket=bucket,
                 ExportTime=datetime.now(UTC) + timedelta(hours=1)) == (
        "InvalidExportTimeException", "Export time cannot be in the future")
    assert error(raw.export_table_to_point_in_time, TableArn=arn, S3Bucket=bucket,
                 ExportTime=datetime.now(UTC) - timedelta(days=2)) == (
        "InvalidExportTimeException", "Export time must be within the point in time recovery window")
    first = raw.export_table_to_point_in_time(TableArn=arn, S3Bucket=bucket, ClientToken="tok-1")
    again = raw.export_table_to_point_in_time(TableArn=arn, S3Bucket=bucket, ClientToken="tok-1")
    assert again["ExportDescription"]["ExportArn"] == first["ExportDescription"]["ExportArn"]  # idempotent
    assert error(raw.export_table_to_point_in_time, TableArn=arn, S3Bucket=bucket, S3Prefix="other",
                 ClientToken="tok-1") == (
        "ExportConflictException", "Duplicate request detected with conflicting parameters")


def test_describe_and_list_export_errors(raw: Any) -> None:
    assert error(raw.describe_export, ExportArn=MISSING_EXPORT) == (
        "ExportNotFoundException", f"Export not found: {MISSING_EXPORT}")
    assert error(raw.describe_export, ExportArn="short") == one(
        "Value 'short' at 'exportArn' failed to satisfy constraint: Member must have length greater than or equal "
        "to 37")
    assert error(raw.list_exports, MaxResults=26) == one(
        "Value '26' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 25")
    assert error(raw.list_exports, NextToken="garbage") == ("ValidationException", "Invalid NextToken")


def _params(name: str, **changes: Any) -> dict[str, Any]:
    params = {"TableName": name, "BillingMode": "PAY_PER_REQUEST",
              "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
              "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}]}
    params.update(changes)
    return params


def test_import_errors_create_nothing(raw: Any, ddb: Any, table: str, tmp_path: Path) -> None:
    source = {"S3Bucket": f"file://{tmp_path}"}
    target = unique_name("imp")
    good = {"S3BucketSource": source, "InputFormat": "CSV", "TableCreationParameters": _params(target)}
    assert error(raw.import_table, **{**good, "TableCreationParameters": _params(table)}) == (
        "ResourceInUseException", f"Table already exists: {table}")
    assert error(raw.import_table, **{**good, "InputFormat": "XML"}) == one(
        "Value 'XML' at 'inputFormat' failed to satisfy constraint: Member must satisfy enum value set: "
        "[DYNAMODB_JSON, ION, CSV]")
    assert error(raw.import_table, **{**good, "InputFormat": "ION"})[0] == "ValidationException"
    assert error(raw.import_table, **{**good, "InputCompressionType": "ZSTD"})[0] == "ValidationException"
    assert error(raw.import_table, **{**good, "InputFormat": "DYNAMODB_JSON",
                                      "InputFormatOptions": {"Csv": {"Delimiter": ","}}})[0] == "ValidationException"
    assert error(raw.import_table, **{**good, "InputFormatOptions": {"Csv": {"Delimiter": "x"}}}) == one(
        "Value 'x' at 'inputFormatOptions.csv.delimiter' failed to satisfy constraint: Member must satisfy regular "
        "expression pattern: [,;:|\\t ]")
    assert error(raw.import_table, **{**good, "InputFormatOptions": {"Csv": {"HeaderList": []}}}) == one(
        "Value '[]' at 'inputFormatOptions.csv.headerList' failed to satisfy constraint: Member must have length "
        "greater than or equal to 1")
    assert error(raw.import_table, **{**good, "S3BucketSource": {}}) == one(
        f"Value null at 's3BucketSource.s3Bucket' {NULL}")
    assert error(raw.import_table, S3BucketSource=source, InputFormat="CSV") == one(
        f"Value null at 'tableCreationParameters' {NULL}")
    no_def = _params(target, AttributeDefinitions=[{"AttributeName": "other", "AttributeType": "S"}])
    assert error(raw.import_table, **{**good, "TableCreationParameters": no_def})[0] == "ValidationException"
    assert target not in ddb.list_tables()["TableNames"]


def test_describe_and_list_import_errors(raw: Any) -> None:
    assert error(raw.describe_import, ImportArn=MISSING_IMPORT) == (
        "ImportNotFoundException", f"Import not found: {MISSING_IMPORT}")
    assert error(raw.list_imports, PageSize=0) == one(
        "Value '0' at 'pageSize' failed to satisfy constraint: Member must have value greater than or equal to 1")
    assert error(raw.list_imports, NextToken="zz")[0] == "ValidationException"


@pytest.mark.parametrize(("arn", "expected"), [
    # Not an ARN, or an ARN of something other than an export: DynamoDB's ValidationException.
    ("qwerty:aws:dynamodb:us-east-1:000000000000:table/nonexistent_table_xyz", "ValidationException"),
    ("arn:aws:dynamodb:us-east-1:000000000000:table/nonexistent_table_xyz", "ValidationException"),
    ("arn:aws:dynamodb:ddblocal:000000000000:table/nope/index/by-x/export/1", "ValidationException"),
    # Another partition, service, region or account: nothing this caller may read.
    ("arn:qwerty:dynamodb:us-east-1:000000000000:table/nonexistent_table_xyz", "AccessDeniedException"),
    ("arn:aws:qwerty:us-east-1:000000000000:table/nonexistent_table_xyz", "AccessDeniedException"),
    ("arn:aws:dynamodb:qwerty:000000000000:table/nonexistent_table_xyz", "AccessDeniedException"),
    ("arn:aws:dynamodb:us-east-1:qwerty:table/nonexistent_table_xyz", "AccessDeniedException"),
])
def test_describe_export_checks_the_arn_before_looking_it_up(raw: Any, arn: str, expected: str) -> None:
    message = "Invalid Export ARN" if expected == "ValidationException" else "Access is denied"
    assert error(raw.describe_export, ExportArn=arn) == (expected, message)
    # A well-formed export ARN of another region is looked up (and not found), as one of this server's is.
    other_region = MISSING_EXPORT.replace(":ddblocal:", ":us-east-1:")
    assert error(raw.describe_export, ExportArn=other_region) == (
        "ExportNotFoundException", f"Export not found: {other_region}")


def _post(server: Any, target: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """One JSON request as a client without an SDK sends it (no idempotency token filled in)."""
    request = urllib.request.Request(server.url, data=json.dumps(body).encode(), method="POST", headers={
        "Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": f"DynamoDB_20120810.{target}"})
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as failure:
        return failure.code, json.loads(failure.read())


def test_import_needs_a_client_token(server: Any, ddb: Any, tmp_path: Path) -> None:
    # Optional in the API reference, required by DynamoDB; SDKs always send one (an idempotency token).
    target = unique_name("imp")
    status, body = _post(server, "ImportTable", {
        "S3BucketSource": {"S3Bucket": f"file://{tmp_path}"}, "InputFormat": "DYNAMODB_JSON",
        "TableCreationParameters": _params(target)})
    assert status == 400 and body["__type"].endswith("#ValidationException")
    assert body["message"] == ("1 validation error detected: Value null at 'clientToken' failed to satisfy "
                               "constraint: Member must not be null")
    assert target not in ddb.list_tables()["TableNames"]


def test_import_token_replayed_after_the_import_ended_meets_its_table(raw: Any, tmp_path: Path) -> None:
    (tmp_path / "one.json").write_text('{"Item": {"id": {"S": "a"}}}\n')
    target = unique_name("imp")
    request = {"S3BucketSource": {"S3Bucket": f"file://{tmp_path}"}, "InputFormat": "DYNAMODB_JSON",
               "TableCreationParameters": _params(target), "ClientToken": "replayed-token"}
    first = raw.import_table(**request)["ImportTableDescription"]
    assert "ProcessedSizeBytes" not in first and "EndTime" not in first  # nothing read yet, not ended
    try:
        def ended() -> Any:
            desc = raw.describe_import(ImportArn=first["ImportArn"])["ImportTableDescription"]
            return desc if desc["ImportStatus"] != "IN_PROGRESS" else None
        done = wait_for(ended, "import ended")
        assert done["ImportStatus"] == "COMPLETED" and done["ProcessedSizeBytes"] > 0
        # DynamoDB refuses on the table before it looks at the token once the import has ended.
        assert error(raw.import_table, **request) == ("ResourceInUseException", f"Table already exists: {target}")
    finally:
        raw.delete_table(TableName=target)


@pytest.mark.parametrize(("arn", "expected"), [
    ("arn:aws:dynamodb:ddblocal:000000000000:table/x/import/01658528578619-c4d4e311", "ValidationException"),
    ("arn:aws:dynamodb:ddblocal:000000000000:table/nope/export/01658528578619-c4d4e311", "ValidationException"),
    ("nope:aws:dynamodb:ddblocal:000000000000:table/nope/import/01658528578619-c4d4e311", "ValidationException"),
    ("arn:aws:dynamodb:ddblocal:0:table/nope/import/01658528578619-c4d4e311", "AccessDeniedException"),
])
def test_describe_import_checks_the_arn_before_looking_it_up(raw: Any, arn: str, expected: str) -> None:
    message = "Invalid Import ARN" if expected == "ValidationException" else "Access is denied"
    assert error(raw.describe_import, ImportArn=arn) == (expected, message)
    assert error(raw.describe_import, ImportArn=MISSING_IMPORT) == (
        "ImportNotFoundException", f"Import not found: {MISSING_IMPORT}")
