"""On-demand backups: CreateBackup, DescribeBackup, ListBackups, DeleteBackup, RestoreTableFromBackup.

CreateBackup fixes a consistent view of the table (``accelerator.engine.snapshot``) before it answers, so
the backup holds the table exactly as of that instant whatever writes follow; the items are then copied, a
page at a time, into a hidden table of the same backend (``!backup!<id>``) while the backup shows
``CREATING``. A catalog record per backup (``!backups``) holds its details and the source's description,
from which RestoreTableFromBackup creates the new table (with the request's overrides) and fills it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from typing import Any

from accelerator.core.errors import (
    BackupInUseException,
    BackupNotFoundException,
    ResourceNotFoundException,
    TableMissing,
    TableNotFoundException,
)
from accelerator.core.protocols import Request, Response
from accelerator.core.tables import TableDef
from accelerator.engine import restore
from accelerator.engine.control import describe_table
from accelerator.engine.snapshot import native, open_view, pages

__all__ = ["HANDLERS", "table_named", "source_description", "BACKUP_IN_USE", "fill_from_backup", "consistent_view"]

log = logging.getLogger("accelerator.backups")

CATALOG = "!backups"
_STORE_PREFIX = "!backup!"
_ARN_TABLE = ":table/"
BEAT_SECONDS = 5.0  # a backup's copy marks its record alive this often
STALE_SECONDS = 60.0  # a CREATING backup not marked alive for this long was cut off by a restart
LOG_DECISION_SECONDS = 1.0
"""How long another process may go on writing the table without logging after its log is turned on (its
cached decision, ``accelerator.engine.changelog``)."""
BACKUP_IN_USE = ("There is another ongoing conflicting backup control plane operation on the table. The backup "
                 "is either being created, deleted or restored to a table.")
_SUMMARY = ("TableName", "TableId", "TableArn", "BackupArn", "BackupName", "BackupCreationDateTime",
            "BackupStatus", "BackupType", "BackupSizeBytes")


def name_of(table: str) -> str:
    """A TableName member that may be a table ARN: the table's name."""
    if table.startswith("arn:") and _ARN_TABLE in table:
        return table.split(_ARN_TABLE, 1)[1].split("/", 1)[0]
    return table


async def table_named(engine: Any, table: str) -> TableDef:
    """The table, or the TableNotFoundException the backup operations answer."""
    name = name_of(table)
    try:
        return await engine.tables.get(name)
    except ResourceNotFoundException:
        raise TableNotFoundException(f"Table not found: {name}") from None


async def source_description(engine: Any, table: TableDef) -> dict[str, Any]:
    return (await describe_table(engine, {"TableName": table.name}))["Table"]


def _details(record: dict[str, Any]) -> dict[str, Any]:
    return {"BackupArn": record["arn"], "BackupName": record["name"], "BackupSizeBytes": record["size"],
            "BackupStatus": record["status"], "BackupType": "USER", "BackupCreationDateTime": record["created"]}


def _description(record: dict[str, Any]) -> dict[str, Any]:
    desc = record["source"]
    billing = desc.get("BillingModeSummary", {}).get("BillingMode", "PROVISIONED")
    throughput = desc.get("ProvisionedThroughput", {})
    features: dict[str, Any] = {}
    for member in ("LocalSecondaryIndexes", "GlobalSecondaryIndexes"):
        if member in desc:
            features[member] = [{k: i[k] for k in ("IndexName", "KeySchema", "Projection", "ProvisionedThroughput")
                                 if k in i} for i in desc[member]]
    for member, source in (("StreamDescription", "StreamSpecification"), ("SSEDescription", "SSEDescription")):
        if source in desc:
            features[member] = desc[source]
    if record.get("ttl"):
        features["TimeToLiveDescription"] = record["ttl"]
    return {
        "BackupDetails": _details(record),
        "SourceTableDetails": {
            "TableName": desc["TableName"], "TableId": desc["TableId"], "TableArn": desc["TableArn"],
            "TableSizeBytes": record["size"], "KeySchema": desc["KeySchema"],
            "TableCreationDateTime": desc["CreationDateTime"], "ItemCount": record["items"],
            "ProvisionedThroughput": {"ReadCapacityUnits": throughput.get("ReadCapacityUnits", 0),
                                      "WriteCapacityUnits": throughput.get("WriteCapacityUnits", 0)},
            "BillingMode": billing,
        },
        "SourceTableFeatureDetails": features,
    }


