"""ExportTableToPointInTime, DescribeExport, ListExports: a table to a local directory in DynamoDB's layout.

As DynamoDB does, an export needs point-in-time recovery on the table. Without ExportTime it reads a
consistent view of the table as of the request; with one, the table as of that time is first rebuilt from
the recovery base and the change log into a hidden table. Items stream from the view to gzip'd files a page
at a time (file writes off the loop), never the whole table in memory; the record's ItemCount grows as it
goes (``accelerator export`` draws its progress bar from it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from accelerator.core.errors import (
    ExportConflictException,
    ExportNotFoundException,
    InvalidExportTimeException,
    PointInTimeRecoveryUnavailableException,
    TableMissing,
    ValidationException,
)
from accelerator.core.protocols import Request, Response
from accelerator.core.tables import TableDef
from accelerator.engine import pitr
from accelerator.engine.backups import source_description, table_named
from accelerator.engine.export_files import DataFiles, export_prefix, write_manifests
from accelerator.engine.job_arns import check_job_arn
from accelerator.engine.locations import FILE_URL, bucket_dir, check_bucket
from accelerator.engine.snapshot import Snapshot, open_view, pages

__all__ = ["HANDLERS", "CATALOG", "iso"]

log = logging.getLogger("accelerator.exports")

CATALOG = "!exports"
_PROGRESS_SECONDS = 2.0  # between two progress updates of the export's record (its ItemCount and beat)
_STALE_SECONDS = 60.0  # an export IN_PROGRESS with no beat for this long was cut off by a restart
_FIELDS = ("ExportArn", "ExportStatus", "StartTime", "EndTime", "ExportManifest", "TableArn", "TableId",
           "ExportTime", "ClientToken", "S3Bucket", "S3BucketOwner", "S3Prefix", "S3SseAlgorithm", "S3SseKmsKeyId",
           "FailureCode", "FailureMessage", "ExportFormat", "BilledSizeBytes", "ItemCount", "ExportType")
_SAME_REQUEST = ("TableArn", "ExportTime", "S3Bucket", "S3Prefix", "ExportFormat", "ExportType")


def iso(seconds: float) -> str:
    """A manifest timestamp: 2020-11-04T07:28:34.028Z."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(seconds * 1000) % 1000:03d}Z"


def _fingerprint(req: Request) -> dict[str, Any]:
    """What a retry with the same ClientToken must repeat (anything else is a conflict)."""
    return {m: req.get(m) for m in _SAME_REQUEST}


def _check(req: Request) -> None:
    check_bucket(req["S3Bucket"], "s3Bucket")
    if req.get("ExportFormat", "DYNAMODB_JSON") != "DYNAMODB_JSON":
        raise ValidationException("ExportFormat ION is not supported by this server; use DYNAMODB_JSON")
    if req.get("ExportType", "FULL_EXPORT") != "FULL_EXPORT":
        raise ValidationException("ExportType INCREMENTAL_EXPORT is not supported by this server; use FULL_EXPORT")


async def export_table(engine: Any, req: Request) -> Response:
    _check(req)
    table = await table_named(engine, req["TableArn"])
    token = req.get("ClientToken")
    if token is not None:
        earlier = [r for r in await engine.exports.all() if r.get("ClientToken") == token]
        if earlier:
            if earlier[0].get("request") != _fingerprint(req):
                raise ExportConflictException("Duplicate request detected with conflicting parameters")
            return {"ExportDescription": _public(earlier[0])}
    record = await pitr.enabled(engine, table)
    if record is None:
        raise PointInTimeRecoveryUnavailableException(
            f"Point in time recovery is not enabled for table '{table.name}'")
    now = time.time()
    at = req.get("ExportTime")
    if at is not None:
        span = pitr.window(record, now)
        if at > now:
            raise InvalidExportTimeException("Export time cannot be in the future")
        if span is None or at < span[0]:
            raise InvalidExportTimeException("Export time must be within the point in time recovery window")
    source = await source_description(engine, table)
    started = round(now, 3)
    export_id = f"{int(started * 1000):014d}-{secrets.token_hex(4)}"
    prefix = export_prefix(req.get("S3Prefix"), export_id)
    export = {
        "ExportArn": f"{source['TableArn']}/export/{export_id}", "ExportStatus": "IN_PROGRESS",
        "StartTime": started, "TableArn": source["TableArn"], "TableId": source["TableId"],
        "ExportTime": round(at if at is not None else now, 3), "S3Bucket": req["S3Bucket"],
        "S3SseAlgorithm": req.get("S3SseAlgorithm", "AES256"), "ExportFormat": "DYNAMODB_JSON",
        "ExportType": "FULL_EXPORT", "ItemCount": 0, "BilledSizeBytes": 0, "prefix": prefix,
        "request": _fingerprint(req), "beat": started,
    }
    for member in ("ClientToken", "S3BucketOwner", "S3Prefix", "S3SseKmsKeyId"):
        if member in req:
            export[member] = req[member]
    directory = bucket_dir(engine.export_root, req["S3Bucket"]) / prefix
    view = await open_view(engine.storage, table) if at is None else None
    await engine.exports.put(export["ExportArn"], export)
    engine.spawn(_run(engine, table, record, export, directory, view))
    return {"ExportDescription": _public(export)}


async def _rebuilt(engine: Any, table: TableDef, record: dict[str, Any], at: float) -> tuple[Snapshot, str]:
    """The table as of ``at`` in a hidden table, and a view of it."""
    name = f"!exporttmp!{secrets.token_hex(8)}"
    await engine.storage.create_table(TableDef(name=name, key=table.key, attribute_definitions=(), created=at))
    await pitr.materialize(engine, table, record, at, name)
    return await open_view(engine.storage, TableDef(name=name, key=table.key, attribute_definitions=(),
                                                    created=at)), name


