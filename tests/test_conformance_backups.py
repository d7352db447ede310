"""Bad inputs to the backup operations: DynamoDB's error types and messages, and nothing half-made."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.backup_helpers import wait_for
from tests.conftest import unique_name

MISSING_ARN = "arn:aws:dynamodb:ddblocal:000000000000:table/nope/backup/01700000000000-deadbeef"


@pytest.fixture
def raw(server: Any) -> Any:
    """A client that does not validate parameters, so the server sees what boto3 would refuse to send."""
    return boto3.client("dynamodb", endpoint_url=server.url, region_name="us-east-1", aws_access_key_id="test",
                        aws_secret_access_key="test",
                        config=Config(parameter_validation=False, retries={"max_attempts": 0}))


def error(call: Any, **kwargs: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    err = info.value.response["Error"]
    return err["Code"], err["Message"]


@pytest.fixture
def backup(ddb: Any, table: str) -> Any:
    ddb.put_item(TableName=table, Item={"pk": {"S": "a"}})
    arn = ddb.create_backup(TableName=table, BackupName="fixture")["BackupDetails"]["BackupArn"]
    wait_for(lambda: ddb.describe_backup(BackupArn=arn)["BackupDescription"]["BackupDetails"]["BackupStatus"]
             == "AVAILABLE", "backup AVAILABLE")
    yield arn
    ddb.delete_backup(BackupArn=arn)


@pytest.mark.parametrize("kwargs, expected", [
    ({"TableName": "nope_missing", "BackupName": "abc"}, ("TableNotFoundException", "Table not found: nope_missing")),
    ({"TableName": "arn:aws:dynamodb:ddblocal:000000000000:table/nope_arn", "BackupName": "abc"},
     ("TableNotFoundException", "Table not found: nope_arn")),
    ({"TableName": "t_x", "BackupName": "ab"},
     ("ValidationException", "1 validation error detected: Value 'ab' at 'backupName' failed to satisfy "
                             "constraint: Member must have length greater than or equal to 3")),
    ({"TableName": "t_x", "BackupName": "bad name"},
     ("ValidationException", "1 validation error detected: Value 'bad name' at 'backupName' failed to satisfy "
                             "constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+")),
    ({"TableName": "t_x"},
     ("ValidationException", "1 validation error detected: Value null at 'backupName' failed to satisfy "
                             "constraint: Member must not be null")),
    ({"TableName": "", "BackupName": "abc"},
     ("ValidationException", "1 validation error detected: Value '' at 'tableName' failed to satisfy "
                             "constraint: Member must have length greater than or equal to 1")),
])
def test_create_backup_errors(raw: Any, kwargs: dict[str, Any], expected: tuple[str, str]) -> None:
    assert error(raw.create_backup, **kwargs) == expected


def test_describe_and_delete_unknown_backup(raw: Any) -> None:
    assert error(raw.describe_backup, BackupArn=MISSING_ARN) == ("BackupNotFoundException",
                                                                 f"Backup not found: {MISSING_ARN}")
    assert error(raw.delete_backup, BackupArn=MISSING_ARN) == ("BackupNotFoundException",
                                                               f"Backup not found: {MISSING_ARN}")
    assert error(raw.describe_backup, BackupArn="arn:short") == (
        "ValidationException", "1 validation error detected: Value 'arn:short' at 'backupArn' failed to satisfy "
                               "constraint: Member must have length greater than or equal to 37")
    assert error(raw.describe_backup)[0] == "ValidationException"


@pytest.mark.parametrize("kwargs, expected", [
    ({"Limit": 0}, ("ValidationException", "1 validation error detected: Value '0' at 'limit' failed to satisfy "
                                           "constraint: Member must have value greater than or equal to 1")),
    ({"Limit": 101}, ("ValidationException", "1 validation error detected: Value '101' at 'limit' failed to "
                                             "satisfy constraint: Member must have value less than or equal to 100")),
    ({"BackupType": "MINE"},
     ("ValidationException", "1 validation error detected: Value 'MINE' at 'backupType' failed to satisfy "
                             "constraint: Member must satisfy enum value set: [USER, SYSTEM, AWS_BACKUP, ALL]")),
    ({"ExclusiveStartBackupArn": "short"},
     ("ValidationException", "1 validation error detected: Value 'short' at 'exclusiveStartBackupArn' failed to "
                             "satisfy constraint: Member must have length greater than or equal to 37")),
])
def test_list_backups_errors(raw: Any, kwargs: dict[str, Any], expected: tuple[str, str]) -> None:
    assert error(raw.list_backups, **kwargs) == expected


def test_list_backups_bad_timestamp(raw: Any, server: Any) -> None:
    import urllib.request

    body = b'{"TimeRangeLowerBound": "yesterday"}'
    request = urllib.request.Request(server.url, data=body, headers={
        "X-Amz-Target": "DynamoDB_20120810.ListBackups", "Content-Type": "application/x-amz-json-1.0"})
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request)
    assert b"SerializationException" in info.value.read()
    assert raw.list_backups(TableName="nope_none")["BackupSummaries"] == []


def test_restore_errors_create_nothing(raw: Any, ddb: Any, table: str, backup: str) -> None:
    target = unique_name("target")
    assert error(raw.restore_table_from_backup, TargetTableName=table, BackupArn=backup) == (
        "TableAlreadyExistsException", f"Table already exists: {table}")
    assert error(raw.restore_table_from_backup, TargetTableName=target, BackupArn=MISSING_ARN) == (
        "BackupNotFoundException", f"Backup not found: {MISSING_ARN}")
    assert error(raw.restore_table_from_backup, TargetTableName="x", BackupArn=backup) == (
        "ValidationException", "1 validation error detected: Value 'x' at 'targetTableName' failed to satisfy "
                               "constraint: Member must have length greater than or equal to 3")
    assert error(raw.restore_table_from_backup, TargetTableName=target, BackupArn=backup,
                 BillingModeOverride="FREE") == (
        "ValidationException", "1 validation error detected: Value 'FREE' at 'billingModeOverride' failed to "
                               "satisfy constraint: Member must satisfy enum value set: [PROVISIONED, "
                               "PAY_PER_REQUEST]")
    assert error(raw.restore_table_from_backup, TargetTableName=target, BackupArn=backup,
                 ProvisionedThroughputOverride={"ReadCapacityUnits": 0, "WriteCapacityUnits": 1}) == (
        "ValidationException", "1 validation error detected: Value '0' at 'provisionedThroughputOverride."
                               "readCapacityUnits' failed to satisfy constraint: Member must have value greater "
                               "than or equal to 1")
    assert error(raw.restore_table_from_backup, TargetTableName=target, BackupArn=backup,
                 ProvisionedThroughputOverride={"ReadCapacityUnits": 1, "WriteCapacityUnits": 1}) == (
        "ValidationException", "One or more parameter values were invalid: Neither ReadCapacityUnits nor "
                               "WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST")
    assert error(raw.restore_table_from_backup, TargetTableName=target, BackupArn=backup,
                 BillingModeOverride="PROVISIONED") == (
        "ValidationException", "One or more parameter values were invalid: ReadCapacityUnits and "
                               "WriteCapacityUnits must both be specified when BillingMode is PROVISIONED")
    assert error(raw.restore_table_from_backup, TargetTableName=target, BackupArn=backup,
                 GlobalSecondaryIndexOverride=[{"IndexName": "nope", "KeySchema": [
                     {"AttributeName": "other", "KeyType": "HASH"}], "Projection": {"ProjectionType": "ALL"}}]
                 )[0] == "ValidationException"
    assert target not in ddb.list_tables()["TableNames"]
