"""A table a restore or an import is still filling (CREATING) is not found by item operations, as in DynamoDB.

The fill runs as background work, so each probe is judged by the DescribeTable that follows it: the status
only goes from CREATING to ACTIVE, so a probe answered before a CREATING description ran while the table
was CREATING and must have met ResourceNotFoundException. A fill large enough to be seen mid-way is made by
importing a file; once ACTIVE every operation works and sees the filled items.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import unique_name
from tests.test_e2e_backups import active, available
from tests.test_e2e_export_import import imported
from tests.test_e2e_pitr import enable

ROWS = 30000
KEY = {"pk": {"S": "k1"}}


@pytest.fixture(autouse=True)
def _engine_only(request: pytest.FixtureRequest) -> None:
    if "dynamodb-upstream" in request.node.name:
        pytest.skip("imports read a local directory and restores run in the engine")


def _operations(ddb: Any, table: str) -> dict[str, Any]:
    """Every item operation on ``table``, each a thunk."""
    cond = {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "k1"}}}
    return {
        "GetItem": lambda: ddb.get_item(TableName=table, Key=KEY),
        "PutItem": lambda: ddb.put_item(TableName=table, Item={"pk": {"S": "new"}}),
        "UpdateItem": lambda: ddb.update_item(TableName=table, Key={"pk": {"S": "new"}},
                                              UpdateExpression="SET v = :v",
                                              ExpressionAttributeValues={":v": {"N": "1"}}),
        "DeleteItem": lambda: ddb.delete_item(TableName=table, Key={"pk": {"S": "gone"}}),
        "Query": lambda: ddb.query(TableName=table, **cond),
        "Scan": lambda: ddb.scan(TableName=table, Limit=1),
        "BatchGetItem": lambda: ddb.batch_get_item(RequestItems={table: {"Keys": [KEY]}}),
        "BatchWriteItem": lambda: ddb.batch_write_item(RequestItems={table: [
            {"PutRequest": {"Item": {"pk": {"S": "new"}}}}]}),
        "TransactGetItems": lambda: ddb.transact_get_items(TransactItems=[{"Get": {"TableName": table, "Key": KEY}}]),
        "TransactWriteItems": lambda: ddb.transact_write_items(TransactItems=[
            {"Put": {"TableName": table, "Item": {"pk": {"S": "new"}}}}]),
    }


def _error(call: Any) -> tuple[str, str] | None:
    try:
        call()
    except ClientError as exc:
        return exc.response["Error"]["Code"], exc.response["Error"]["Message"]
    return None


def _probe_until_active(ddb: Any, table: str) -> int:
    """Run every item operation until the table is ACTIVE; returns how many rounds ran while it was CREATING."""
    seen_creating = 0
    while True:
        answers = {op: _error(call) for op, call in _operations(ddb, table).items()}
        status = ddb.describe_table(TableName=table)["Table"]["TableStatus"]
        if status == "ACTIVE":
            return seen_creating
        assert status == "CREATING"
        assert answers == dict.fromkeys(answers, ("ResourceNotFoundException", "Requested resource not found"))
        seen_creating += 1


def _import(ddb: Any, bucket: Path, target: str) -> str:
    bucket.mkdir(parents=True)
    with (bucket / "data.json").open("w") as out:
        for i in range(ROWS):
            out.write(json.dumps({"Item": {"pk": {"S": f"k{i}"}, "v": {"N": str(i)}}}) + "\n")
    return ddb.import_table(
        S3BucketSource={"S3Bucket": f"file://{bucket}"}, InputFormat="DYNAMODB_JSON",
        TableCreationParameters={"TableName": target, "BillingMode": "PAY_PER_REQUEST",
                                 "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                                 "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}]},
    )["ImportTableDescription"]["ImportArn"]


def _works_when_active(ddb: Any, table: str) -> None:
    assert ddb.get_item(TableName=table, Key=KEY)["Item"] == {"pk": {"S": "k1"}, "v": {"N": "1"}}
    assert ddb.get_item(TableName=table, Key=KEY)["Item"]["v"] == {"N": "1"}  # a cache hit, if cached
    for op, call in _operations(ddb, table).items():
        assert _error(call) is None, op
    assert ddb.describe_table(TableName=table)["Table"]["ItemCount"] >= 0


def test_an_importing_table_is_not_found_until_active(ddb: Any, cleanup: Any, tmp_path: Path) -> None:
    target = unique_name("importing")
    cleanup(table=target)
    arn = _import(ddb, tmp_path / "bucket", target)
    assert _probe_until_active(ddb, target) > 0, "the fill ended before any probe: make ROWS larger"
    done = imported(ddb, arn)
    assert done["ImportStatus"] == "COMPLETED" and done["ImportedItemCount"] == ROWS
    _works_when_active(ddb, target)


def test_a_restoring_table_is_not_found_until_active(ddb: Any, cleanup: Any, tmp_path: Path) -> None:
    source = unique_name("fillsrc")
    cleanup(table=source)
    _import(ddb, tmp_path / "bucket", source)
    active(ddb, source)
    backup = ddb.create_backup(TableName=source, BackupName="big")["BackupDetails"]["BackupArn"]
    cleanup(backup=backup)
    available(ddb, backup)
    target = unique_name("restoring")
    cleanup(table=target)
    desc = ddb.restore_table_from_backup(TargetTableName=target, BackupArn=backup)["TableDescription"]
    assert desc["TableStatus"] == "CREATING"
    assert _probe_until_active(ddb, target) > 0, "the fill ended before any probe: make ROWS larger"
    assert ddb.describe_table(TableName=target)["Table"]["RestoreSummary"]["RestoreInProgress"] is False
    _works_when_active(ddb, target)


def test_a_table_restored_to_a_point_in_time_is_not_found_until_active(ddb: Any, cleanup: Any, tmp_path: Path,
                                                                        request: pytest.FixtureRequest) -> None:
    if "redis-cluster" in request.node.name:  # the same fill as the restore above; only the base copy differs
        pytest.skip("the recovery base of ROWS items outlasts enable()'s wait on the throwaway cluster")
    source = unique_name("pitrsrc")
    cleanup(table=source)
    _import(ddb, tmp_path / "bucket", source)
    active(ddb, source)
    enable(ddb, source)
    target = unique_name("pitrdst")
    cleanup(table=target)
    desc = ddb.restore_table_to_point_in_time(SourceTableName=source, TargetTableName=target,
                                              UseLatestRestorableTime=True)["TableDescription"]
    assert desc["TableStatus"] == "CREATING"
    assert _probe_until_active(ddb, target) > 0, "the fill ended before any probe: make ROWS larger"
    _works_when_active(ddb, target)
