"""A restart in the middle of a restore or a backup: the fill starts over and ends; the cut-off backup goes."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from accelerator.core.errors import BackupNotFoundException
from accelerator.encryption import PlainStorage
from accelerator.engine import TableEngine, restore
from backends.sqlite import SqliteStorage

KEY = {"KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
       "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}], "BillingMode": "PAY_PER_REQUEST"}


def _engine(path: Path) -> TableEngine:
    return TableEngine(PlainStorage(SqliteStorage(path / "store.db")), log_upkeep_interval=0,
                       export_root=str(path))


async def _until(engine: TableEngine, check: Any) -> Any:
    for _ in range(2000):
        value = await check()
        if value:
            return value
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached")


async def _status(engine: TableEngine, name: str) -> str:
    return str((await engine.call("DescribeTable", {"TableName": name}))["Table"]["TableStatus"])


def test_restore_cut_off_by_a_restart_finishes_after_it(tmp_path: Path) -> None:
    async def main() -> None:
        engine = _engine(tmp_path)
        await engine.open()
        await engine.call("CreateTable", {"TableName": "src", **KEY})
        for i in range(700):
            await engine.call("PutItem", {"TableName": "src", "Item": {"pk": {"S": f"k{i}"}, "n": {"N": str(i)}}})
        arn = (await engine.call("CreateBackup", {"TableName": "src", "BackupName": "bk1"}))["BackupDetails"][
            "BackupArn"]

        async def available() -> bool:
            desc = await engine.call("DescribeBackup", {"BackupArn": arn})
            return bool(desc["BackupDescription"]["BackupDetails"]["BackupStatus"] == "AVAILABLE")
        await _until(engine, available)
        # The process stops right after RestoreTableFromBackup created its table, before any item was written.
        source = (await engine.call("DescribeBackup", {"BackupArn": arn}))["BackupDescription"]
        record = await engine.backups.get(arn)
        assert record is not None
        summary = {"SourceBackupArn": arn, "SourceTableArn": source["SourceTableDetails"]["TableArn"],
                   "RestoreDateTime": record["created"]}
        await restore.create_target(engine, restore.create_request(record["source"], "dst", {}), summary)
        # And a backup is cut off mid-copy: its record says CREATING, its last beat long ago.
        await engine.backups.put(arn + "x", {**record, "arn": arn + "x", "status": "CREATING",
                                             "beat": time.time() - 3600})
        await engine.close()

        engine = _engine(tmp_path)
        await engine.open()  # resumes the fill
        try:
            await _until(engine, lambda: _is_active(engine))
            scan = await engine.call("Scan", {"TableName": "dst"})
            assert scan["Count"] == 700
            listed = await engine.call("ListBackups", {})
            assert [b["BackupArn"] for b in listed["BackupSummaries"]] == [arn]
            try:
                await engine.call("DescribeBackup", {"BackupArn": arn + "x"})
                raise AssertionError("the cut-off backup is still there")
            except BackupNotFoundException:
                pass
        finally:
            await engine.close()

    async def _is_active(engine: TableEngine) -> bool:
        return await _status(engine, "dst") == "ACTIVE"

    asyncio.run(main())


def test_export_cut_off_by_a_restart_reads_failed(tmp_path: Path) -> None:
    async def main() -> None:
        engine = _engine(tmp_path)
        await engine.open()
        try:
            arn = "arn:aws:dynamodb:ddblocal:000000000000:table/src/export/01700000000000-00000000"
            record = {"ExportArn": arn, "ExportStatus": "IN_PROGRESS", "StartTime": time.time() - 3600,
                      "TableArn": arn.rsplit("/export/", 1)[0], "ExportType": "FULL_EXPORT", "ItemCount": 10,
                      "beat": time.time() - 3600}
            await engine.exports.put(arn, record)
            fresh = {**record, "ExportArn": arn[:-1] + "1", "beat": time.time()}
            await engine.exports.put(fresh["ExportArn"], fresh)
            desc = (await engine.call("DescribeExport", {"ExportArn": arn}))["ExportDescription"]
            assert desc["ExportStatus"] == "FAILED" and "stopped" in desc["FailureMessage"]
            listed = (await engine.call("ListExports", {}))["ExportSummaries"]
            assert {e["ExportArn"]: e["ExportStatus"] for e in listed} == {arn: "FAILED",
                                                                          fresh["ExportArn"]: "IN_PROGRESS"}
        finally:
            await engine.close()

    asyncio.run(main())
