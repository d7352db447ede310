"""What one worker needs to know of its siblings, and admin routes that answer for all of them.

Every worker also serves its own routes on a Unix socket in the supervisor's run directory
(``worker-<i>.sock``). The public ``/metrics`` and ``/admin/cache...`` routes, on whichever worker the
kernel handed the connection to, ask every worker's socket and merge: metrics gain a ``worker`` label
(sum them with ``sum without (worker)``), cache statistics are summed (sizes and bounds too: the
machine's totals). A flush needs no fan-out for
coherence (it bumps the table's shared epoch, so every worker's entries of it are stale at once), but
goes to every worker so that each frees its memory and the answer counts every entry dropped.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from accelerator.cache.shared import SharedGenerations
from accelerator.routes import Reply, Route, Routes

__all__ = ["WorkerContext", "fanout_routes", "merge_stats", "merge_metrics", "socket_path"]

Handler = Callable[..., Awaitable[Reply]]
_JSON = b"application/json"
_TIMEOUT = 5.0


@dataclass(frozen=True, slots=True)
class WorkerContext:
    """One worker's place among its siblings: its index, how many there are, what they share."""

    index: int
    count: int
    shared: SharedGenerations
    run_dir: str
    ready: Callable[[], None]  # tells the supervisor this worker listens

    @property
    def identity(self) -> bytes:
        """The response header naming this worker."""
        return b"x-accelerator-worker: %d\r\n" % self.index


def socket_path(run_dir: str, index: int) -> str:
    return os.path.join(run_dir, f"worker-{index}.sock")


async def _request(path: str, method: bytes, url: bytes) -> tuple[int, bytes]:
    """``method url`` on a worker's Unix socket: (status, body); (0, b"") if it does not answer."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_unix_connection(path), _TIMEOUT)
    except (OSError, TimeoutError):
        return 0, b""
    try:
        writer.write(method + b" " + url + b" HTTP/1.1\r\nHost: worker\r\nContent-Length: 0\r\n"
                     b"Connection: close\r\n\r\n")
        data = await asyncio.wait_for(reader.read(-1), _TIMEOUT)
    except (OSError, TimeoutError):
        return 0, b""
    finally:
        writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    parts = head.split(b" ", 2)
    return (int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0), body


async def _all(ctx: WorkerContext, method: bytes, url: bytes) -> list[tuple[int, bytes]]:
    """Every worker's answer, by worker index (status 0: that worker did not answer)."""
    return list(await asyncio.gather(*(_request(socket_path(ctx.run_dir, i), method, url)
                                       for i in range(ctx.count))))


def merge_stats(docs: list[dict[str, Any]]) -> dict[str, Any]:
    """Sum numbers at every depth; lists become their sorted union; anything else keeps the first value."""
    out: dict[str, Any] = {}
    for doc in docs:
        for key, value in doc.items():
            if key not in out:
                out[key] = value
            elif isinstance(value, bool) or not isinstance(value, (int, float, dict, list)):
                continue
            elif isinstance(value, dict) and isinstance(out[key], dict):
                out[key] = merge_stats([out[key], value])
            elif isinstance(value, list) and isinstance(out[key], list):
                out[key] = sorted(set(out[key]) | set(value))
            elif isinstance(value, (int, float)) and isinstance(out[key], (int, float)):
                out[key] = out[key] + value
    return out


class _Merged(Collector):
    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        yield from self.families


def merge_metrics(pages: list[tuple[int, bytes]]) -> bytes:
    """One exposition from every worker's: each sample gains the label ``worker``."""
    families: dict[str, Metric] = {}
    for index, text in pages:
        for family in text_string_to_metric_families(text.decode()):
            merged = families.get(family.name)
            if merged is None:
                merged = families[family.name] = Metric(family.name, family.documentation, family.type, family.unit)
            for sample in family.samples:
                merged.add_sample(sample.name, {**sample.labels, "worker": str(index)}, sample.value,
                                  sample.timestamp, sample.exemplar)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Merged(list(families.values())))
    return generate_latest(registry)


def fanout_routes(ctx: WorkerContext, local: Routes, metrics_type: bytes) -> dict[tuple[bytes, bytes], Route]:
    """The public routes: ``local`` with /metrics and /admin/cache... answering for every worker.

    Each keeps its action name, so a signed request is authorised on the public listener as before; the
    workers' private sockets (in a directory only this user can enter) take the fanned-out calls unsigned.
    """
    routes = dict(local)

    async def metrics() -> Reply:
        answers = await _all(ctx, b"GET", b"/metrics")
        return 200, metrics_type, b"", merge_metrics([(i, body) for i, (status, body) in enumerate(answers)
                                                      if status == 200])

    def merged(method: bytes, path: bytes, indent: bool) -> Handler:
        async def handler(rest: bytes = b"") -> Reply:
            answers = await _all(ctx, method, path + rest)
            docs = [orjson.loads(body) for status, body in answers if status == 200]
            if not docs:
                status, body = answers[0]
                return status or 503, _JSON, b"", body
            doc = merge_stats(docs)
            doc["workers"] = {"count": ctx.count, "answered": len(docs)}
            return 200, _JSON, b"", orjson.dumps(doc, option=orjson.OPT_INDENT_2 if indent else 0) + b"\n"
        return handler

    for (method, path), (action, _) in local.items():
        if path == b"/metrics":
            routes[(method, path)] = (action, metrics)
        elif path.startswith(b"/admin/cache"):
            routes[(method, path)] = (action, merged(method, path, method == b"GET"))
    return routes
