"""The connection to Redis or Redis Cluster: opening it, calling the Lua scripts, translating driver errors.

Every driver error becomes ``BackendUnavailable``; the clients reconnect by themselves once the server is back,
and a script missing after a restart (NOSCRIPT) is sent again with EVAL.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

import redis
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import NoScriptError, RedisClusterException, RedisError

from accelerator.core.errors import BackendUnavailable
from backends.redis import scripts as lua
from backends.tasks import enter_task

try:  # the lean client parses with hiredis; without it every call goes through redis-py
    from backends.redis.resp import LeanClient, ReplyError, lean_address, pack_script_call
except ImportError:  # pragma: no cover - hiredis is in the redis extra
    LeanClient = None  # type: ignore[assignment,misc]

__all__ = ["DEFAULT_URL", "DRIVER_ERRORS", "driver_errors", "parse_node", "Driver"]

DEFAULT_URL = "redis://127.0.0.1:6379/0"
DRIVER_ERRORS = (RedisError, RedisClusterException, OSError, TimeoutError)
_DRIVER_DIRS = (os.path.dirname(redis.__file__), os.path.dirname(asyncio.__file__))


@contextlib.contextmanager
def driver_errors() -> Iterator[None]:
    try:
        yield
    except DRIVER_ERRORS as exc:
        raise BackendUnavailable(f"redis: {type(exc).__name__}: {exc}") from exc
    except (AttributeError, TypeError) as exc:
        # redis-py's asyncio connections can leak these when the peer closed a socket under them
        # (redis/redis-py#4287; seen here on a cluster pipeline while a node died): still the driver's
        # connection failure, so translated -- but only when raised inside redis-py or asyncio.
        if not _raised_in_driver(exc):
            raise
        raise BackendUnavailable(f"redis: connection lost ({type(exc).__name__}: {exc})") from exc


def _raised_in_driver(exc: BaseException) -> bool:
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and tb.tb_frame.f_code.co_filename.startswith(_DRIVER_DIRS)


def parse_node(node: str | Sequence[Any]) -> ClusterNode:
    if isinstance(node, str):
        host, _, port = node.rpartition(":")
        return ClusterNode(host or "127.0.0.1", int(port))
    host, port = tuple(node)
    return ClusterNode(str(host), int(port))


class Driver:
    """One client (a pool, or a cluster client with a pool per node) and the script calls over it."""

    def __init__(self, url: str, cluster_nodes: list[ClusterNode] | None, pool_size: int, socket_timeout: float,
                 connect_timeout: float, driver_retries: int) -> None:
        if pool_size < 1:
            raise ValueError("pool_size must be at least 1")
        self.url = url
        self.cluster_nodes = cluster_nodes
        self.pool_size = pool_size
        self.socket_timeout = socket_timeout
        self.connect_timeout = connect_timeout
        self.driver_retries = driver_retries
        self._client: Any = None
        self.lean: Any = None  # LeanClient for script calls on standalone Redis (see backends.redis.resp)
        # A cluster client raises instead of waiting when a node's connections run out: bound them here.
        self._slots = asyncio.Semaphore(pool_size)

    @property
    def clustered(self) -> bool:
        return self.cluster_nodes is not None

    @property
    def client(self) -> Any:
        if self._client is None:
            raise BackendUnavailable("redis: storage is not open")
        return self._client

    async def open(self) -> None:
        if self._client is not None:
            return
        await enter_task()
        retry = Retry(ExponentialBackoff(cap=0.1, base=0.01), self.driver_retries)
        common: dict[str, Any] = {
            "socket_timeout": self.socket_timeout,
            "socket_connect_timeout": self.connect_timeout,
            "retry": retry,
        }
        with driver_errors():
            if self.cluster_nodes is not None:
                client: Any = RedisCluster(startup_nodes=self.cluster_nodes, max_connections=self.pool_size, **common)
                try:
                    await client.initialize()
                except BaseException:
                    await client.aclose()
                    raise
            else:
                pool = BlockingConnectionPool.from_url(
                    self.url, max_connections=self.pool_size, timeout=self.socket_timeout, **common
                )
                client = Redis.from_pool(pool)
                try:
                    await client.ping()
                except BaseException:
                    await client.aclose()
                    raise
            self._client = client
            for script in lua.ALL:
                await client.script_load(script.text)
        address = lean_address(self.url) if LeanClient is not None and self.cluster_nodes is None else None
        if address is not None:
            host, port, username, password, db = address
            self.lean = LeanClient(host, port, username=username, password=password, db=db,
                                   timeout=self.socket_timeout, connect_timeout=self.connect_timeout)

    async def close(self) -> None:
        lean, self.lean = self.lean, None
        if lean is not None:
            lean.close()
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(*DRIVER_ERRORS):
                await client.aclose()

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[None]:
        """Every public storage call: inside a Task (see ``enter_task``) and, on a cluster, within the
        per-node connection limit."""
        await enter_task()
        if self.clustered:
            async with self._slots:
                yield
        else:
            yield

    async def eval(self, script: lua.Script, keys: Sequence[bytes], args: Sequence[Any]) -> Any:
        if self.lean is not None:
            return (await self._lean_many([(script, keys, args)]))[0]
        client = self.client
        with driver_errors():
            try:
                return await client.evalsha(script.sha, len(keys), *keys, *args)
            except NoScriptError:  # the server restarted or was flushed: EVAL caches it again
                return await client.eval(script.text, len(keys), *keys, *args)

    async def eval_many(self, calls: Sequence[tuple[lua.Script, Sequence[bytes], Sequence[Any]]]) -> list[Any]:
        """Several script calls in one pipeline (one round trip per node)."""
        if self.lean is not None:
            return await self._lean_many(calls)
        if len(calls) == 1:
            script, keys, args = calls[0]
            return [await self.eval(script, keys, args)]
        client = self.client
        with driver_errors():
            pipe = client.pipeline(transaction=False)
            for script, keys, args in calls:
                pipe.execute_command("EVALSHA", script.sha, len(keys), *keys, *args)
            results: list[Any] = await pipe.execute(raise_on_error=False)
            for n, result in enumerate(results):
                if isinstance(result, NoScriptError):  # that node restarted: only this call did not run
                    script, keys, args = calls[n]
                    results[n] = await client.eval(script.text, len(keys), *keys, *args)
                elif isinstance(result, Exception):
                    raise result
        return results

    async def commands(self, commands: Sequence[Sequence[Any]]) -> list[Any]:
        """Plain commands (no scripts) in one round trip, their raw replies in order; any error reply or
        driver error is BackendUnavailable. On a cluster each command goes to the node of its first key."""
        if self.lean is not None:
            try:
                replies = await self.lean.execute(commands)
            except OSError as exc:
                raise BackendUnavailable(f"redis: {type(exc).__name__}: {exc}") from exc
            for reply in replies:
                if isinstance(reply, ReplyError):
                    raise BackendUnavailable(f"redis: ResponseError: {reply}")
            return replies
        with driver_errors():
            pipe = self.client.pipeline(transaction=False)
            for name, *args in commands:  # redis-py routes (on a cluster) by the command's name as text
                pipe.execute_command(name.decode() if isinstance(name, bytes) else name, *args)
            return list(await pipe.execute())

    async def _lean_many(self, calls: Sequence[tuple[lua.Script, Sequence[bytes], Sequence[Any]]]) -> list[Any]:
        """``eval_many`` over the lean client: same results, same errors."""
        try:
            results = await self.lean.send(
                b"".join([pack_script_call(script.head, keys, args) for script, keys, args in calls]), len(calls))
            for n, result in enumerate(results):
                if isinstance(result, ReplyError):
                    if not result.noscript:
                        raise BackendUnavailable(f"redis: ResponseError: {result}")
                    script, keys, args = calls[n]  # that server restarted: only this call did not run
                    (results[n],) = await self.lean.execute([(b"EVAL", script.text, len(keys), *keys, *args)])
                    if isinstance(results[n], ReplyError):
                        raise BackendUnavailable(f"redis: ResponseError: {results[n]}")
        except OSError as exc:
            raise BackendUnavailable(f"redis: {type(exc).__name__}: {exc}") from exc
        return results
