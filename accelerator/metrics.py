"""Request metrics for ``/metrics``, rendered by ``prometheus_client`` at scrape time.

The request path only bumps plain ints in dicts (no library object, lock or label lookup per request);
a custom collector turns them into typed families when Prometheus scrapes, so counters are typed as
counters, label values are escaped by the library and a scrape costs nothing between scrapes.
"""

from __future__ import annotations

import bisect
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Literal

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from accelerator.core import guard
from accelerator.core.protocols import Request, Response, Store

__all__ = ["Metrics", "LATENCY_BUCKETS", "CONTENT_TYPE", "TimedStore"]

LATENCY_BUCKETS = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
CONTENT_TYPE = CONTENT_TYPE_LATEST.encode()

Kind = Literal["counter", "gauge"]
# A reader returns one value, or values by label tuple (with the label names given at registration).
Reading = float | Mapping[tuple[str, ...], float]


class _Histogram:
    __slots__ = ("counts", "total", "count")

    def __init__(self) -> None:
        self.counts = [0] * (len(LATENCY_BUCKETS) + 1)
        self.total = 0.0
        self.count = 0

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self.total += seconds
        self.count += 1


class _Reader:
    __slots__ = ("name", "kind", "doc", "labels", "read")

    def __init__(self, name: str, kind: Kind, doc: str, labels: Sequence[str], read: Callable[[], Reading]) -> None:
        self.name, self.kind, self.doc, self.labels, self.read = name, kind, doc, tuple(labels), read


class Metrics:
    """Request counts, error counts and latency per operation and cache outcome, plus values read at scrape."""

    def __init__(self) -> None:
        self.requests: dict[str, int] = defaultdict(int)
        self.errors: dict[tuple[str, str], int] = defaultdict(int)
        self.latency: dict[tuple[str, str], _Histogram] = {}
        self.store_latency: dict[str, _Histogram] = {}
        self.readers: dict[str, _Reader] = {}
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_Collector(self))
        self.counter("accelerator_swallowed_errors", lambda: {(site,): n for site, n in guard.FAILURES.items()},
                     "Failures after a commit or in background work that were logged and not raised, by site",
                     ["site"])

    def observe(self, operation: str, cache: str, seconds: float) -> None:
        self.requests[operation] += 1
        key = (operation, cache)
        hist = self.latency.get(key)
        if hist is None:
            hist = self.latency[key] = _Histogram()
        hist.observe(seconds)

    def observe_store(self, operation: str, seconds: float) -> None:
        hist = self.store_latency.get(operation)
        if hist is None:
            hist = self.store_latency[operation] = _Histogram()
        hist.observe(seconds)

    def error(self, operation: str, error_type: str) -> None:
        self.errors[(operation, error_type)] += 1

    def counter(self, name: str, read: Callable[[], Reading], doc: str = "", labels: Sequence[str] = ()) -> None:
        """Register a monotonic count read at scrape time (exported as ``<name>_total``)."""
        self.readers[name] = _Reader(name, "counter", doc or name, labels, read)

    def gauge(self, name: str, read: Callable[[], Reading], doc: str = "", labels: Sequence[str] = ()) -> None:
        """Register a value that goes up and down (sizes, entries), read at scrape time."""
        self.readers[name] = _Reader(name, "gauge", doc or name, labels, read)

    def labelled_counter(self, name: str, labels: Sequence[str], doc: str = "") -> dict[tuple[str, ...], int]:
        """A counter by label values that the caller bumps itself: ``c[(table, reason)] += 1``."""
        values: dict[tuple[str, ...], int] = defaultdict(int)
        self.counter(name, lambda: values, doc, labels)
        return values

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _Collector(Collector):
    def __init__(self, metrics: Metrics) -> None:
        self.m = metrics

    def collect(self) -> Iterator[Metric]:
        m = self.m
        requests = CounterMetricFamily("accelerator_requests", "Requests by operation", labels=["operation"])
        for op, n in sorted(m.requests.items()):
            requests.add_metric([op], n)
        yield requests
        errors = CounterMetricFamily("accelerator_errors", "Error answers by operation and DynamoDB error type",
                                     labels=["operation", "type"])
        for (op, kind), n in sorted(m.errors.items()):
            errors.add_metric([op, kind], n)
        yield errors
        latency = HistogramMetricFamily("accelerator_request_seconds", "Request latency in the server",
                                        labels=["operation", "cache"])
        for (op, cache), hist in sorted(m.latency.items()):
            latency.add_metric([op, cache or "none"], _buckets(hist), hist.total)
        yield latency
        store = HistogramMetricFamily("accelerator_store_seconds", "Time in the store beneath the cache (engine and "
                                      "backend, or the DynamoDB upstream): misses and writes", labels=["operation"])
        for op, hist in sorted(m.store_latency.items()):
            store.add_metric([op], _buckets(hist), hist.total)
        yield store
        for reader in m.readers.values():
            yield _family(reader)


def _family(reader: _Reader) -> Metric:
    cls = CounterMetricFamily if reader.kind == "counter" else GaugeMetricFamily
    value = reader.read()
    if isinstance(value, Mapping):
        family = cls(reader.name, reader.doc, labels=list(reader.labels))
        for labels, v in sorted(value.items()):
            family.add_metric(list(labels), v)
        return family
    return cls(reader.name, reader.doc, value=float(value))


def _buckets(hist: _Histogram) -> list[tuple[str, float]]:
    running, out = 0, []
    for bound, n in zip(LATENCY_BUCKETS, hist.counts, strict=False):
        running += n
        out.append((repr(bound), float(running)))
    out.append(("+Inf", float(hist.count)))
    return out


class TimedStore:
    """The store beneath the cache, timed per operation (a cache hit never reaches it, so hits pay nothing)."""

    def __init__(self, store: Store, metrics: Metrics) -> None:
        self.store = store
        self.metrics = metrics

    async def open(self) -> None:
        await self.store.open()

    async def close(self) -> None:
        await self.store.close()

    async def call(self, operation: str, request: Request) -> Response:
        started = time.perf_counter()
        try:
            return await self.store.call(operation, request)
        finally:
            self.metrics.observe_store(operation, time.perf_counter() - started)

    def __getattr__(self, name: str) -> Any:  # engine- or upstream-specific extras (admin hooks, table forgetting)
        return getattr(self.store, name)
