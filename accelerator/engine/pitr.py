"""Point-in-time recovery: UpdateContinuousBackups, DescribeContinuousBackups, RestoreTableToPointInTime.

Enabling turns the table's change log on (the meta record ``pitr:<table>`` with ``"log": true``, read by
``accelerator.engine.changelog``) and, in the background, takes a base: the log's head H0, then a consistent
view of the table copied into a hidden table (``!pitr!<id>``). Any commit the view holds has a log record
after H0 or none at all, and every record is a whole item image, so the table at time T is the base with the
records after H0 stamped at or before T applied in log order (applying a record the view already holds
changes nothing). The window starts when the base's view was fixed: EarliestRestorableDateTime.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson

from accelerator.core.errors import (
    InvalidRestoreTimeException,
    PointInTimeRecoveryUnavailableException,
    TableMissing,
    TableNotFoundException,
    ValidationException,
)
from accelerator.core.protocols import KeyRef, Request, Response
from accelerator.core.tables import TableDef
from accelerator.engine import restore
from accelerator.engine.backups import LOG_DECISION_SECONDS, name_of, source_description, table_named
from accelerator.engine.snapshot import LOG_SETTLE_SECONDS, PAGE, open_view, pages

__all__ = ["HANDLERS", "enabled", "materialize", "window", "PitrUpkeep", "fill_to_time"]

log = logging.getLogger("accelerator.pitr")

_BASE_PREFIX = "!pitr!"


def _key(table: str) -> str:
    return "pitr:" + table


async def enabled(engine: Any, table: TableDef) -> dict[str, Any] | None:
    """The table's PITR record if recovery is on (its base may still be being taken)."""
    record = await engine.meta.get(_key(table.name))
    return record if record and record.get("enabled") else None


def window(record: dict[str, Any], now: float) -> tuple[float, float] | None:
    """(earliest, latest) restorable times in seconds, or None while the base is being taken."""
    if not record.get("ready"):
        return None
    return max(record["since"], now - record["days"] * 86400.0), now


def _description(record: dict[str, Any] | None, now: float) -> dict[str, Any]:
    if record is None:
        pitr: dict[str, Any] = {"PointInTimeRecoveryStatus": "DISABLED"}
    else:
        pitr = {"PointInTimeRecoveryStatus": "ENABLED", "RecoveryPeriodInDays": record["days"]}
        span = window(record, now)
        if span is not None:
            pitr["EarliestRestorableDateTime"] = round(span[0], 3)
            pitr["LatestRestorableDateTime"] = round(span[1], 3)
    return {"ContinuousBackupsDescription": {"ContinuousBackupsStatus": "ENABLED",
                                             "PointInTimeRecoveryDescription": pitr}}


async def update_continuous_backups(engine: Any, req: Request) -> Response:
    table = await table_named(engine, req["TableName"])
    spec = req["PointInTimeRecoverySpecification"]
    current = await enabled(engine, table)
    if not spec["PointInTimeRecoveryEnabled"]:
        if "RecoveryPeriodInDays" in spec:
            raise ValidationException("RecoveryPeriodInDays can only be specified when "
                                      "PointInTimeRecoveryEnabled is true")
        if current is not None:
            await _disable(engine, table, current)
        return _description(None, time.time())
    days = spec.get("RecoveryPeriodInDays", 35)
    if current is not None:
        current = {**current, "days": days}
        await engine.meta.put(_key(table.name), current)
        return _description(current, time.time())
    record = {"log": True, "enabled": True, "days": days, "ready": False, "since": None, "head": 0,
              "base": f"{_BASE_PREFIX}{int(time.time() * 1000):014d}-{secrets.token_hex(4)}",
              "created": table.created}
    await engine.meta.put(_key(table.name), record)
    engine.changelog.forget(table.name)  # this process logs the table's writes from now on
    engine.spawn(_take_base(engine, table, record))
    return _description(record, time.time())


async def _disable(engine: Any, table: TableDef, record: dict[str, Any]) -> None:
    await engine.meta.delete(_key(table.name))
    engine.changelog.forget(table.name)
    with contextlib.suppress(TableMissing):
        await engine.storage.delete_table(record["base"])


