"""Run the asyncio client through blocking calls, so one test body can exercise boto3, the sync client and
the async client alike."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

from accelerator.client.aio import AsyncAcceleratorClient
from accelerator.client.paginate import AsyncPaginator
from accelerator.client.table import AsyncBatchWriter, AsyncTable
from accelerator.client.waiters import AsyncWaiter

_WRAP = (AsyncTable, AsyncPaginator, AsyncBatchWriter, AsyncWaiter)


async def _collect(aiter: Any) -> list[Any]:
    return [x async for x in aiter]


class Blocking:
    """Every coroutine method of the wrapped object runs to completion on ``loop``."""

    def __init__(self, obj: Any, loop: asyncio.AbstractEventLoop) -> None:
        self._obj = obj
        self._loop = loop

    def _result(self, value: Any) -> Any:
        if inspect.isawaitable(value):
            value = self._loop.run_until_complete(value)
        if hasattr(value, "__aiter__"):
            return self._loop.run_until_complete(_collect(value))
        return Blocking(value, self._loop) if isinstance(value, _WRAP) else value

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._obj, name)
        if not callable(attr) or isinstance(attr, type):
            return attr
        return lambda *args, **kwargs: self._result(attr(*args, **kwargs))

    def __enter__(self) -> Blocking:
        self._loop.run_until_complete(self._obj.__aenter__())
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._loop.run_until_complete(self._obj.__aexit__(*exc_info))


def blocking_async_client(url: str, **kwargs: Any) -> tuple[Blocking, asyncio.AbstractEventLoop]:
    """An AsyncAcceleratorClient behind blocking calls, and the loop to close after use."""
    loop = asyncio.new_event_loop()
    return Blocking(AsyncAcceleratorClient(url, **kwargs), loop), loop
