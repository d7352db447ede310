"""Generation counters shared by the worker processes of one machine: coherence with no message on a hit.

One anonymous shared mapping of 64-bit counters, made by the supervisor before it forks its workers
(so every worker, a restarted one too, maps the same memory). A counter is found by a hash:

- an *item* counter per (table, pk, sk), a *partition* counter per (table, pk) and a *table* counter
  per table, in one big region: every write bumps its key's three counters before it goes to the
  store and again before it is acknowledged;
- an *epoch* counter per table, in a small region: bumped when a whole table's entries must go
  (a flush, a schema change, a write whose keys are unknown); a flush of everything bumps them all.

A cached entry carries a *stamp*: the (slot, value) of its own counter and of its table's epoch, read
before the store was asked. A hit compares the stamp with the counters (two reads of shared memory, no
lock, no system call); any bump since, on any worker, makes the entry stale and the read goes to the
store. Hashes collide, which only ever costs an extra miss. Bumps take a lock so no increment is
lost (a lost one could bring a counter back to a value some stamp holds); reads need none, as aligned
8-byte loads are atomic on the platforms we run on. The lock is a POSIX record lock (``lockf``) on an
unlinked file: the kernel releases it when its holder dies, so a worker killed mid-bump cannot stall
the others' writes (a semaphore would stay taken); uncontended it costs what a process-shared
semaphore does (~2 µs a lock and unlock on the 2-vCPU VM).
"""

from __future__ import annotations

import contextlib
import fcntl
import mmap
import tempfile
import zlib
from collections.abc import Iterator

__all__ = ["SharedGenerations", "Stamp"]

Stamp = tuple[int, int, int, int]
"""(counter slot, its value, epoch slot, its value) noted before the store was read."""

_PARTITION_SALT = 0x9E3779B9
_TABLE_SALT = 0x85EBCA6B


class SharedGenerations:
    """Counters in memory shared with forked children; bump under a lock, read without one."""

    def __init__(self, slots: int = 1 << 20, epochs: int = 1 << 12) -> None:
        self.slots = slots
        self.epochs = epochs
        self._map = mmap.mmap(-1, 8 * (epochs + slots))  # anonymous and MAP_SHARED: forked workers see it
        self.counters = memoryview(self._map).cast("Q")
        self._lock_file = tempfile.TemporaryFile()  # noqa: SIM115 - unlinked, lives with the counters; inherited

    # -- slots -----------------------------------------------------------------------------------
    def item_slot(self, table: str, pk: bytes, sk: bytes) -> int:
        return self.epochs + zlib.crc32(sk, zlib.crc32(pk, zlib.crc32(table.encode()))) % self.slots

    def partition_slot(self, table: str, pk: bytes) -> int:
        return self.epochs + zlib.crc32(pk, zlib.crc32(table.encode()) ^ _PARTITION_SALT) % self.slots

    def table_slot(self, table: str) -> int:
        return self.epochs + (zlib.crc32(table.encode()) ^ _TABLE_SALT) % self.slots

    def epoch_slot(self, table: str) -> int:
        return zlib.crc32(table.encode()) % self.epochs

    def write_slots(self, table: str, pk: bytes, sk: bytes) -> tuple[int, int, int]:
        """The counters a write of one key bumps: its item, its partition and its table (as the *_slot methods)."""
        seed, base, size = zlib.crc32(table.encode()), self.epochs, self.slots
        return (base + zlib.crc32(sk, zlib.crc32(pk, seed)) % size,
                base + zlib.crc32(pk, seed ^ _PARTITION_SALT) % size,
                base + (seed ^ _TABLE_SALT) % size)

    # -- counters --------------------------------------------------------------------------------
    def stamp(self, slot: int, epoch_slot: int) -> Stamp:
        counters = self.counters
        return slot, counters[slot], epoch_slot, counters[epoch_slot]

    def fresh(self, stamp: Stamp) -> bool:
        """Whether nothing bumped the stamp's counters since it was taken."""
        counters = self.counters
        return counters[stamp[0]] == stamp[1] and counters[stamp[2]] == stamp[3]

    def bump(self, slots: tuple[int, ...]) -> int:
        """Bump each slot once; returns the first slot's new value."""
        counters, fd = self.counters, self._lock_file.fileno()
        fcntl.lockf(fd, fcntl.LOCK_EX)  # inline, not _locked(): a generator context costs as much as the lock
        try:
            for slot in slots:
                counters[slot] = (counters[slot] + 1) & 0xFFFFFFFFFFFFFFFF
            return int(counters[slots[0]])
        finally:
            fcntl.lockf(fd, fcntl.LOCK_UN)

    def epoch(self, table: str) -> int:
        """A table's epoch now (it moves on flushes, schema changes and writes with unknown keys)."""
        return int(self.counters[self.epoch_slot(table)])

    def bump_epoch(self, table: str | None) -> None:
        """A table's entries (every table's, for None) are stale on every worker from now on."""
        counters = self.counters
        with self._locked():
            for slot in range(self.epochs) if table is None else (self.epoch_slot(table),):
                counters[slot] = (counters[slot] + 1) & 0xFFFFFFFFFFFFFFFF

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        fd = self._lock_file.fileno()
        fcntl.lockf(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.lockf(fd, fcntl.LOCK_UN)
