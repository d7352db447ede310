"""On-demand backups end to end through boto3, on every backend: consistency under writes, restores, listing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from tests.backup_helpers import KEYS, HistoryWriter, state_after, table_items, wait_for
from tests.conftest import unique_name


def available(ddb: Any, arn: str) -> dict[str, Any]:
    def done() -> Any:
        desc = ddb.describe_backup(BackupArn=arn)["BackupDescription"]
        return desc if desc["BackupDetails"]["BackupStatus"] == "AVAILABLE" else None
    return wait_for(done, "backup AVAILABLE")


def active(ddb: Any, name: str) -> dict[str, Any]:
    def done() -> Any:
        desc = ddb.describe_table(TableName=name)["Table"]
        return desc if desc["TableStatus"] == "ACTIVE" else None
    return wait_for(done, "table ACTIVE")


def seed(ddb: Any, table: str) -> dict[str, int]:
    initial = {f"k{i}": -i for i in range(KEYS)}
    for start in range(0, KEYS, 25):
        ddb.batch_write_item(RequestItems={table: [
            {"PutRequest": {"Item": {"pk": {"S": k}, "v": {"N": str(v)}}}}
            for k, v in list(initial.items())[start:start + 25]]})
    return initial


def test_backup_is_the_table_at_one_instant_under_writes(ddb: Any, table: str, cleanup: Any) -> None:
    initial = seed(ddb, table)
    with HistoryWriter(ddb, table) as writer:
        writer.wait_acked(30)
        before = writer.acked
        details = ddb.create_backup(TableName=table, BackupName="under-writes")["BackupDetails"]
        after = writer.started
        cleanup(backup=details["BackupArn"])
        assert details["BackupStatus"] in ("CREATING", "AVAILABLE")
        writer.wait_acked(after + 30)  # writes go on while the backup is copied
        available(ddb, details["BackupArn"])
    target = unique_name("restored")
    cleanup(table=target)
    ddb.restore_table_from_backup(TargetTableName=target, BackupArn=details["BackupArn"])
    active(ddb, target)
    restored = table_items(ddb, target)
    matches = [k for k in range(before, after + 1) if state_after(k, initial) == restored]
    assert matches, f"the restored table is no state of the source between writes {before} and {after}"
    assert table_items(ddb, table) == state_after(writer.acked, initial)  # the source kept every write


def test_restore_keeps_indexes_and_applies_overrides(ddb: Any, indexed: str, cleanup: Any) -> None:
    for i in range(20):
        ddb.put_item(TableName=indexed, Item={"user": {"S": f"u{i % 3}"}, "ts": {"N": str(i)},
                                              "status": {"S": "open" if i % 2 else "done"},
                                              "score": {"N": str(100 - i)}, "note": {"S": f"n{i}"}})
    arn = ddb.create_backup(TableName=indexed, BackupName="with-indexes")["BackupDetails"]["BackupArn"]
    cleanup(backup=arn)
    desc = available(ddb, arn)
    features = desc["SourceTableFeatureDetails"]
    assert {i["IndexName"] for i in features["GlobalSecondaryIndexes"]} == {"by_status", "status_only"}
    assert [i["IndexName"] for i in features["LocalSecondaryIndexes"]] == ["by_score"]
    assert desc["SourceTableDetails"]["ItemCount"] == 20

    full = unique_name("full")
    cleanup(table=full)
    ddb.restore_table_from_backup(TargetTableName=full, BackupArn=arn)
    table = active(ddb, full)
    assert table["RestoreSummary"]["SourceBackupArn"] == arn
    assert table["RestoreSummary"]["RestoreInProgress"] is False
    assert {i["IndexName"] for i in table["GlobalSecondaryIndexes"]} == {"by_status", "status_only"}
    opened = ddb.query(TableName=full, IndexName="by_status", KeyConditionExpression="#s = :s",
                       ExpressionAttributeNames={"#s": "status"}, ExpressionAttributeValues={":s": {"S": "open"}})
    assert opened["Count"] == 10
    assert [int(i["score"]["N"]) for i in opened["Items"]] == sorted(int(i["score"]["N"]) for i in opened["Items"])
    local = ddb.query(TableName=full, IndexName="by_score", KeyConditionExpression="#u = :u",
                      ExpressionAttributeNames={"#u": "user"}, ExpressionAttributeValues={":u": {"S": "u0"}})
    assert local["Count"] == 7

    slim = unique_name("slim")
    cleanup(table=slim)
    gsi = next(i for i in features["GlobalSecondaryIndexes"] if i["IndexName"] == "status_only")
    ddb.restore_table_from_backup(
        TargetTableName=slim, BackupArn=arn, BillingModeOverride="PROVISIONED",
        ProvisionedThroughputOverride={"ReadCapacityUnits": 7, "WriteCapacityUnits": 3},
        GlobalSecondaryIndexOverride=[{"IndexName": "status_only", "KeySchema": gsi["KeySchema"],
                                       "Projection": gsi["Projection"],
                                       "ProvisionedThroughput": {"ReadCapacityUnits": 2, "WriteCapacityUnits": 2}}],
        LocalSecondaryIndexOverride=[])
    table = active(ddb, slim)
    assert [i["IndexName"] for i in table["GlobalSecondaryIndexes"]] == ["status_only"]
    assert "LocalSecondaryIndexes" not in table
    assert table["ProvisionedThroughput"]["ReadCapacityUnits"] == 7
    assert table.get("BillingModeSummary", {}).get("BillingMode", "PROVISIONED") == "PROVISIONED"
    done = ddb.query(TableName=slim, IndexName="status_only", KeyConditionExpression="#s = :s",
                     ExpressionAttributeNames={"#s": "status"}, ExpressionAttributeValues={":s": {"S": "done"}})
    assert done["Count"] == 10 and all(set(i) == {"user", "ts", "status", "note"} for i in done["Items"])


def test_list_filters_and_pages(ddb: Any, make_table: Callable[..., str], cleanup: Any) -> None:
    first, second = make_table(), make_table()
    arns = []
    for name in (first, second, first):
        arn = ddb.create_backup(TableName=name, BackupName=f"b-{name}")["BackupDetails"]["BackupArn"]
        cleanup(backup=arn)
        arns.append(arn)
    for arn in arns:
        available(ddb, arn)
    mine = [s for s in ddb.list_backups()["BackupSummaries"] if s["BackupArn"] in arns]
    assert [s["BackupArn"] for s in mine] == arns  # oldest first
    of_first = ddb.list_backups(TableName=first)["BackupSummaries"]
    assert [s["BackupArn"] for s in of_first] == [arns[0], arns[2]]
    assert all(s["TableName"] == first and s["BackupType"] == "USER" for s in of_first)
    page = ddb.list_backups(TableName=first, Limit=1)
    assert [s["BackupArn"] for s in page["BackupSummaries"]] == [arns[0]]
    assert page["LastEvaluatedBackupArn"] == arns[0]
    rest = ddb.list_backups(TableName=first, Limit=1, ExclusiveStartBackupArn=arns[0])
    assert [s["BackupArn"] for s in rest["BackupSummaries"]] == [arns[2]]
    # boto3 sends timestamps in whole seconds: bound by the second the first backup was made in.
    second = of_first[0]["BackupCreationDateTime"].replace(microsecond=0)
    assert len(ddb.list_backups(TableName=first, TimeRangeLowerBound=second)["BackupSummaries"]) == 2  # inclusive
    assert ddb.list_backups(TableName=first, TimeRangeUpperBound=second)["BackupSummaries"] == []  # exclusive
    later = of_first[-1]["BackupCreationDateTime"].replace(microsecond=0) + timedelta(seconds=1)
    assert ddb.list_backups(TableName=first, TimeRangeLowerBound=later)["BackupSummaries"] == []
    assert len(ddb.list_backups(TableName=first, TimeRangeUpperBound=later)["BackupSummaries"]) == 2
    assert ddb.list_backups(TableName=first, BackupType="SYSTEM")["BackupSummaries"] == []
    assert len(ddb.list_backups(TableName=first, BackupType="ALL")["BackupSummaries"]) == 2

    deleted = ddb.delete_backup(BackupArn=arns[0])["BackupDescription"]
    assert deleted["BackupDetails"]["BackupStatus"] == "DELETED"
    assert [s["BackupArn"] for s in ddb.list_backups(TableName=first)["BackupSummaries"]] == [arns[2]]
    with pytest.raises(ddb.exceptions.BackupNotFoundException):
        ddb.describe_backup(BackupArn=arns[0])


def test_backup_outlives_its_table(ddb: Any, cleanup: Any) -> None:
    name = unique_name()
    ddb.create_table(TableName=name, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                     BillingMode="PAY_PER_REQUEST")
    ddb.put_item(TableName=name, Item={"pk": {"S": "a"}, "v": {"N": "1"}})
    arn = ddb.create_backup(TableName=name, BackupName="keep")["BackupDetails"]["BackupArn"]
    cleanup(backup=arn)
    available(ddb, arn)
    ddb.delete_table(TableName=name)
    cleanup(table=name)
    ddb.restore_table_from_backup(TargetTableName=name, BackupArn=arn)  # same name as the deleted source
    active(ddb, name)
    assert table_items(ddb, name) == {"a": 1}