async def _take_base(engine: Any, table: TableDef, record: dict[str, Any]) -> None:
    try:
        await asyncio.sleep(LOG_DECISION_SECONDS)  # every process now logs this table's writes
        head = await engine.storage.log_head(table.name)
        view = await open_view(engine.storage, table)
        since = round(time.time(), 3)
        try:
            await engine.storage.create_table(TableDef(name=record["base"], key=table.key, attribute_definitions=(),
                                                       created=since))
            await restore.write_pages(engine.storage, record["base"], pages(view))
        finally:
            await view.close()
        current = await engine.meta.get(_key(table.name))
        if current is None or current.get("base") != record["base"]:  # disabled meanwhile
            await engine.storage.delete_table(record["base"])
            return
        await engine.meta.put(_key(table.name), {**current, "ready": True, "since": since, "head": head})
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("taking the point-in-time recovery base of %s failed", table.name)


async def describe_continuous_backups(engine: Any, req: Request) -> Response:
    table = await table_named(engine, req["TableName"])
    return _description(await enabled(engine, table), time.time())


async def _restore_time(engine: Any, table: TableDef, req: Request) -> tuple[dict[str, Any], float]:
    record = await enabled(engine, table)
    if record is None:
        raise PointInTimeRecoveryUnavailableException(
            f"Point in time recovery is not enabled for table '{table.name}'")
    now = time.time()
    span = window(record, now)
    if span is None:
        raise PointInTimeRecoveryUnavailableException(
            f"Point in time recovery is being enabled for table '{table.name}'; try again in a few seconds")
    if req.get("UseLatestRestorableTime"):
        return record, span[1]
    at = req["RestoreDateTime"]
    if not span[0] <= at <= span[1]:
        raise InvalidRestoreTimeException("RestoreDateTime must be between EarliestRestorableDateTime and "
                                          "LatestRestorableDateTime")
    return record, at


async def restore_table_to_point_in_time(engine: Any, req: Request) -> Response:
    given = [m for m in ("SourceTableArn", "SourceTableName") if m in req]
    if len(given) != 1:
        raise ValidationException("Exactly one of SourceTableArn or SourceTableName must be specified")
    if req.get("UseLatestRestorableTime") and "RestoreDateTime" in req:
        raise ValidationException("Only one of RestoreDateTime or UseLatestRestorableTime can be specified")
    if not req.get("UseLatestRestorableTime") and "RestoreDateTime" not in req:
        raise ValidationException("Either RestoreDateTime or UseLatestRestorableTime must be specified")
    try:
        table = await table_named(engine, req[given[0]])
    except TableNotFoundException:
        raise TableNotFoundException(f"Table not found: {name_of(req[given[0]])}") from None
    record, at = await _restore_time(engine, table, req)
    source = await source_description(engine, table)
    summary = {"SourceTableArn": source["TableArn"], "RestoreDateTime": round(at, 3)}
    create = restore.create_request(source, req["TargetTableName"], req)
    target = await restore.create_target(engine, create, summary)
    engine.spawn(fill_to_time(engine, table, record, at, target.name))
    return {"TableDescription": (await engine.call("DescribeTable", {"TableName": target.name}))["Table"]}


async def fill_to_time(engine: Any, source: TableDef, record: dict[str, Any], at: float, target: str) -> None:
    """Write ``source`` as of ``at`` into the table ``target``, then mark it ACTIVE."""
    try:
        await materialize(engine, source, record, at, target)
        await restore.finish(engine, target)
    except Exception:
        log.exception("point-in-time restore into %s failed; the table stays CREATING", target)


async def _base_pages(engine: Any, base: str) -> AsyncIterator[list[tuple[bytes, bytes, bytes]]]:
    start: tuple[bytes, bytes] | None = None
    while page := await engine.storage.scan(base, segment=0, total_segments=1, start=start, limit=PAGE):
        yield page
        start = page[-1][0], page[-1][1]


