"""Running inside an asyncio Task, which some driver code needs."""

from __future__ import annotations

import asyncio

__all__ = ["enter_task"]


async def enter_task() -> None:
    """If the caller is being stepped outside any Task, yield once so that it continues inside one.

    The server runs a request's coroutine eagerly (``coro.send``) until its first suspension and only
    then wraps it in a Task. ``asyncio.timeout`` -- used by asyncpg's ``pool.acquire(timeout=...)`` and
    by redis-py's blocking pool and socket reads -- raises "Timeout should be used inside a task" there.
    A bare yield hands the coroutine to that Task; inside one already, this costs one check.
    """
    if asyncio.current_task() is None:
        await asyncio.sleep(0)
