"""Control-plane operations: tables, TTL settings, tags, UpdateTable and account limits.

Table definitions are written once by CreateTable; later changes (UpdateTable, tags) are durable
records in the meta store and are merged into DescribeTable.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from accelerator.core.errors import (
    AccessDeniedException,
    ResourceInUseException,
    ResourceNotFoundException,
    TableExists,
    TableMissing,
    ValidationException,
)
from accelerator.core.protocols import Request, Response
from accelerator.core.tables import TableDef
from accelerator.engine import index_admin, stream_admin
from accelerator.engine.handler import Engine
from accelerator.engine.table_stats import PREFIX as STATS_PREFIX
from accelerator.engine.table_stats import apply_stats
from accelerator.engine.tables import describe, table_from_request

__all__ = ["create_table", "describe_table", "delete_table", "list_tables", "update_table", "update_ttl",
           "describe_ttl", "tag_resource", "untag_resource", "list_tags", "describe_limits", "HANDLERS"]

_ARN_TABLE = ":table/"
_NOT_IN_DELETE = ("KeySchema", "AttributeDefinitions", "CreationDateTime", "GlobalSecondaryIndexes",
                  "LocalSecondaryIndexes")


async def _description(engine: Engine, table: TableDef, status: str = "ACTIVE") -> dict[str, Any]:
    desc = describe(table, status)
    desc.update(await stream_admin.describe_streams(engine, table.name))
    changes = await engine.meta.get("table:" + table.name)
    if changes:
        if "BillingMode" in changes:
            desc.pop("BillingModeSummary", None)
            if changes["BillingMode"] == "PAY_PER_REQUEST":
                desc["BillingModeSummary"] = {"BillingMode": "PAY_PER_REQUEST", "LastUpdateToPayPerRequestDateTime":
                                              changes.get("BillingModeUpdated", table.created)}
        if "ProvisionedThroughput" in changes:
            desc["ProvisionedThroughput"] = {"NumberOfDecreasesToday": 0, **changes["ProvisionedThroughput"]}
        if "DeletionProtectionEnabled" in changes:
            desc["DeletionProtectionEnabled"] = changes["DeletionProtectionEnabled"]
        if "TableClass" in changes:
            desc["TableClassSummary"] = {"TableClass": changes["TableClass"],
                                         "LastUpdateDateTime": changes.get("TableClassUpdated", table.created)}
        if "Restore" in changes:  # a table made by a restore
            desc["RestoreSummary"] = {**changes["Restore"], "RestoreInProgress": bool(changes.get("Filling"))}
        if changes.get("Filling") and status == "ACTIVE":  # a restore or an import is still writing its items
            desc["TableStatus"] = "CREATING"
    apply_stats(desc, await engine.meta.get(STATS_PREFIX + table.name), table.created)
    return desc


_PER_TABLE_META = ("ttl:", "tags:", "table:", "indexes:", "pitr:", STATS_PREFIX)
"""Meta records kept per table name: DeleteTable drops them, CreateTable clears any a crash left."""


async def create_table(engine: Engine, req: Request) -> Response:
    table = table_from_request(req)
    tags = _merge_tags([], req.get("Tags") or [])  # checked before the table exists
    stream_admin.check_create_spec(req.get("StreamSpecification"))  # likewise
    try:
        await engine.storage.create_table(table)
    except TableExists:
        raise ResourceInUseException(f"Table already exists: {table.name}") from None
    engine.tables.forget(table.name)
    for prefix in _PER_TABLE_META:  # a DeleteTable cut off by a crash may have left the old table's behind
        await engine.meta.delete(prefix + table.name)
    if tags:
        await engine.meta.put("tags:" + table.name, {"Tags": tags})
    await stream_admin.on_create(engine, table.name, req)
    return {"TableDescription": {**describe(table), **await stream_admin.describe_streams(engine, table.name)}}


async def _table(engine: Engine, name: str) -> TableDef:
    """The named table, or the ResourceNotFoundException the control plane words with the table's name."""
    try:
        return await engine.tables.get(name)
    except ResourceNotFoundException:
        raise ResourceNotFoundException(f"Requested resource not found: Table: {name} not found") from None


async def describe_table(engine: Engine, req: Request) -> Response:
    table = await _table(engine, req["TableName"])
    return {"Table": await _description(engine, table)}