async def materialize(engine: Any, source: TableDef, record: dict[str, Any], at: float, target: str) -> int:
    """Write ``source`` as of ``at`` (seconds) into the existing storage table ``target``; returns the log
    records applied."""
    settle = at + LOG_SETTLE_SECONDS - time.time()
    if settle > 0:  # until every change stamped up to ``at`` can be read from the log
        await asyncio.sleep(settle)
    end = await engine.storage.log_head(source.name)
    await restore.write_pages(engine.storage, target, _base_pages(engine, record["base"]))
    limit_ms = int(round(at * 1000))
    position, applied = record["head"], 0
    while position < end and (page := await engine.storage.read_log(source.name, position, PAGE)):
        changes: dict[tuple[bytes, bytes], bytes | None] = {}
        for seq, data in page:
            position = min(seq, end)
            if seq > end:
                break
            entry = orjson.loads(data)
            if entry["t"] > limit_ms:
                continue
            image = entry["n"] if entry["n"] is not None else entry["o"]
            if image is None:
                continue
            changes[source.key.key_of_item(image)] = None if entry["n"] is None else orjson.dumps(entry["n"])
            applied += 1
        if changes:
            refs = [KeyRef(target, pk, sk) for pk, sk in changes]
            values = list(changes.values())
            await engine.storage.transact(refs, lambda olds, values=values: values)
        await asyncio.sleep(0)
    return applied


async def advance_base(engine: Any, table: TableDef, record: dict[str, Any], to: float) -> dict[str, Any]:
    """Move the table's recovery base to time ``to``: a new hidden table holding the old base with the log's
    records applied in order up to the first one stamped after ``to``; the old base goes. Returns the record."""
    name = f"{_BASE_PREFIX}{int(to * 1000):014d}-{secrets.token_hex(4)}"
    await engine.storage.create_table(TableDef(name=name, key=table.key, attribute_definitions=(), created=to))
    await restore.write_pages(engine.storage, name, _base_pages(engine, record["base"]))
    limit_ms, position = int(round(to * 1000)), record["head"]
    done = False
    while not done and (page := await engine.storage.read_log(table.name, position, PAGE)):
        changes: dict[tuple[bytes, bytes], bytes | None] = {}
        for seq, data in page:
            entry = orjson.loads(data)
            if entry["t"] > limit_ms:
                done = True
                break
            position = seq
            image = entry["n"] if entry["n"] is not None else entry["o"]
            if image is not None:
                changes[table.key.key_of_item(image)] = None if entry["n"] is None else orjson.dumps(entry["n"])
        if changes:
            values = list(changes.values())
            await engine.storage.transact([KeyRef(name, pk, sk) for pk, sk in changes],
                                          lambda olds, values=values: values)
        await asyncio.sleep(0)
    current = await engine.meta.get(_key(table.name))
    if current is None or current.get("base") != record["base"]:  # disabled or moved meanwhile
        await engine.storage.delete_table(name)
        return record
    moved = {**current, "base": name, "head": position, "since": round(to, 3)}
    await engine.meta.put(_key(table.name), moved)
    with contextlib.suppress(TableMissing):
        await engine.storage.delete_table(record["base"])
    return moved


class PitrUpkeep:
    """Moves each table's recovery base forward as its window slides, so the log before the window can go."""

    SLACK = 3600.0
    """The base moves once it is this much older than the window's start (then to the window's start)."""

    def __init__(self, engine: Any, interval: float, clock: Any = time.time) -> None:
        self.engine = engine
        self.interval = interval
        self.clock = clock
        self.errors = 0

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.run_once()
            except Exception:  # the store is away or a bug: logged once a round, tried again next round
                self.errors += 1
                log.exception("point-in-time recovery upkeep failed")

    async def run_once(self) -> int:
        """One round; returns how many bases moved."""
        moved = 0
        for name in await self.engine.storage.list_tables():
            record = await self.engine.meta.get(_key(name))
            if not record or not record.get("ready"):
                continue
            start = self.clock() - record["days"] * 86400.0
            if record["since"] < start - self.SLACK:
                table = await self.engine.tables.get(name)
                await advance_base(self.engine, table, record, start)
                moved += 1
            await asyncio.sleep(0)
        return moved


HANDLERS = {"UpdateContinuousBackups": update_continuous_backups,
            "DescribeContinuousBackups": describe_continuous_backups,
            "RestoreTableToPointInTime": restore_table_to_point_in_time}
