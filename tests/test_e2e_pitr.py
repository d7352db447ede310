"""Point-in-time recovery end to end through boto3: the restored table is the source as of the requested time."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.backup_helpers import HistoryWriter, state_after, table_items, wait_for
from tests.conftest import unique_name
from tests.test_e2e_backups import active, seed


def enable(ddb: Any, table: str, days: int | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"PointInTimeRecoveryEnabled": True}
    if days is not None:
        spec["RecoveryPeriodInDays"] = days
    ddb.update_continuous_backups(TableName=table, PointInTimeRecoverySpecification=spec)

    def ready() -> Any:
        desc = ddb.describe_continuous_backups(TableName=table)["ContinuousBackupsDescription"]
        pitr = desc["PointInTimeRecoveryDescription"]
        return pitr if "EarliestRestorableDateTime" in pitr else None
    return wait_for(ready, "point-in-time recovery ready")


def test_restore_to_a_time_under_writes(ddb: Any, table: str, cleanup: Any) -> None:
    initial = seed(ddb, table)
    with HistoryWriter(ddb, table) as writer:
        writer.wait_acked(20)
        pitr = enable(ddb, table)  # the base is taken while the writes go on
        assert pitr["PointInTimeRecoveryStatus"] == "ENABLED" and pitr["RecoveryPeriodInDays"] == 35
        # boto3 sends timestamps in whole seconds: restore to the first whole second after the window opens.
        at = math.ceil(pitr["EarliestRestorableDateTime"].timestamp()) + 1
        wait_for(lambda: writer.acks and writer.acks[-1] > at + 0.3, "writes past the restore time")
    lower, upper = writer.bounds(at)
    assert lower > 0
    target = unique_name("pit")
    cleanup(table=target)
    desc = ddb.restore_table_to_point_in_time(SourceTableName=table, TargetTableName=target,
                                              RestoreDateTime=datetime.fromtimestamp(at, UTC))["TableDescription"]
    assert desc["RestoreSummary"]["RestoreDateTime"].timestamp() == at
    assert active(ddb, target)["RestoreSummary"]["RestoreInProgress"] is False
    restored = table_items(ddb, target)
    matches = [k for k in range(lower, upper + 1) if state_after(k, initial) == restored]
    assert matches, f"the restored table is no state of the source between writes {lower} and {upper}"

    latest = unique_name("latest")
    cleanup(table=latest)
    ddb.restore_table_to_point_in_time(SourceTableArn=ddb.describe_table(TableName=table)["Table"]["TableArn"],
                                       TargetTableName=latest, UseLatestRestorableTime=True)
    active(ddb, latest)
    assert table_items(ddb, latest) == state_after(writer.acked, initial) == table_items(ddb, table)


def test_settings_round_trip(ddb: Any, table: str) -> None:
    off = ddb.describe_continuous_backups(TableName=table)["ContinuousBackupsDescription"]
    assert off == {"ContinuousBackupsStatus": "ENABLED",
                   "PointInTimeRecoveryDescription": {"PointInTimeRecoveryStatus": "DISABLED"}}
    pitr = enable(ddb, table, days=7)
    assert pitr["RecoveryPeriodInDays"] == 7
    assert pitr["EarliestRestorableDateTime"] <= pitr["LatestRestorableDateTime"]
    changed = ddb.update_continuous_backups(TableName=table, PointInTimeRecoverySpecification={
        "PointInTimeRecoveryEnabled": True, "RecoveryPeriodInDays": 3})
    assert changed["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]["RecoveryPeriodInDays"] == 3
    ddb.update_continuous_backups(TableName=table,
                                  PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": False})
    assert ddb.describe_continuous_backups(TableName=table)["ContinuousBackupsDescription"][
        "PointInTimeRecoveryDescription"] == {"PointInTimeRecoveryStatus": "DISABLED"}
    with pytest.raises(ddb.exceptions.PointInTimeRecoveryUnavailableException):
        ddb.restore_table_to_point_in_time(SourceTableName=table, TargetTableName=unique_name("no"),
                                           UseLatestRestorableTime=True)