def _stale(record: dict[str, Any]) -> bool:
    """A backup still CREATING whose copy stopped beating: its process ended mid-copy (the view is gone)."""
    return record["status"] == "CREATING" and time.time() - record.get("beat", record["created"]) > STALE_SECONDS


async def _record(engine: Any, arn: str) -> dict[str, Any]:
    record = await engine.backups.get(arn)
    if record is not None and _stale(record):
        log.warning("backup %s stopped while it was being created; it is removed", arn)
        await _drop(engine, record)
        record = None
    if record is None:
        raise BackupNotFoundException(f"Backup not found: {arn}")
    return record


async def create_backup(engine: Any, req: Request) -> Response:
    table = await table_named(engine, req["TableName"])
    source = await source_description(engine, table)
    ttl = await engine.call("DescribeTimeToLive", {"TableName": table.name})
    view = await consistent_view(engine, table)  # the backup's instant: nothing after this is in it
    created = round(time.time(), 3)  # DynamoDB's timestamps have milliseconds
    backup_id = f"{int(created * 1000):014d}-{secrets.token_hex(4)}"
    # "order": two backups made in one millisecond still list in the order they were made
    record = {"arn": f"{source['TableArn']}/backup/{backup_id}", "name": req["BackupName"], "created": created,
              "order": time.time_ns(),
              "status": "CREATING", "beat": created, "size": 0, "items": 0, "source": source, "store": _STORE_PREFIX + backup_id,
              "ttl": ttl["TimeToLiveDescription"]}
    try:
        await engine.storage.create_table(TableDef(name=record["store"], key=table.key, attribute_definitions=(),
                                                   created=created))
        await engine.backups.put(record["arn"], record)
    except BaseException:
        await view.close()
        raise
    engine.spawn(_copy(engine, view, record))
    return {"BackupDetails": _details(record)}


class _LoggedView:
    """A rolled-back view that keeps the table's log on (``backup:<table>``) until it is closed."""

    def __init__(self, engine: Any, table: TableDef, view: Any, key: str | None) -> None:
        self.engine, self.table, self.view, self.key = engine, table, view, key

    async def scan(self, start: tuple[bytes, bytes] | None, limit: int) -> list[tuple[bytes, bytes, bytes]]:
        rows: list[tuple[bytes, bytes, bytes]] = await self.view.scan(start, limit)
        return rows

    async def close(self) -> None:
        await self.view.close()
        if self.key is not None:
            await self.engine.meta.delete(self.key)
            self.engine.changelog.forget(self.table.name)


async def consistent_view(engine: Any, table: TableDef) -> Any:
    """A view of ``table`` fixed now; on a backend without read snapshots the table's log is kept on until the
    view closes (the view is the live table rolled back with it), once every process has seen the decision."""
    if native(engine.storage):
        return await open_view(engine.storage, table)
    key = None
    if not await engine.changelog.logs(table.name):
        key = "backup:" + table.name
        await engine.meta.put(key, {"log": True})
        engine.changelog.forget(table.name)
        await asyncio.sleep(LOG_DECISION_SECONDS)
    try:
        return _LoggedView(engine, table, await open_view(engine.storage, table), key)
    except BaseException:
        if key is not None:
            await engine.meta.delete(key)
            engine.changelog.forget(table.name)
        raise


async def _copy(engine: Any, view: Any, record: dict[str, Any]) -> None:
    async def beat(items: int, size: int) -> None:
        if time.time() - record["beat"] >= BEAT_SECONDS:  # the copy is alive: see _stale
            record["beat"] = time.time()
            await engine.backups.put(record["arn"], record)

    try:
        items, size = await restore.write_pages(engine.storage, record["store"], pages(view), beat)
        current = await engine.backups.get(record["arn"])
        if current is None:  # deleted meanwhile
            with contextlib.suppress(TableMissing):
                await engine.storage.delete_table(record["store"])
            return
        await engine.backups.put(record["arn"], {**record, "status": "AVAILABLE", "items": items, "size": size})
    except Exception:
        log.exception("backup %s failed; it is removed", record["arn"])
        await _drop(engine, record)
    finally:
        await view.close()


