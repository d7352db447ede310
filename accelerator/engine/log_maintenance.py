"""Background upkeep of the change logs: roll over streams' shards and trim records past their retention.

Every ``interval`` seconds, for every table (and every deleted table whose streams are kept: see
``accelerator.engine.stream_state``, they expire here): roll the enabled stream's open shard if it is due, then find the
first record younger than the table's retention (24 hours, DynamoDB Streams' window, or the point-in-time
recovery period if a ``pitr:<table>`` meta record with ``"log": true`` names a longer one in ``"days"``, and
never a record after that record's recovery base, ``"since"``, which ``accelerator.engine.pitr`` moves on), record that sequence as the trim point (readers before it get
TrimmedDataAccessException) and delete the older records page by page. Each page is one storage call and
the loop gets a turn after each, so a long log never holds it; an error ends the round, is logged once and
counted, and the next round tries again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import orjson

from accelerator.engine.indexed_storage import IndexedStorage
from accelerator.engine.periodic import Periodic, RunsPeriodically
from accelerator.engine.stream_state import META_TABLE, StreamState

__all__ = ["LogMaintenance", "STREAM_RETENTION"]

log = logging.getLogger("accelerator.changelog")

STREAM_RETENTION = 24 * 3600.0
_PAGE = 256


class LogMaintenance(RunsPeriodically):
    """The roll-over and trim task; ``run_once`` is one round (tests call it directly)."""

    def __init__(self, storage: IndexedStorage, state: StreamState, interval: float,
                 clock: Callable[[], float] = time.time) -> None:
        self.storage = storage
        self.state = state
        self.interval = interval
        self.clock = clock
        self.trimmed = 0
        self.job = Periodic("change log upkeep", interval, self.run_once)

    async def run_once(self) -> int:
        """One round over every table and every deleted table whose streams are kept; returns how many
        records were trimmed."""
        gone = 0
        tables = set(await self.storage.list_tables())
        retired = set(await self.state.retired())
        for table in sorted(tables | retired):
            if table in tables:
                await self.state.roll(table, self.clock())
            gone += await self.trim(table)
            if table in retired:  # its deleted streams expire after 24 hours, and then its log goes
                await self.state.expire(table, self.clock(), table in tables)
            await asyncio.sleep(0)
        self.trimmed += gone
        return gone

    async def retention(self, table: str) -> float:
        data = await self.storage.get(META_TABLE, f"pitr:{table}".encode(), b"")
        pitr = orjson.loads(data) if data is not None else {}
        days = float(pitr.get("days", 0)) if pitr.get("log") is True else 0.0
        keep = max(STREAM_RETENTION, days * 86400.0)
        if pitr.get("log") is True and pitr.get("since"):  # the recovery base replays every record after it
            keep = max(keep, self.clock() - float(pitr["since"]) + 60.0)
        return keep

    async def trim(self, table: str) -> int:
        """Trim ``table``'s log to its retention; returns how many records went."""
        cutoff_ms = int((self.clock() - await self.retention(table)) * 1000)
        bounds: list[int] = []  # page ends, all older than the cutoff: the delete steps
        after = 0
        first_kept: int | None = None
        oldest: int | None = None
        while first_kept is None:
            page = await self.storage.read_log(table, after, _PAGE)
            if not page:
                break
            if oldest is None:
                oldest = page[0][0]
            for seq, data in page:
                if orjson.loads(data)["t"] >= cutoff_ms:
                    first_kept = seq
                    break
            else:
                after = page[-1][0]
                bounds.append(after + 1)
            await asyncio.sleep(0)
        if first_kept is None:
            if not bounds:
                return 0  # an empty log
            first_kept = bounds[-1]
        if first_kept == oldest:
            return 0  # the oldest record is young enough: nothing to trim
        await self.state.set_trimmed(table, first_kept)
        gone = 0
        for bound in [*bounds, first_kept]:
            gone += await self.storage.trim_log(table, bound)
            await asyncio.sleep(0)
        return gone
