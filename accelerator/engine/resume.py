"""After a restart: finish filling the tables a restore or an import was filling when the process stopped.

Every fill is listed in the hidden catalog ``!fills`` from its table's creation to its end.

A fill only writes whole items from a fixed source (a backup's hidden table, the recovery base plus the log up
to a time, the import's files), so starting it over from the beginning writes the same table. A table whose
source is gone stays CREATING and is logged.
"""

from __future__ import annotations

import logging
from typing import Any

from accelerator.core.errors import ResourceNotFoundException
from accelerator.engine import backups, imports, pitr

__all__ = ["resume_fills"]

log = logging.getLogger("accelerator.restore")


async def resume_fills(engine: Any) -> int:
    """Restart every unfinished fill (the ``!fills`` catalog lists them); returns how many were restarted."""
    restarted = 0
    for entry in await engine.fills.all():
        name = entry["arn"]
        changes = await engine.meta.get("table:" + name)
        try:
            work = await _fill_of(engine, name, changes.get("Restore")) if changes and changes.get("Filling") else None
        except ResourceNotFoundException:
            work = None
        if work is None:
            if changes and changes.get("Filling"):
                log.warning("table %s was being filled and its source is gone; it stays CREATING", name)
            await engine.fills.delete(name)
            continue
        engine.spawn(work)
        restarted += 1
    return restarted


async def _fill_of(engine: Any, name: str, summary: dict[str, Any] | None) -> Any:
    table = await engine.tables.get(name)
    if summary is not None and "SourceBackupArn" in summary:
        record = await engine.backups.get(summary["SourceBackupArn"])
        return None if record is None else backups.fill_from_backup(engine, table, record["store"])
    if summary is not None:
        source = await engine.tables.get(backups.name_of(summary["SourceTableArn"]))
        record = await pitr.enabled(engine, source)
        if record is None or not record.get("ready"):
            return None
        return pitr.fill_to_time(engine, source, record, summary["RestoreDateTime"], name)
    arn = (await engine.call("DescribeTable", {"TableName": name}))["Table"]["TableArn"]
    running = [r for r in await engine.imports.all() if r["TableArn"] == arn and r["ImportStatus"] == "IN_PROGRESS"]
    return imports.fill_from_files(engine, table, running[-1]) if running else None