async def _drop(engine: Any, record: dict[str, Any]) -> None:
    try:
        await engine.backups.delete(record["arn"])
        await engine.storage.delete_table(record["store"])
    except TableMissing:
        pass
    except Exception:
        log.exception("could not remove backup %s", record["arn"])


async def describe_backup(engine: Any, req: Request) -> Response:
    return {"BackupDescription": _description(await _record(engine, req["BackupArn"]))}


async def delete_backup(engine: Any, req: Request) -> Response:
    record = await _record(engine, req["BackupArn"])
    if record["status"] != "AVAILABLE":
        raise BackupInUseException(BACKUP_IN_USE)
    await _drop(engine, record)
    return {"BackupDescription": _description({**record, "status": "DELETED"})}


async def list_backups(engine: Any, req: Request) -> Response:
    records = []
    for record in await engine.backups.all():
        if _stale(record):
            await _drop(engine, record)
        else:
            records.append(record)
    records.sort(key=lambda r: (r["created"], r.get("order", 0), r["arn"]))
    if req.get("BackupType", "USER") not in ("USER", "ALL"):
        records = []
    if "TableName" in req:
        name = name_of(req["TableName"])
        records = [r for r in records if r["source"]["TableName"] == name]
    lower, upper = req.get("TimeRangeLowerBound"), req.get("TimeRangeUpperBound")
    if lower is not None:
        records = [r for r in records if r["created"] >= lower]
    if upper is not None:
        records = [r for r in records if r["created"] < upper]
    start = req.get("ExclusiveStartBackupArn")
    if start is not None:
        arns = [r["arn"] for r in records]
        records = records[arns.index(start) + 1:] if start in arns else [
            r for r in records if r["arn"] > start]
    limit = req.get("Limit")
    response: Response = {}
    if limit is not None and len(records) > limit:
        records = records[:limit]
        response["LastEvaluatedBackupArn"] = records[-1]["arn"]
    response["BackupSummaries"] = [_summary(r) for r in records]
    return response


def _summary(record: dict[str, Any]) -> dict[str, Any]:
    source = record["source"]
    out = {"TableName": source["TableName"], "TableId": source["TableId"], "TableArn": source["TableArn"],
           **_details(record)}
    return {k: out[k] for k in _SUMMARY}


async def restore_table_from_backup(engine: Any, req: Request) -> Response:
    record = await _record(engine, req["BackupArn"])
    if record["status"] != "AVAILABLE":
        raise BackupInUseException(BACKUP_IN_USE)
    source = record["source"]
    summary = {"SourceBackupArn": record["arn"], "SourceTableArn": source["TableArn"],
               "RestoreDateTime": record["created"]}
    create = restore.create_request(source, req["TargetTableName"], req)
    table = await restore.create_target(engine, create, summary)
    engine.spawn(fill_from_backup(engine, table, record["store"]))
    return {"TableDescription": (await describe_table(engine, {"TableName": table.name}))["Table"]}


async def _stored_pages(engine: Any, store: str) -> Any:
    start: tuple[bytes, bytes] | None = None
    while page := await engine.storage.scan(store, segment=0, total_segments=1, start=start, limit=500):
        yield page
        start = page[-1][0], page[-1][1]


async def fill_from_backup(engine: Any, table: TableDef, store: str) -> None:
    """Write a backup's items (its hidden table ``store``) into ``table``, then mark it ACTIVE."""
    try:
        await restore.write_pages(engine.storage, table.name, _stored_pages(engine, store))
        await restore.finish(engine, table.name)
    except Exception:
        log.exception("restore of %s failed; the table stays CREATING", table.name)


HANDLERS = {"CreateBackup": create_backup, "DescribeBackup": describe_backup, "ListBackups": list_backups,
            "DeleteBackup": delete_backup, "RestoreTableFromBackup": restore_table_from_backup}
