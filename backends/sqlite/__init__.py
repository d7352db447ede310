"""SQLite storage: one WAL file; reads inline on the event loop (``storage``), writes on one thread with group
commit (``writer``)."""

from backends.sqlite.storage import SYNCHRONOUS_MODES, SqliteStorage

__all__ = ["SqliteStorage", "SYNCHRONOUS_MODES"]