async def _beat(engine: Any, state: dict[str, Any]) -> None:
    """Write the export's record (its progress so far) every couple of seconds while it runs: see _settled."""
    while True:
        await asyncio.sleep(_PROGRESS_SECONDS)
        state["beat"] = time.time()
        try:
            await engine.exports.put(state["ExportArn"], dict(state))
        except Exception:  # the store is away for a moment: the next beat tries again
            log.warning("could not record the progress of export %s", state["ExportArn"], exc_info=True)


async def _run(engine: Any, table: TableDef, record: dict[str, Any], export: dict[str, Any], directory: Path,
               view: Snapshot | None) -> None:
    scratch = None
    state = dict(export)  # ItemCount / BilledSizeBytes grow here; _beat records them
    beat = asyncio.ensure_future(_beat(engine, state))
    try:
        bucket = export["S3Bucket"]
        if not bucket.startswith(FILE_URL) and not await asyncio.to_thread(
                bucket_dir(engine.export_root, bucket).is_dir):
            # As in S3, a bucket is made before anything is written to it: DynamoDB accepts the request, then fails.
            state.update(ExportStatus="FAILED", EndTime=round(time.time(), 3), FailureCode="S3NoSuchBucket",
                         FailureMessage="The specified bucket does not exist")
            return
        if view is None:
            view, scratch = await _rebuilt(engine, table, record, export["ExportTime"])
        files = DataFiles(directory, export["prefix"])
        await asyncio.to_thread(files.start)
        async for page in pages(view):
            values = [value for _, _, value in page]
            await asyncio.to_thread(files.write, values)
            state["ItemCount"] += len(values)
            state["BilledSizeBytes"] += sum(len(v) for v in values)
        entries = await asyncio.to_thread(files.finish)
        ended = round(time.time(), 3)
        summary = {
            "version": "2020-06-30", "exportArn": export["ExportArn"], "startTime": iso(export["StartTime"]),
            "endTime": iso(ended), "tableArn": export["TableArn"], "tableId": export["TableId"],
            "exportTime": iso(export["ExportTime"]), "s3Bucket": export["S3Bucket"],
            "s3Prefix": export.get("S3Prefix"), "s3SseAlgorithm": export["S3SseAlgorithm"],
            "s3SseKmsKeyId": export.get("S3SseKmsKeyId"),
            "manifestFilesS3Key": f"{export['prefix']}/manifest-files.json",
            "billedSizeBytes": state["BilledSizeBytes"], "itemCount": state["ItemCount"],
            "outputFormat": "DYNAMODB_JSON", "exportType": "FULL_EXPORT",
        }
        await asyncio.to_thread(write_manifests, directory, entries, summary)
        state.update(ExportStatus="COMPLETED", EndTime=ended, ExportManifest=f"{export['prefix']}/manifest-summary.json")
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        log.exception("export %s failed", export["ExportArn"])
        state.update(ExportStatus="FAILED", EndTime=round(time.time(), 3), FailureCode="UNKNOWN",
                     FailureMessage=f"{type(exc).__name__}: {exc}")
    finally:
        beat.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beat
        if state["ExportStatus"] != "IN_PROGRESS":
            await engine.exports.put(export["ExportArn"], state)
        if view is not None:
            await view.close()
        if scratch is not None:
            with contextlib.suppress(TableMissing):
                await engine.storage.delete_table(scratch)


def _public(export: dict[str, Any]) -> dict[str, Any]:
    return {k: export[k] for k in _FIELDS if export.get(k) is not None}


async def _settled(engine: Any, export: dict[str, Any]) -> dict[str, Any]:
    """An export whose process stopped mid-way (no progress for a minute) is FAILED, as it will not end."""
    if export["ExportStatus"] == "IN_PROGRESS" and time.time() - export.get("beat", export["StartTime"]) > _STALE_SECONDS:
        export = {**export, "ExportStatus": "FAILED", "EndTime": round(time.time(), 3), "FailureCode": "UNKNOWN",
                  "FailureMessage": "The server stopped while the export was being written"}
        await engine.exports.put(export["ExportArn"], export)
    return export


async def describe_export(engine: Any, req: Request) -> Response:
    check_job_arn(req["ExportArn"], "export")
    export = await engine.exports.get(req["ExportArn"])
    if export is None:
        raise ExportNotFoundException(f"Export not found: {req['ExportArn']}")
    export = await _settled(engine, export)
    return {"ExportDescription": _public(export)}


async def list_exports(engine: Any, req: Request) -> Response:
    exports = sorted([await _settled(engine, e) for e in await engine.exports.all()],
                     key=lambda e: (e["StartTime"], e["ExportArn"]))
    if "TableArn" in req:
        exports = [e for e in exports if e["TableArn"] == req["TableArn"]]
    token = req.get("NextToken")
    if token is not None:
        arns = [e["ExportArn"] for e in exports]
        if token not in arns:
            raise ValidationException("Invalid NextToken")
        exports = exports[arns.index(token) + 1:]
    limit = req.get("MaxResults", 25)
    response: Response = {"ExportSummaries": [
        {"ExportArn": e["ExportArn"], "ExportStatus": e["ExportStatus"], "ExportType": e["ExportType"]}
        for e in exports[:limit]]}
    if len(exports) > limit:
        response["NextToken"] = exports[limit - 1]["ExportArn"]
    return response


HANDLERS = {"ExportTableToPointInTime": export_table, "DescribeExport": describe_export, "ListExports": list_exports}