async def delete_table(engine: Engine, req: Request) -> Response:
    table = await _table(engine, req["TableName"])
    desc = await _description(engine, table, "DELETING")
    if desc.get("DeletionProtectionEnabled"):
        raise ValidationException("Resource cannot be deleted as it is currently protected against deletion. "
                                  "Disable deletion protection first.")
    # The streams are retired before the table goes: a crash in between leaves a table whose streams are
    # already DISABLED (a retried DeleteTable finishes the job), never a deleted table whose live stream
    # record and log nobody lists or expires (the other order leaked them until the name was re-created).
    await engine.streams.retire(table.name, table.key, time.time())  # DISABLED, readable for 24 hours
    try:
        await engine.storage.delete_table(table.name)
    except TableMissing:
        raise ResourceNotFoundException(f"Requested resource not found: Table: {table.name} not found") from None
    engine.tables.forget(table.name)
    recovery = await engine.meta.get("pitr:" + table.name)
    for prefix in _PER_TABLE_META:
        await engine.meta.delete(prefix + table.name)
    if recovery and recovery.get("base"):  # the table's point-in-time recovery base goes with it
        with contextlib.suppress(TableMissing):
            await engine.storage.delete_table(recovery["base"])
    for member in _NOT_IN_DELETE:  # DeleteTable's description leaves the schema out
        desc.pop(member, None)
    return {"TableDescription": desc}


async def list_tables(engine: Engine, req: Request) -> Response:
    names = await engine.storage.list_tables()
    start = req.get("ExclusiveStartTableName")
    if start is not None:
        names = [n for n in names if n > start]
    limit = req.get("Limit", 100)
    page = names[:limit]
    response: Response = {"TableNames": page}
    if len(names) > limit:
        response["LastEvaluatedTableName"] = page[-1]
    return response


async def update_table(engine: Engine, req: Request) -> Response:
    table = await _table(engine, req["TableName"])
    stream_change = await stream_admin.plan_update(engine, table.name, req)
    if req.get("GlobalSecondaryIndexUpdates"):
        deleted = await index_admin.update_indexes(engine, table, req)
        members_given = any(m in req for m in ("BillingMode", "ProvisionedThroughput", "DeletionProtectionEnabled",
                                                "TableClass"))
        if not members_given:
            desc = await _description(engine, await _table(engine, req["TableName"]))
            if deleted is not None:  # DynamoDB's answer still lists the index, as DELETING
                desc.setdefault("GlobalSecondaryIndexes", []).append(deleted)
                desc["TableStatus"] = "UPDATING"
            return {"TableDescription": desc}
    elif req.get("AttributeDefinitions"):
        raise ValidationException("One or more parameter values were invalid: AttributeDefinitions may only be "
                                  "given with GlobalSecondaryIndexUpdates that create an index")
    members = ("BillingMode", "ProvisionedThroughput", "DeletionProtectionEnabled", "TableClass")
    update = {m: req[m] for m in members if m in req}
    if not update and not any(m in req for m in ("StreamSpecification", "SSESpecification")):
        raise ValidationException(
            "At least one of ProvisionedThroughput, BillingMode, UpdateStreamEnabled, GlobalSecondaryIndexUpdates "
            "or SSESpecification or ReplicaUpdates is required")
    current = await _description(engine, table)
    billing = update.get("BillingMode",
                         current.get("BillingModeSummary", {}).get("BillingMode", "PROVISIONED"))
    if billing == "PROVISIONED" and "BillingMode" in update and "ProvisionedThroughput" not in update:
        raise ValidationException("One or more parameter values were invalid: ProvisionedThroughput must be "
                                  "specified when BillingMode is PROVISIONED")
    if billing == "PAY_PER_REQUEST" and "ProvisionedThroughput" in update:
        raise ValidationException("One or more parameter values were invalid: Neither ReadCapacityUnits nor "
                                  "WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST")
    changes = dict(await engine.meta.get("table:" + table.name) or {})
    changes.update(update)
    now = time.time()
    if "TableClass" in update:
        changes["TableClassUpdated"] = now
    if update.get("BillingMode") == "PAY_PER_REQUEST" and current.get("BillingModeSummary") is None:
        changes["BillingModeUpdated"] = now
    if billing == "PAY_PER_REQUEST":
        changes["ProvisionedThroughput"] = {"ReadCapacityUnits": 0, "WriteCapacityUnits": 0}
    await engine.meta.put("table:" + table.name, changes)
    if stream_change is not None:
        await stream_change()
    return {"TableDescription": await _description(engine, table)}


