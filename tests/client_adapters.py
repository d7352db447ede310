"""Run the asyncio client through blocking calls, so one test body can exercise boto3, the sync client and
the async client alike."""

from __future__ import annotations

import asyncio
import inspect
import threading
from typing import Any

from accelerator.client.aio import AsyncAcceleratorClient
from accelerator.client.paginate import AsyncPaginator
from accelerator.client.table import AsyncBatchWriter, AsyncTable
from accelerator.client.waiters import AsyncWaiter

_WRAP = (AsyncTable, AsyncPaginator, AsyncBatchWriter, AsyncWaiter)


async def _collect(aiter: Any) -> list[Any]:
    return [x async for x in aiter]


class LoopThread:
    """An event loop running in a thread of its own, so blocking calls may come from several threads at once
    (a test writing from threads while another call runs), as they may with the sync client."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="async-client-loop", daemon=True)
        self._thread.start()

    def run(self, awaitable: Any) -> Any:
        async def wrapped() -> Any:
            return await awaitable

        return asyncio.run_coroutine_threadsafe(wrapped(), self.loop).result()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()


class Blocking:
    """Every coroutine method of the wrapped object runs to completion on ``loop``'s thread."""

    def __init__(self, obj: Any, loop: LoopThread) -> None:
        self._obj = obj
        self._loop = loop

    def _result(self, value: Any) -> Any:
        if inspect.isawaitable(value):
            value = self._loop.run(value)
        if hasattr(value, "__aiter__"):
            return self._loop.run(_collect(value))
        return Blocking(value, self._loop) if isinstance(value, _WRAP) else value

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._obj, name)
        if not callable(attr) or isinstance(attr, type):
            return attr
        return lambda *args, **kwargs: self._result(attr(*args, **kwargs))

    def __enter__(self) -> Blocking:
        self._loop.run(self._obj.__aenter__())
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._loop.run(self._obj.__aexit__(*exc_info))


def blocking_async_client(url: str, **kwargs: Any) -> tuple[Blocking, LoopThread]:
    """An AsyncAcceleratorClient behind blocking calls, and the loop (in its thread) to close after use."""
    loop = LoopThread()
    client = loop.run(_construct(url, kwargs))
    return Blocking(client, loop), loop


async def _construct(url: str, kwargs: dict[str, Any]) -> AsyncAcceleratorClient:
    return AsyncAcceleratorClient(url, **kwargs)  # built on its loop: transports bind to the running loop
