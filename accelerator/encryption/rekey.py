"""``accelerator rekey``: seal every stored value again with the newest key, online, page by page.

Each value is re-sealed in its own atomic unit that re-reads it, so writes by running servers are never
lost; only values not already under the newest key are rewritten, so a rerun after an interruption
resumes cheaply. Change-log records are immutable: a key that still seals one stays listed (and needed)
until retention trims the record. At the end the canary's key list becomes the newest key, plus any key a
server started with meanwhile and any key a log record needs; the keys not listed may leave the key file.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from accelerator.core.errors import DynamoError, TableMissing
from accelerator.encryption.codec import sealed_key_id
from accelerator.encryption.storage import ENCRYPTION_TABLE, EncryptedStorage

__all__ = ["RekeyReport", "rekey"]

log = logging.getLogger("accelerator.encryption")

_PAGE = 256
_PROGRESS_SECONDS = 1.0


@dataclass(slots=True)
class RekeyReport:
    """What one rekey run did."""

    scanned: int = 0
    resealed: int = 0
    failed: int = 0
    tables: int = 0
    log_keys: dict[str, int] = field(default_factory=dict)  # older key id -> change-log records it seals


async def rekey(storage: EncryptedStorage, progress: Callable[[str], None], *,
                clock: Callable[[], float] = time.monotonic, page: int = _PAGE) -> RekeyReport:
    """Re-seal every value of every table (items, index entries, engine records) with the newest key."""
    newest = storage.ring.newest.hex()
    ids_at_start = list(storage.key_ids)
    report = RekeyReport()
    shown = clock()
    for table in sorted(await storage.inner.list_tables()):
        if table == ENCRYPTION_TABLE:
            continue
        report.tables += 1
        start: tuple[bytes, bytes] | None = None
        while True:
            try:
                rows = await storage.inner.scan(table, segment=0, total_segments=1, start=start, limit=page)
            except TableMissing:
                break  # dropped meanwhile: nothing left to seal
            if not rows:
                break
            for pk, sk, value in rows:
                report.scanned += 1
                if sealed_key_id(value) == storage.ring.newest:
                    continue
                try:
                    report.resealed += await storage.reseal(table, pk, sk)
                except TableMissing:
                    break
                except DynamoError:
                    report.failed += 1  # logged once by the storage; it opens with no key, so it stays as is
            start = rows[-1][0], rows[-1][1]
            if clock() - shown >= _PROGRESS_SECONDS:
                shown = clock()
                progress(f"{table}: {report.scanned} values scanned, {report.resealed} re-sealed")
            await asyncio.sleep(0)  # yield between pages: a rekey shares its loop politely
        if "!" not in table:  # item tables are the logged ones
            await _log_keys(storage, table, report)
    if report.failed:
        progress(f"{report.failed} values did not open with any key; the key list is left as it was")
        return report
    for ident, count in sorted(report.log_keys.items()):
        progress(f"key {ident} still seals {count} change-log records (immutable): keep it until they are trimmed")

    def listed(ids: list[str]) -> list[str]:
        # Keep the ids servers recorded while this ran (they started with another newest key: their values may
        # postdate the scan) and those log records need; drop the ones this run re-sealed.
        kept = [k for k in ids if k not in ids_at_start or k in report.log_keys]
        return [newest, *[k for k in kept if k != newest],
                *[k for k in report.log_keys if k not in kept and k != newest]]

    await storage.write_canary(listed)
    progress(f"done: {report.tables} tables, {report.scanned} values scanned, {report.resealed} re-sealed; "
             f"data is sealed with key {', '.join(storage.key_ids)}")
    return report


async def _log_keys(storage: EncryptedStorage, table: str, report: RekeyReport) -> None:
    """Count the table's change-log records sealed with a key other than the newest."""
    after = 0
    while True:
        try:
            rows = await storage.raw_log(table, after, _PAGE * 4)
        except TableMissing:
            return
        if not rows:
            return
        for _, record in rows:
            ident = sealed_key_id(record)
            if ident is not None and ident != storage.ring.newest:
                report.log_keys[ident.hex()] = report.log_keys.get(ident.hex(), 0) + 1
        after = rows[-1][0]
        await asyncio.sleep(0)
