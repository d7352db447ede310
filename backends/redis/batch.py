"""Group commit for Redis: concurrent one-slot units share their two round trips.

A unit on its own costs a read pipeline and a WRITE script call (compare-and-write). Units waiting while
``batch_slots`` batches are in flight are taken together (backends.group_commit): one pipeline reads every
unit's keys, each ``apply`` runs, one pipeline carries every unit's WRITE call. Each call still checks its own
unit's values, so a unit whose keys moved meanwhile (another process wrote them) fails alone and is run again
on its own, with the usual retries and lock waits; the others are done.

A blind unit (``Blind``: an unconditional put or delete, on standalone Redis) is not read at all: its WRITE
call compares nothing and hands back the values it replaced, so a batch of only blind units is one round trip.
On a cluster the read also finds a dropped table (the script cannot see the tables hash there), so units
are always read.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from accelerator.core.errors import TableMissing
from accelerator.core.protocols import Blind
from backends import check_new_values, split_logged
from backends.group_commit import Unit
from backends.redis.layout import Plan

if TYPE_CHECKING:
    from backends.redis.storage import RedisStorage

__all__ = ["run_batch"]

Outcome = list[bytes | None] | BaseException


async def run_batch(storage: RedisStorage, batch: list[Unit]) -> list[Outcome]:
    """Each unit's old values, or its error; units whose compare failed are retried on their own."""
    plans = [storage.layout.plan(unit.refs) for unit in batch]
    outcomes: list[Outcome | None] = [None] * len(batch)
    again: list[int] = []
    blind = [not storage.clustered and isinstance(unit.apply, Blind) for unit in batch]
    async with storage.local.hold([ref for unit in batch for ref in unit.refs]), storage.driver.session():
        read = [i for i, b in enumerate(blind) if not b]
        olds: list[list[bytes | None] | BaseException | None] = [None] * len(batch)
        if read:
            for i, values in zip(read, await _read_many(storage, [plans[i] for i in read]), strict=True):
                olds[i] = values
        calls: list[Any] = []
        staged: list[tuple[int, Plan, list[bytes | None] | None, int]] = []
        for i, (unit, plan, old) in enumerate(zip(batch, plans, olds, strict=True)):
            if isinstance(old, BaseException):
                outcomes[i] = old
                continue
            try:
                new, records = split_logged(plan.refs, check_new_values(
                    plan.refs, unit.apply(list(old) if old is not None else [None] * len(plan.refs))))
            except Exception as exc:  # noqa: BLE001 - apply may raise anything; it belongs to its caller
                outcomes[i] = exc
                continue
            if records and storage.clustered:
                await storage.register_logs(records)
            staged.append((i, plan, old, len(calls)))
            calls += storage.write_calls(plan, old, new, records, b"")
        results = await storage.driver.eval_many(calls) if calls else []
        for i, plan, old, at in staged:
            result = results[at]
            if result[0] == b"ok":
                if old is None:  # blind: the script handed back what it replaced, after its status
                    count = len(plan.refs)
                    outcomes[i] = list(result[1:1 + count])
                    result = [result[0], *result[1 + count:]]
                else:
                    outcomes[i] = old
                await storage.index.sync(plan, [result])
            elif result[0] == b"missing":
                outcomes[i] = TableMissing(result[1].decode())
            else:  # a conflict, or a partition locked by a cross-slot unit
                storage.stats["batch_retries"] += 1
                again.append(i)
    for i in again:
        try:
            outcomes[i] = await storage.transact_alone(plans[i], batch[i].apply)
        except Exception as exc:  # noqa: BLE001 - the unit's own outcome
            outcomes[i] = exc
    return [outcome if outcome is not None else AssertionError("unit without outcome") for outcome in outcomes]


async def _read_many(storage: RedisStorage, plans: list[Plan]) -> list[list[bytes | None] | BaseException]:
    """Every unit's current values in one pipeline; TableMissing for a unit whose table is gone."""
    names = sorted({ref.table for plan in plans for ref in plan.refs})
    commands: list[tuple[bytes, ...]] = [(b"HMGET", storage.layout.tables, *[name.encode() for name in names])]
    for plan in plans:
        commands += [(b"HGET", part.hash, ref.sk) for ref, part in zip(plan.refs, plan.ref_parts, strict=True)]
    found, *values = await storage.driver.commands(commands)
    missing = {name for name, definition in zip(names, found, strict=True) if definition is None}
    out: list[list[bytes | None] | BaseException] = []
    at = 0
    for plan in plans:
        n = len(plan.refs)
        gone = next((ref.table for ref in plan.refs if ref.table in missing), None)
        out.append(TableMissing(gone) if gone is not None else list(values[at:at + n]))
        at += n
    return out
