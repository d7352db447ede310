"""Creating a table from a saved description (restores, imports) and filling it page by page.

The new table is created at once and shows ``TableStatus: CREATING`` with a ``RestoreSummary`` until every
item is written; the writes go through the engine's atomic unit, so index entries are built with them.
Copying yields to the loop after every page; the cache of the table is dropped when the copy ends.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from accelerator.core.errors import TableAlreadyExistsException, TableExists
from accelerator.core.protocols import KeyRef
from accelerator.core.tables import TableDef
from accelerator.engine.tables import table_from_request

__all__ = ["create_request", "create_target", "write_pages", "finish", "RESTORE"]

log = logging.getLogger("accelerator.restore")

RESTORE = "Restore"
"""The meta-record member (``table:<name>``) holding a restored table's RestoreSummary; ``Filling`` is true
while a restore or an import still writes the table's items (it shows CREATING meanwhile)."""
_CHUNK = 500  # items per atomic unit while filling a table (one commit each: the cost of a fill)


def _throughput(value: Any) -> dict[str, int] | None:
    if not value or not value.get("ReadCapacityUnits"):
        return None
    return {"ReadCapacityUnits": value["ReadCapacityUnits"], "WriteCapacityUnits": value["WriteCapacityUnits"]}


def _index(spec: dict[str, Any], billing: str) -> dict[str, Any]:
    out = {"IndexName": spec["IndexName"], "KeySchema": spec["KeySchema"], "Projection": spec["Projection"]}
    throughput = _throughput(spec.get("ProvisionedThroughput"))
    if billing == "PROVISIONED" and throughput is not None:
        out["ProvisionedThroughput"] = throughput
    return out


def create_request(desc: dict[str, Any], target: str, req: dict[str, Any]) -> dict[str, Any]:
    """A CreateTable request for ``target``: the source ``desc`` with the restore request's overrides."""
    source_billing = desc.get("BillingModeSummary", {}).get("BillingMode", "PROVISIONED")
    billing = req.get("BillingModeOverride", source_billing)
    gsis = req.get("GlobalSecondaryIndexOverride", desc.get("GlobalSecondaryIndexes", []))
    lsis = req.get("LocalSecondaryIndexOverride", desc.get("LocalSecondaryIndexes", []))
    used = {e["AttributeName"] for e in desc["KeySchema"]}
    for index in [*gsis, *lsis]:
        used.update(e["AttributeName"] for e in index["KeySchema"])
    create: dict[str, Any] = {
        "TableName": target, "KeySchema": desc["KeySchema"], "BillingMode": billing,
        "AttributeDefinitions": [a for a in desc["AttributeDefinitions"] if a["AttributeName"] in used],
    }
    if gsis:
        create["GlobalSecondaryIndexes"] = [_index(g, billing) for g in gsis]
    if lsis:
        create["LocalSecondaryIndexes"] = [_index(i, "PAY_PER_REQUEST") for i in lsis]
    throughput = req.get("ProvisionedThroughputOverride") or (
        _throughput(desc.get("ProvisionedThroughput")) if billing == "PROVISIONED" else None)
    if throughput is not None:
        create["ProvisionedThroughput"] = throughput
    if "SSESpecificationOverride" in req:
        create["SSESpecification"] = req["SSESpecificationOverride"]
    return create


async def create_target(engine: Any, create: dict[str, Any], summary: dict[str, Any] | None) -> TableDef:
    """Create the table ``create`` describes, marked as being filled (``summary``: its RestoreSummary, if a
    restore makes it)."""
    table = table_from_request(create)
    try:
        await engine.storage.create_table(table)
    except TableExists:
        raise TableAlreadyExistsException(f"Table already exists: {table.name}") from None
    engine.tables.forget(table.name)
    for prefix in ("ttl:", "tags:"):
        await engine.meta.delete(prefix + table.name)
    await engine.meta.put("table:" + table.name, {"Filling": True, **({RESTORE: summary} if summary else {})})
    await engine.fills.put(table.name, {"arn": table.name})  # until finish: a restart resumes it
    engine.tables.forget(table.name)  # it is CREATING from now on: item operations do not find it
    return table


async def write_pages(storage: Any, table: str, pages: AsyncIterator[list[tuple[bytes, bytes, bytes]]],
                      progress: Callable[[int, int], Awaitable[None]] | None = None) -> tuple[int, int]:
    """Write every (pk, sk, value) of ``pages`` into ``table``; returns (items, bytes)."""
    count = size = 0
    async for page in pages:
        for i in range(0, len(page), _CHUNK):
            chunk = page[i : i + _CHUNK]
            refs = [KeyRef(table, pk, sk) for pk, sk, _ in chunk]
            values = [value for _, _, value in chunk]
            await storage.transact(refs, lambda olds, values=values: values)
            count += len(chunk)
            size += sum(len(v) for v in values)
        if progress is not None:
            await progress(count, size)
        await asyncio.sleep(0)
    return count, size


async def finish(engine: Any, table: str) -> None:
    """Mark ``table`` restored (ACTIVE) and drop anything cached about it."""
    changes = dict(await engine.meta.get("table:" + table) or {})
    if changes.pop("Filling", None):
        await engine.meta.put("table:" + table, changes)
    await engine.fills.delete(table)
    engine.tables.forget(table)
    for listener in engine.sweeper.listeners:  # the engine's subscribers (the cache): (table, None, None) is all
        try:
            listener(table, None, None)
        except Exception:  # a listener's failure must not fail the restore
            log.exception("table listener failed for %s", table)
