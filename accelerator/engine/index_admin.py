"""UpdateTable's GlobalSecondaryIndexUpdates: create (with an online backfill), delete, change throughput.

A table's created definition never changes; the index changes are one durable record in the meta
table (``indexes:<table>``) that ``IndexedStorage.get_table`` merges in, versioned so every process
re-reads it within a second. A new index is CREATING until its backfill finished: the backfill waits
until every process maintains the index on writes, then writes each existing item's entry with a check
that the item did not change meanwhile, then marks the index ACTIVE. A backfill cut short by a restart
is resumed when the engine opens.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from accelerator.core.errors import (
    DynamoError,
    LimitExceededException,
    ResourceNotFoundException,
    StorageError,
    TableExists,
    TableMissing,
    ValidationException,
)
from accelerator.core.tables import TableDef
from accelerator.engine.handler import Engine
from accelerator.engine.indexes import (
    OVERRIDE_PREFIX,
    SEPARATOR,
    IndexDef,
    index_key,
    index_projection,
    indexes_of,
    key_names,
    storage_def,
)
from accelerator.engine.meta import META_TABLE
from accelerator.engine.paging import scan_all

__all__ = ["update_indexes", "resume_backfills", "SETTLE_SECONDS"]

log = logging.getLogger("accelerator.indexes")

SETTLE_SECONDS = 1.5  # longer than any process caches index definitions
_INVALID = "One or more parameter values were invalid: "


def _record(table: TableDef) -> dict[str, Any]:
    return {
        "created": table.created,
        "version": int(table.extra.get("indexes_version", 0)),
        "indexes": [dict(spec) for spec in table.extra.get("indexes", ())],
        "attrs": [list(a) for a in table.attribute_definitions],
        "gsi_throughput": dict(table.extra.get("gsi_throughput", {})),
    }


async def _save(engine: Engine, name: str, record: dict[str, Any]) -> None:
    record["version"] += 1
    await engine.meta.put("indexes:" + name, record)
    engine.storage.forget(name)
    engine.tables.forget(name)


def _merged_types(table: TableDef, req: dict[str, Any]) -> dict[str, str]:
    types = dict(table.attribute_definitions)
    for definition in req.get("AttributeDefinitions") or ():
        name, kind = definition["AttributeName"], definition["AttributeType"]
        if types.get(name, kind) != kind:
            raise ValidationException(f"{_INVALID}Attributes cannot be redefined. Please check that your attribute "
                                      f"has the same type as previously defined. Attribute: {name}, existing type: "
                                      f"{types[name]}, new type: {kind}")
        types[name] = kind
    return types


def _used_attributes(table: TableDef, record: dict[str, Any], types: dict[str, str]) -> list[list[str]]:
    """AttributeDefinitions as DynamoDB lists them: only the table's and its indexes' key attributes."""
    used = {n for s in record["indexes"] for n in key_names(s)} | set(table.key.names)
    return [[n, t] for n, t in types.items() if n in used]


async def update_indexes(engine: Engine, table: TableDef, req: dict[str, Any]) -> dict[str, Any] | None:
    """Apply GlobalSecondaryIndexUpdates (one Create or Delete per call, as DynamoDB allows).

    Returns the description of the index a Delete removed (IndexStatus DELETING), for the response.
    """
    updates = req["GlobalSecondaryIndexUpdates"]
    changes = [u for u in updates if isinstance(u, dict) and ("Create" in u or "Delete" in u)]
    if len(changes) > 1:
        raise LimitExceededException("Subscriber limit exceeded: Only 1 online index can be created or deleted "
                                     "simultaneously per table")
    deleted = None
    record = _record(table)
    existing = {spec["name"]: spec for spec in record["indexes"]}
    for update in updates:
        if not isinstance(update, dict) or len(update) != 1:
            raise ValidationException("Invalid GlobalSecondaryIndexUpdate: one of Create, Update or Delete")
        ((kind, body),) = update.items()
        if not isinstance(body, dict) or not isinstance(body.get("IndexName"), str):
            raise ValidationException("Invalid GlobalSecondaryIndexUpdate: IndexName is required")
        name = body["IndexName"]
        if kind == "Create":
            await _create(engine, table, record, existing, body, req)
        elif kind == "Delete":
            deleted = await _delete(engine, table, record, existing, name)
        elif kind == "Update":
            if name not in existing or not existing[name]["global"]:
                raise ResourceNotFoundException(f"Requested resource not found: Index: {name} not found")
            if "ProvisionedThroughput" in body:
                record["gsi_throughput"][name] = body["ProvisionedThroughput"]
            await _save(engine, table.name, record)
        else:
            raise ValidationException("Invalid GlobalSecondaryIndexUpdate: one of Create, Update or Delete")
    return deleted


async def _create(engine: Engine, table: TableDef, record: dict[str, Any], existing: dict[str, Any],
                  body: dict[str, Any], req: dict[str, Any]) -> None:
    name = body["IndexName"]
    if name in existing:
        raise ValidationException(f"{_INVALID}Attempting to create an index which already exists")
    # The new index's key attributes must be in this request's AttributeDefinitions, even when the table
    # already defines them (as DynamoDB insists); conflicting types are rejected by _merged_types.
    given = {d["AttributeName"]: d["AttributeType"] for d in req.get("AttributeDefinitions") or ()}
    index_key(body, given, name)
    types = _merged_types(table, req)
    key = index_key(body, types, name)
    projection, non_key = index_projection(body, name)
    billing = table.billing_mode
    if billing == "PROVISIONED" and body.get("ProvisionedThroughput") is None:
        raise ValidationException(f"{_INVALID}ProvisionedThroughput must be specified for index: {name}")
    storage = f"{table.name}{SEPARATOR}{name}"
    index = IndexDef(name, True, key, projection, non_key, table.key, storage, "CREATING")
    try:
        await engine.storage.inner.create_table(storage_def(index, table.created))
    except TableExists:
        # An index of this name was deleted a moment ago and its entries are not dropped yet (processes
        # holding the old definition may still write there): the new index gets storage of its own.
        storage = f"{storage}{SEPARATOR}{record['version'] + 1}"
        index = IndexDef(name, True, key, projection, non_key, table.key, storage, "CREATING")
        await engine.storage.inner.create_table(storage_def(index, table.created))
    spec = {"name": name, "global": True, **key.to_spec(), "projection": projection, "non_key": list(non_key),
            "status": "CREATING", "storage": storage}
    if body.get("ProvisionedThroughput") is not None:
        record["gsi_throughput"][name] = body["ProvisionedThroughput"]
    record["indexes"].append(spec)
    record["attrs"] = _used_attributes(table, record, types)
    await _save(engine, table.name, record)
    engine.spawn(backfill(engine, table.name, name))


async def _delete(engine: Engine, table: TableDef, record: dict[str, Any], existing: dict[str, Any],
                  name: str) -> dict[str, Any]:
    spec = existing.get(name)
    if spec is None or not spec["global"]:
        raise ResourceNotFoundException(f"Requested resource not found: Index: {name} not found")
    gone = next(i for i in indexes_of(table) if i.name == name).describe(table)
    gone.pop("Backfilling", None)
    gone["IndexStatus"] = "DELETING"
    record["indexes"] = [s for s in record["indexes"] if s["name"] != name]
    record["gsi_throughput"].pop(name, None)
    record["attrs"] = _used_attributes(table, record, dict(table.attribute_definitions))
    await _save(engine, table.name, record)
    engine.spawn(_drop_later(engine, spec.get("storage") or f"{table.name}{SEPARATOR}{name}", table.created))
    return gone


async def _drop_later(engine: Engine, storage_name: str, created: float) -> None:
    # Processes that still hold the old definition keep writing entries for a moment: drop after that,
    # unless the table was deleted and created again meanwhile and this storage is its new index's.
    await asyncio.sleep(SETTLE_SECONDS)
    current = await engine.storage.inner.get_table(storage_name)
    if current is None or current.created != created:
        return
    with contextlib.suppress(TableMissing):
        await engine.storage.inner.delete_table(storage_name)


async def backfill(engine: Engine, table_name: str, index_name: str) -> None:
    """Write every existing item's entry of a new index, then mark the index ACTIVE."""
    await asyncio.sleep(SETTLE_SECONDS)  # from now on every process maintains the index on writes
    try:
        async for rows in scan_all(engine.storage, table_name):
            for pk, sk, _ in rows:
                await engine.storage.reindex(table_name, pk, sk, index_name)
        table = await engine.storage.get_table(table_name)
        if table is None:
            return
        record = _record(table)
        for spec in record["indexes"]:
            if spec["name"] == index_name:
                spec["status"] = "ACTIVE"
        await _save(engine, table_name, record)
    except (DynamoError, StorageError) as exc:
        log.warning("backfill of %s.%s stopped: %s (resumed when the engine opens again)", table_name,
                    index_name, exc)


async def resume_backfills(engine: Engine) -> None:
    """Start again the backfills a stopped process left CREATING."""
    async for rows in scan_all(engine.storage, META_TABLE):
        for pk, _, _ in rows:
            if pk.startswith(OVERRIDE_PREFIX):
                table = await engine.storage.get_table(pk[len(OVERRIDE_PREFIX):].decode())
                if table is None:
                    continue
                for index in indexes_of(table):
                    if index.status == "CREATING":
                        engine.spawn(backfill(engine, table.name, index.name))