async def update_ttl(engine: Engine, req: Request) -> Response:
    table = await _table(engine, req["TableName"])
    spec = req["TimeToLiveSpecification"]
    await engine.ttl.set(table.name, spec)
    return {"TimeToLiveSpecification": spec}


async def describe_ttl(engine: Engine, req: Request) -> Response:
    table = await _table(engine, req["TableName"])
    spec = await engine.ttl.get(table.name)
    if spec is None or not spec["Enabled"]:
        return {"TimeToLiveDescription": {"TimeToLiveStatus": "DISABLED"}}
    return {"TimeToLiveDescription": {"TimeToLiveStatus": "ENABLED", "AttributeName": spec["AttributeName"]}}


async def _table_of_arn(engine: Engine, arn: str) -> TableDef:
    if not arn.startswith("arn:"):  # not an ARN at all: nothing the caller may access
        raise AccessDeniedException(f"User is not authorized to perform this action on resource: {arn}")
    if _ARN_TABLE not in arn:
        raise ValidationException(f"Invalid TableArn: Invalid ResourceArn provided as input {arn}")
    name, _, rest = arn.split(_ARN_TABLE, 1)[1].partition("/")
    if rest and not rest.startswith("stream/"):  # an index has an ARN, but tags belong to its table
        raise ValidationException("One or more parameter values were invalid: Invalid resource arn provided, only "
                                  f"table or stream is accepted. Provided resource arn: {arn}")
    try:
        return await engine.tables.get(name)
    except ResourceNotFoundException:
        raise ResourceNotFoundException(f"Requested resource not found: ResourceArn: {arn} not found") from None


def _merge_tags(current: list[dict[str, str]], new: list[dict[str, str]]) -> list[dict[str, str]]:
    merged = {t["Key"]: t["Value"] for t in current}
    for tag in new:
        if tag["Key"].startswith("aws:"):
            raise ValidationException("One or more parameter values were invalid: The aws: prefix is reserved "
                                      f"for system use and cannot be used in tag keys: {tag['Key']}")
        merged[tag["Key"]] = tag["Value"]
    if len(merged) > 50:
        raise ValidationException("One or more parameter values were invalid: The number of tags exceeds the "
                                  "limit of 50")
    return [{"Key": k, "Value": v} for k, v in merged.items()]


async def tag_resource(engine: Engine, req: Request) -> Response:
    table = await _table_of_arn(engine, req["ResourceArn"])
    current = await engine.meta.get("tags:" + table.name) or {"Tags": []}
    await engine.meta.put("tags:" + table.name, {"Tags": _merge_tags(current["Tags"], req["Tags"])})
    return {}


async def untag_resource(engine: Engine, req: Request) -> Response:
    table = await _table_of_arn(engine, req["ResourceArn"])
    current = await engine.meta.get("tags:" + table.name) or {"Tags": []}
    drop = set(req["TagKeys"])
    await engine.meta.put("tags:" + table.name, {"Tags": [t for t in current["Tags"] if t["Key"] not in drop]})
    return {}


async def list_tags(engine: Engine, req: Request) -> Response:
    table = await _table_of_arn(engine, req["ResourceArn"])
    current = await engine.meta.get("tags:" + table.name) or {"Tags": []}
    return {"Tags": current["Tags"]}


async def describe_limits(engine: Engine, req: Request) -> Response:
    return {"AccountMaxReadCapacityUnits": 80000, "AccountMaxWriteCapacityUnits": 80000,
            "TableMaxReadCapacityUnits": 40000, "TableMaxWriteCapacityUnits": 40000}


HANDLERS = {
    "CreateTable": create_table, "DescribeTable": describe_table, "DeleteTable": delete_table,
    "ListTables": list_tables, "UpdateTable": update_table, "UpdateTimeToLive": update_ttl,
    "DescribeTimeToLive": describe_ttl, "TagResource": tag_resource, "UntagResource": untag_resource,
    "ListTagsOfResource": list_tags, "DescribeLimits": describe_limits,
}
